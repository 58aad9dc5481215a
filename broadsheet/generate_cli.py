"""``broadsheet run``: submit a job and run it in this process with a progress display."""

from __future__ import annotations

import uuid
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from broadsheet import models
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.errors import BroadsheetError
from broadsheet.jobs.runner import run_job
from broadsheet.jobs.service import JobService
from broadsheet.kit.gc import freeze_startup_objects
from broadsheet.runtime import Runtime

CLI_USER = "Broadsheet CLI"


def find_report(session: Any, tenant_id: uuid.UUID, ref: str) -> models.ReportDefinition:
    query = select(models.ReportDefinition).where(models.ReportDefinition.tenant_id == tenant_id)
    try:
        found = session.scalars(query.where(models.ReportDefinition.id == uuid.UUID(ref))).all()
    except ValueError:
        found = session.scalars(query.where(models.ReportDefinition.name == ref)).all()
    if len(found) != 1:
        problem = "no report" if not found else f"{len(found)} reports"
        raise BroadsheetError(f"{problem} called {ref!r}; use its id")
    return found[0]  # type: ignore[no-any-return]


def run_report(
    settings: Settings, tenant: str, ref: str, values: dict[str, str], console: Console
) -> int:
    runtime = Runtime.build(settings)
    freeze_startup_objects()
    try:
        with session_scope(runtime.sessions) as session:
            caller = auth.system_principal(session, tenant, CLI_USER)
            report = find_report(session, caller.tenant_id, ref)
            job = JobService(session, settings).submit(caller, report.id, values)
            job_id, name, status = job.id, report.name, job.status
    except BroadsheetError as exc:
        for line in [f"{e['field']}: {e['message']}" for e in exc.errors or []] or [exc.detail]:
            console.print(f"[red]error:[/red] {line}", soft_wrap=True)
        return 1
    try:
        if status == models.JobStatus.queued:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed:,.0f} rows"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task(f"generating {name}", total=None)
                run_job(job_id, runtime, on_progress=lambda rows: bar.update(task, completed=rows))
        return _report_outcome(runtime, job_id, console)
    finally:
        runtime.engine.dispose()


def _report_outcome(runtime: Runtime, job_id: uuid.UUID, console: Console) -> int:
    with session_scope(runtime.sessions) as session:
        job = session.get(models.ReportJob, job_id)
        assert job is not None
        if job.status != models.JobStatus.completed or job.result_id is None:
            console.print(f"[red]job {job.id} {job.status}:[/red] {job.error}", soft_wrap=True)
            return 1
        result = session.get(models.ReportResult, job.result_id)
        assert result is not None
    key = f"{result.storage_key}main.parquet"
    where = runtime.storage.local_path(key) if runtime.storage.exists(key) else result.storage_key
    cached = " (from cache)" if job.cached else ""
    for line in (
        f"result {result.id}: {result.row_count:,} rows{cached}",
        f"rows: {where}",
        f"api:  {runtime.settings.base_url}/api/v1/reports/results/{result.id}",
    ):
        console.print(line, soft_wrap=True, highlight=False)
    return 0
