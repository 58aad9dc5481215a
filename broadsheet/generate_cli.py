"""``broadsheet run``: submit a job and run it in this process with a progress display."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from broadsheet import models
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.errors import BroadsheetError
from broadsheet.exports.service import ExportService
from broadsheet.jobs.runner import run_claimed
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
    settings: Settings,
    tenant: str,
    ref: str,
    values: dict[str, str],
    console: Console,
    fmt: str | None = None,
    output: Path | None = None,
) -> int:
    runtime = Runtime.build(settings)
    freeze_startup_objects()
    try:
        with session_scope(runtime.sessions) as session:
            caller = auth.system_principal(session, tenant, CLI_USER)
            report = find_report(session, caller.tenant_id, ref)
            job = JobService(session, settings).submit(caller, report.id, values, claim=True)
            job_id, name, status = job.id, report.name, job.status
    except BroadsheetError as exc:
        for line in [f"{e['field']}: {e['message']}" for e in exc.errors or []] or [exc.detail]:
            console.print(f"[red]error:[/red] {line}", soft_wrap=True)
        return 1
    try:
        if status == models.JobStatus.processing:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed:,.0f} rows"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task(f"generating {name}", total=None)
                run_claimed(
                    job_id, 1, runtime, on_progress=lambda rows: bar.update(task, completed=rows)
                )
        result_id = _report_outcome(runtime, job_id, console)
        if result_id is None:
            return 1
        if fmt is None:
            return 0
        return _export(runtime, tenant, result_id, fmt, output, console)
    finally:
        runtime.engine.dispose()


def export_result(
    settings: Settings,
    tenant: str,
    result_ref: str,
    fmt: str,
    output: Path | None,
    console: Console,
    *,
    bom: bool = False,
    pdf_max_rows: int | None = None,
) -> int:
    try:
        result_id = uuid.UUID(result_ref)
    except ValueError:
        console.print(f"[red]error:[/red] not a result id: {result_ref!r}")
        return 1
    runtime = Runtime.build(settings)
    try:
        return _export(runtime, tenant, result_id, fmt, output, console, bom, pdf_max_rows)
    finally:
        runtime.engine.dispose()


def _export(
    runtime: Runtime,
    tenant: str,
    result_id: uuid.UUID,
    fmt: str,
    output: Path | None,
    console: Console,
    bom: bool = False,
    pdf_max_rows: int | None = None,
) -> int:
    try:
        with session_scope(runtime.sessions) as session:
            tenant_row = auth.get_tenant(session, tenant)
            if tenant_row is None:
                raise BroadsheetError(f"no tenant {tenant!r}")
            total = session.get(models.ReportResult, result_id)
            with Progress(
                TextColumn("exporting {task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f} / {task.total:,.0f} rows"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task(fmt, total=total.row_count if total else None)
                made = ExportService(session, runtime.storage).export(
                    tenant_row.id,
                    result_id,
                    fmt,
                    bom=bom,
                    pdf_max_rows=pdf_max_rows,
                    progress=lambda rows: bar.update(task, completed=rows),
                )
    except BroadsheetError as exc:
        for line in [f"{e['field']}: {e['message']}" for e in exc.errors or []] or [exc.detail]:
            console.print(f"[red]error:[/red] {line}", soft_wrap=True)
        return 1
    target = output or Path(_download_name(made.content_disposition))
    shutil.copyfile(made.path, target)
    console.print(f"wrote {target} ({made.size:,} bytes)", soft_wrap=True, highlight=False)
    return 0


def _download_name(disposition: str) -> str:
    return disposition.split('filename="', 1)[1].split('"', 1)[0]


def _report_outcome(runtime: Runtime, job_id: uuid.UUID, console: Console) -> uuid.UUID | None:
    with session_scope(runtime.sessions) as session:
        job = session.get(models.ReportJob, job_id)
        assert job is not None
        if job.status != models.JobStatus.completed or job.result_id is None:
            console.print(f"[red]job {job.id} {job.status}:[/red] {job.error}", soft_wrap=True)
            return None
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
    return result.id
