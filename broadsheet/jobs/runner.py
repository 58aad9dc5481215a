"""``run_job(job_id)``: the one function every executor calls.

It claims the job (queued → processing, a conditional update, so a duplicate delivery is a
no-op), streams each query into Parquet, builds the charts, and records the result, the
job's end and the report's statistics in one transaction. A heartbeat thread touches the job
while it runs and notices a cancel (or a recovery that gave the job to someone else), then
interrupts the query.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from broadsheet import models
from broadsheet.charts import mapping as chart_mapping
from broadsheet.charts import specs as chart_specs
from broadsheet.datasources import connector, query
from broadsheet.datasources.service import DataSourceService
from broadsheet.db import session_scope
from broadsheet.kit.time import utc_now
from broadsheet.models import JobStatus
from broadsheet.reports import parameters, statistics
from broadsheet.reports.schemas import MAIN_DATASET
from broadsheet.results import parquet
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
TABLE_PREVIEW_ROWS = 1000


class JobFailed(Exception):
    """The job cannot produce a result; the message is shown to the user as the job's error."""


@dataclass
class Plan:
    """Everything a run needs, read in one short transaction and then detached from it."""

    job_id: uuid.UUID
    tenant_id: uuid.UUID
    report_id: uuid.UUID
    queries: dict[str, str]
    values: dict[str, Any]
    visualizations: list[dict[str, Any]]
    source_url: str
    limits: query.Limits


@dataclass
class Generated:
    result_id: uuid.UUID
    written: dict[str, parquet.Written]
    visualizations: list[dict[str, Any]]
    elapsed_ms: int
    rows: int = field(default=0)


def run_job(
    job_id: uuid.UUID, runtime: Runtime, *, on_progress: Callable[[int], None] | None = None
) -> str | None:
    """Run the job if it is still queued. Returns its final status, or None if it was not
    ours to run (already taken, finished or cancelled)."""
    if not _claim(runtime, job_id):
        return None
    progress = query.Progress()
    stop = threading.Event()
    beat = _Heartbeat(runtime, job_id, progress, stop, on_progress)
    beat.start()
    generated: Generated | None = None
    try:
        generated = _generate(runtime, _plan(runtime, job_id), progress, stop)
        return _finish(runtime, job_id, generated)
    except (JobFailed, query.QueryFailed) as exc:
        return _fail(runtime, job_id, str(exc))
    except Exception as exc:  # a bug, not bad input: keep the job honest and log the trace
        log.exception("job %s failed unexpectedly", job_id)
        return _fail(runtime, job_id, f"internal error ({type(exc).__name__}); see the server log")
    finally:
        beat.stop()
        if generated is not None and stop.is_set():
            runtime.storage.delete_prefix(f"results/{generated.result_id}/")


def _claim(runtime: Runtime, job_id: uuid.UUID) -> bool:
    now = utc_now()
    with session_scope(runtime.sessions) as session:
        claimed = session.execute(
            update(models.ReportJob)
            .where(models.ReportJob.id == job_id, models.ReportJob.status == JobStatus.queued)
            .values(
                status=JobStatus.processing,
                started_at=now,
                heartbeat_at=now,
                attempts=models.ReportJob.attempts + 1,
                rows_fetched=0,
                error=None,
            )
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]


def _plan(runtime: Runtime, job_id: uuid.UUID) -> Plan:
    settings = runtime.settings
    with session_scope(runtime.sessions) as session:
        job = session.get(models.ReportJob, job_id)
        assert job is not None
        report = session.get(models.ReportDefinition, job.report_id)
        if report is None:
            raise JobFailed("the report was deleted")
        sources = DataSourceService(session, settings)
        source = sources.by_name(job.tenant_id, report.data_source)
        if source is None:
            raise JobFailed(f"data source '{report.data_source}' no longer exists")
        try:
            values = parameters.resolve(
                report.parameters or [],
                job.parameters or {},
                reference=job.created_at,
                tz=ZoneInfo(report.timezone),
            )
        except parameters.ParameterErrors as exc:
            raise JobFailed(f"the report's parameters changed since submission: {exc}") from None
        queries = {MAIN_DATASET: report.query} if report.query else {}
        queries.update(report.datasets or {})
        return Plan(
            job_id=job.id,
            tenant_id=job.tenant_id,
            report_id=report.id,
            queries=queries,
            values=values,
            visualizations=list(report.visualizations or []),
            source_url=sources.url_of(source),
            limits=query.Limits(
                min(source.statement_timeout_seconds, settings.job_timeout_seconds),
                source.row_limit,
            ),
        )


def _generate(
    runtime: Runtime, plan: Plan, progress: query.Progress, stop: threading.Event
) -> Generated:
    started = time.perf_counter()
    result_id = uuid.uuid4()
    try:
        url = connector.parse_source_url(plan.source_url, runtime.settings.allowed_source_dirs)
    except connector.UnsupportedSource as exc:
        raise JobFailed(f"the data source is not usable: {exc}") from None
    engine = connector.make_source_engine(url)
    written: dict[str, parquet.Written] = {}
    try:
        for name, sql in plan.queries.items():
            batches = query.stream(
                engine, sql, plan.values, plan.limits, should_stop=stop.is_set, progress=progress
            )
            key = f"results/{result_id}/{name}.parquet"
            written[name] = parquet.write(batches, runtime.storage, key)
    except BaseException:
        runtime.storage.delete_prefix(f"results/{result_id}/")
        raise
    finally:
        engine.dispose()
    visualizations = [_chart(runtime, viz, written) for viz in plan.visualizations]
    elapsed = round((time.perf_counter() - started) * 1000)
    return Generated(result_id, written, visualizations, elapsed, progress.rows)


