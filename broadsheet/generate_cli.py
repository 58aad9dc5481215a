"""``broadsheet run``: submit a job and run it in this process with a progress display."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import select

from broadsheet import models
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.errors import BroadsheetError, NotFound
from broadsheet.exports.service import ExportService, exporter_for
from broadsheet.jobs.runner import run_claimed
from broadsheet.jobs.service import JobService
from broadsheet.kit.gc import freeze_startup_objects
from broadsheet.results.service import ResultService
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
        raise NotFound(f"{problem} called {ref!r}; use its id")
    return found[0]  # type: ignore[no-any-return]


def run_report(
    settings: Settings,
    tenant: str,
    ref: str,
    values: dict[str, str],
    console: Console,
    fmt: str | None = None,
    output: str | None = None,
) -> int:
    """Generate ``ref`` now (and export it); bad input raises BroadsheetError before any work,
    a job that fails is said and returns 1."""
    if fmt is not None:
        exporter_for(fmt)
    target = _output_path(output)
    runtime = Runtime.build(settings)
    freeze_startup_objects()
    try:
        with session_scope(runtime.sessions) as session:
            _tenant(session, tenant)
            caller = auth.system_principal(session, tenant, CLI_USER)
            report = find_report(session, caller.tenant_id, ref)
            job = JobService(session, settings).submit(caller, report.id, values, claim=True)
            job_id, name, status = job.id, report.name, job.status
        if status == models.JobStatus.processing:
            with _progress(
                console,
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed:,.0f} rows"),
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
        return _export(runtime, tenant, result_id, fmt, target, console)
    finally:
        runtime.engine.dispose()


def export_result(
    settings: Settings,
    tenant: str,
    result_ref: str,
    fmt: str,
    output: str | None,
    console: Console,
    *,
    bom: bool = False,
    pdf_max_rows: int | None = None,
) -> int:
    """Write a stored result as a file; bad input raises BroadsheetError before any work."""
    try:
        result_id = uuid.UUID(result_ref)
    except ValueError:
        raise BroadsheetError(f"not a result id: {result_ref!r}") from None
    exporter_for(fmt)
    target = _output_path(output)
    runtime = Runtime.build(settings)
    try:
        return _export(runtime, tenant, result_id, fmt, target, console, bom, pdf_max_rows)
    finally:
        runtime.engine.dispose()


def _tenant(session: Any, slug: str) -> models.Tenant:
    """An existing tenant: the CLI never makes one up from a misspelt ``--tenant``."""
    found = auth.get_tenant(session, slug)
    if found is None:
        raise NotFound(f"no tenant {slug!r}")
    return found


def _progress(console: Console, *columns: ProgressColumn) -> Progress:
    """A progress line with the time taken, gone when done; none at all in a pipe (not even
    its blank line)."""
    return Progress(
        *columns,
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _output_path(raw: str | None) -> Path | None:
    """``--output`` as a path: a folder, or a file in one — said before a long run, not after.
    A trailing slash means a folder: a missing one is an error, never a file of that name."""
    if raw is None:
        return None
    path = Path(raw)
    if _is_dir(path):
        return path
    if raw.endswith(("/", os.sep)):
        raise NotFound(f"--output: no folder {raw!r}")
    if not _is_dir(path.parent):
        raise NotFound(f"--output: no folder {str(path.parent)!r}")
    return path


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError as exc:  # a name too long, a loop of links…
        raise _unwritable(path, exc) from None


def _unwritable(path: Path, exc: OSError) -> BroadsheetError:
    return BroadsheetError(f"cannot write {str(path)!r}: {exc.strerror or exc}")


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
    with session_scope(runtime.sessions) as session:
        tenant_id = _tenant(session, tenant).id
        rows = ResultService(session, runtime.storage).get(tenant_id, result_id).row_count
        with _progress(
            console,
            TextColumn("exporting {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} / {task.total:,.0f} rows"),
        ) as bar:
            task = bar.add_task(fmt, total=rows)
            made = ExportService(session, runtime.storage).export(
                tenant_id,
                result_id,
                fmt,
                bom=bom,
                pdf_max_rows=pdf_max_rows,
                progress=lambda done: bar.update(task, completed=done),
            )
    name = export_name(made.content_disposition)
    target = output / name if output is not None and _is_dir(output) else output or Path(name)
    try:
        shutil.copyfile(made.path, target)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    console.print(f"wrote {target} ({made.size:,} bytes)", soft_wrap=True, highlight=False)
    return 0


def export_name(disposition: str) -> str:
    """The file name a download of the export gets: the Unicode one (``filename*``) when
    the header has it, else the plain one."""
    _, star, encoded = disposition.partition("filename*=UTF-8''")
    if star:
        return unquote(encoded.split(";", 1)[0])
    return disposition.split('filename="', 1)[1].split('"', 1)[0]


def _report_outcome(runtime: Runtime, job_id: uuid.UUID, console: Console) -> uuid.UUID | None:
    with session_scope(runtime.sessions) as session:
        job = session.get(models.ReportJob, job_id)
        assert job is not None
        if job.status != models.JobStatus.completed or job.result_id is None:
            console.print(
                f"[red]job {job.id} {job.status}:[/red] {escape(job.error or '')}", soft_wrap=True
            )
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