def _chart(
    runtime: Runtime, viz: dict[str, Any], written: dict[str, parquet.Written]
) -> dict[str, Any]:
    """One visualization's spec and data; a broken one is reported, not fatal to the result."""
    head = {"id": viz["id"], "type": viz["type"], "title": viz.get("title")}
    dataset = viz.get("dataset") or MAIN_DATASET
    if dataset not in written:
        return {**head, "data": {}, "error": f"no dataset named '{dataset}'"}
    result = written[dataset]
    try:
        chart_mapping.check_columns(viz, [c["name"] for c in result.columns])
        path = runtime.storage.local_path(result.key)
        if viz["type"] == "table":
            table = parquet.read_head(path, TABLE_PREVIEW_ROWS)
        else:
            needed = chart_mapping.required_columns(viz["type"], viz.get("dataMapping") or {})
            table = parquet.read_columns(path, needed)
        return {**head, "data": chart_specs.build(viz, table)}
    except chart_mapping.MappingError as exc:
        return {**head, "data": {}, "error": f"{exc.field}: {exc}"}


def _finish(runtime: Runtime, job_id: uuid.UUID, generated: Generated) -> str:
    now = utc_now()
    main = generated.written.get(MAIN_DATASET) or next(iter(generated.written.values()))
    with session_scope(runtime.sessions) as session:
        done = session.execute(
            update(models.ReportJob)
            .where(models.ReportJob.id == job_id, models.ReportJob.status == JobStatus.processing)
            .values(
                status=JobStatus.completed,
                completed_at=now,
                result_id=generated.result_id,
                rows_fetched=generated.rows,
            )
        )
        job = session.get(models.ReportJob, job_id)
        assert job is not None
        if not done.rowcount:  # type: ignore[attr-defined]
            # Cancelled (or given to another process) while we ran: our work is not wanted.
            runtime.storage.delete_prefix(f"results/{generated.result_id}/")
            return job.status
        report = session.get(models.ReportDefinition, job.report_id)
        assert report is not None
        session.add(
            models.ReportResult(
                id=generated.result_id,
                tenant_id=job.tenant_id,
                report_id=job.report_id,
                job_id=job.id,
                parameters=job.parameters,
                created_at=now,
                data={
                    "columns": main.columns,
                    "rowCount": main.row_count,
                    "summary": main.summary,
                    "datasets": {
                        name: {"columns": w.columns, "rowCount": w.row_count, "summary": w.summary}
                        for name, w in generated.written.items()
                    },
                },
                visualizations=generated.visualizations,
                row_count=main.row_count,
                storage_key=f"results/{generated.result_id}/",
                execution_time_ms=generated.elapsed_ms,
                expires_at=now + timedelta(days=runtime.settings.result_retention_days),
            )
        )
        statistics.record_execution(
            session,
            report=report,
            result_id=generated.result_id,
            parameters=job.parameters,
            created_by=job.created_by,
            at=now,
            elapsed_ms=generated.elapsed_ms,
        )
    return JobStatus.completed


def _fail(runtime: Runtime, job_id: uuid.UUID, message: str) -> str:
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(models.ReportJob)
            .where(models.ReportJob.id == job_id, models.ReportJob.status == JobStatus.processing)
            .values(status=JobStatus.failed, completed_at=utc_now(), error=message)
        )
        job = session.get(models.ReportJob, job_id)
        return job.status if job else JobStatus.failed


class _Heartbeat:
    """Touches the job every few seconds; stops the run when the job is no longer ours."""

    def __init__(
        self,
        runtime: Runtime,
        job_id: uuid.UUID,
        progress: query.Progress,
        stop: threading.Event,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.progress = progress
        self.stop_run = stop
        self.on_progress = on_progress
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _loop(self) -> None:
        beat_every = self.runtime.settings.heartbeat_seconds
        # A progress display wants updates more often than the database needs a heartbeat.
        tick = min(beat_every, 0.5) if self.on_progress else beat_every
        last_beat = time.monotonic()
        while not self.done.wait(tick):
            if self.on_progress:
                self.on_progress(self.progress.rows)
            if time.monotonic() - last_beat < beat_every:
                continue
            last_beat = time.monotonic()
            if not self._touch():
                self.stop_run.set()
                self._interrupt()
                return

    def _interrupt(self) -> None:
        interrupt = self.progress.interrupt
        if interrupt is None:
            return
        try:
            interrupt()
        except Exception:  # the query may have ended (and its connection closed) meanwhile
            log.debug("could not interrupt job %s's query", self.job_id, exc_info=True)

    def _touch(self) -> bool:
        try:
            with session_scope(self.runtime.sessions) as session:
                touched = session.execute(
                    update(models.ReportJob)
                    .where(
                        models.ReportJob.id == self.job_id,
                        models.ReportJob.status == JobStatus.processing,
                    )
                    .values(heartbeat_at=utc_now(), rows_fetched=self.progress.rows)
                )
                return bool(touched.rowcount)  # type: ignore[attr-defined]
        except Exception:  # a database hiccup is not a cancellation
            log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
            return True
