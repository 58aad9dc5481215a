"""``run_job(job_id)``: the one function every executor calls.

It claims the job (queued → processing, a conditional update that also takes the next
attempt number as the run's token), streams each query into Parquet, builds the charts, and
records the result, the job's end and the report's statistics in one transaction. Every later
write about the job names the token, so a run that recovery gave away (its heartbeat stalled)
can no longer change the job. A heartbeat thread touches the job while it runs and notices a
cancel, then interrupts the query. Files stay only when their result row was written.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import InterfaceError, OperationalError

from broadsheet import logs, models, tracing
from broadsheet.charts import mapping as chart_mapping
from broadsheet.charts import specs as chart_specs
from broadsheet.datasources import connector, query
from broadsheet.datasources.service import DataSourceService
from broadsheet.db import session_scope
from broadsheet.errors import StorageUnavailable
from broadsheet.events import about as events
from broadsheet.jobs import tenant_slots
from broadsheet.kit.gc import release_memory
from broadsheet.kit.time import utc_now
from broadsheet.metrics import record as metrics
from broadsheet.models import JobStatus
from broadsheet.reports import parameters, statistics
from broadsheet.reports.schemas import MAIN_DATASET
from broadsheet.reports.service import report_snapshot
from broadsheet.results import parquet
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
Job = models.ReportJob
# A chart reads at most this many rows of its columns (evenly spaced row groups past it), so
# a result near a huge row limit cannot exhaust memory just to draw a line.
CHART_MAX_ROWS = 2_000_000

# Runs in this process, so a stopping executor can interrupt them.
_active: dict[uuid.UUID, query.Progress] = {}
_active_lock = threading.Lock()


class JobFailed(Exception):
    """The job cannot produce a result; the message is shown to the user as the job's error."""


@dataclass
class Plan:
    """Everything a run needs, read in one short transaction and then detached from it."""

    job_id: uuid.UUID
    token: int
    queries: dict[str, str]
    values: dict[str, Any]
    visualizations: list[dict[str, Any]]
    source_url: URL
    limits: query.Limits


@dataclass
class Generated:
    result_id: uuid.UUID
    written: dict[str, parquet.Written]
    visualizations: list[dict[str, Any]]
    elapsed_ms: int
    rows: int


def run_job(
    job_id: uuid.UUID, runtime: Runtime, *, on_progress: Callable[[int], None] | None = None
) -> str | None:
    """Run the job if it is still queued. Returns its final status, or None if it was not
    ours to run (already taken, finished or cancelled)."""
    # The job's lines name it; its span is the executor's part of the request's or fire's trace.
    with logs.scope(job_id=job_id), tracing.span("job.run", job_id=job_id):
        token = _claim(runtime, job_id)
        if token is None:
            tracing.annotate(claimed=False)
            return None
        return run_claimed(job_id, token, runtime, on_progress=on_progress)


def run_claimed(
    job_id: uuid.UUID,
    token: int,
    runtime: Runtime,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Run a job this process has claimed as attempt ``token``."""
    status = _run_claimed(job_id, token, runtime, on_progress=on_progress)
    metrics.job_run_ended(runtime, job_id, status)
    return status


def _run_claimed(
    job_id: uuid.UUID,
    token: int,
    runtime: Runtime,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    logs.tag(job_id=job_id)  # also when called without run_job (``broadsheet run``)
    progress = query.Progress()
    with _active_lock:
        _active[job_id] = progress
    beat = _Heartbeat(runtime, job_id, token, progress, on_progress)
    beat.start()
    generated: Generated | None = None
    kept = False
    try:
        generated = _generate(runtime, _plan(runtime, job_id, token), progress)
        with tracing.span("job.record", result_id=generated.result_id, rows=generated.rows):
            status, kept = _finish(runtime, job_id, token, generated)
        return status
    except query.QueryCancelled as exc:
        if exc.reason == query.SHUTDOWN:
            return _requeue(runtime, job_id, token)
        return _fail(runtime, job_id, token, str(exc))
    except (JobFailed, query.QueryFailed) as exc:
        return _fail(runtime, job_id, token, str(exc))
    except (OperationalError, InterfaceError):
        # The metadata database went away mid-run (a restart, a failover): not the job's
        # fault, so not its failure. The run is given up and its heartbeat stops: recovery
        # queues the job again once the database answers (BROADSHEET_JOB_STALE_AFTER_SECONDS).
        log.warning("job %s lost the metadata database; recovery queues it again", job_id)
        return JobStatus.processing
    except StorageUnavailable as exc:
        # The artifact store did not answer: the job says so (not "internal error"); no
        # result row was written, so nothing half-stored is visible, and a new run can retry.
        return _fail(runtime, job_id, token, f"could not store the result: {exc.detail}")
    except KeyboardInterrupt:
        _fail(runtime, job_id, token, "interrupted: the command running it was stopped")
        raise
    except Exception as exc:  # a bug, not bad input: keep the job honest and log the trace
        log.exception("job %s failed unexpectedly", job_id)
        return _fail(
            runtime, job_id, token, f"internal error ({type(exc).__name__}); see the server log"
        )
    finally:
        beat.stop()
        with _active_lock:
            _active.pop(job_id, None)
        if generated is not None and not kept:
            runtime.storage.delete_prefix(f"results/{generated.result_id}/")
        release_memory()  # a wide result's memory goes back to the system, not kept for reuse


def stop_all_runs() -> None:
    """Interrupt every run in this process; their jobs go back to the queue (shutdown)."""
    with _active_lock:
        running = list(_active.values())
    for progress in running:
        progress.interrupter.fire(query.SHUTDOWN)


def _claim(runtime: Runtime, job_id: uuid.UUID) -> int | None:
    """Take the job as this run's, unless it is not queued or its tenant has no free slot
    (``BROADSHEET_TENANT_MAX_RUNNING_JOBS``; it then stays queued, see jobs.tenant_slots)."""
    now = utc_now()
    cap = runtime.settings.tenant_max_running_jobs
    with session_scope(runtime.sessions) as session:
        if not tenant_slots.prepare_claim(session, job_id):
            return None
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued, tenant_slots.has_room(cap))
            .values(
                status=JobStatus.processing,
                started_at=now,
                heartbeat_at=now,
                attempts=Job.attempts + 1,
                rows_fetched=0,
                error=None,
            )
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        # Read inside the same transaction that holds the row: this run's token.
        return session.scalar(select(Job.attempts).where(Job.id == job_id))


def _ours(job_id: uuid.UUID, token: int) -> tuple[Any, ...]:
    return (Job.id == job_id, Job.status == JobStatus.processing, Job.attempts == token)


def _plan(runtime: Runtime, job_id: uuid.UUID, token: int) -> Plan:
    settings = runtime.settings
    with session_scope(runtime.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        report = session.get(models.ReportDefinition, job.report_id)
        if report is None:
            raise JobFailed("the report was deleted")
        queries = {MAIN_DATASET: report.query} if report.query else {}
        queries.update(report.datasets or {})
        if not queries:
            raise JobFailed("the report has no query to run")
        sources = DataSourceService(session, settings)
        source = sources.by_name(job.tenant_id, report.data_source)
        if source is None:
            raise JobFailed(f"data source '{report.data_source}' no longer exists")
        try:
            url = sources.parsed_url(source)
        except connector.UnsupportedSource as exc:
            raise JobFailed(f"the data source is not usable: {exc}") from None
        try:
            values = parameters.resolve(
                report.parameters or [],
                job.parameters or {},
                reference=job.created_at,
                tz=ZoneInfo(report.timezone),
            )
        except parameters.ParameterErrors as exc:
            raise JobFailed(f"the report's parameters changed since submission: {exc}") from None
        logs.tag(tenant_id=job.tenant_id)
        tracing.annotate(report_id=job.report_id, tenant_id=job.tenant_id, attempt=token)
        return Plan(
            job_id=job.id,
            token=token,
            queries=queries,
            values=values,
            visualizations=list(report.visualizations or []),
            source_url=url,
            limits=query.Limits(source.statement_timeout_seconds, source.row_limit),
        )


def _generate(runtime: Runtime, plan: Plan, progress: query.Progress) -> Generated:
    started = time.perf_counter()
    deadline = time.monotonic() + runtime.settings.job_timeout_seconds  # the whole run
    result_id = uuid.uuid4()
    engine = connector.make_source_engine(plan.source_url, runtime.settings.datasource_allowlist)
    written: dict[str, parquet.Written] = {}
    clock = metrics.QueryClock()
    try:
        for name, sql in plan.queries.items():
            # Streamed: the span covers the query and the Parquet it is written to.
            with tracing.span("job.query", dataset=name, source=engine.dialect.name):
                batches = query.stream(
                    engine, sql, plan.values, plan.limits, progress=progress, deadline=deadline
                )
                key = f"results/{result_id}/{name}.parquet"
                written[name] = parquet.write(clock.pull(batches), runtime.storage, key)
                tracing.annotate(rows=written[name].row_count)
        clock.done()
        with metrics.timed_phase("render"), tracing.span("job.render"):
            visualizations = [_chart(runtime, viz, written) for viz in plan.visualizations]
    except BaseException:
        runtime.storage.delete_prefix(f"results/{result_id}/")
        raise
    finally:
        engine.dispose()
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
        if viz["type"] == "table":  # the most rows a table chart draws, of every column
            table = parquet.read_head(path, chart_specs.MAX_TABLE_ROWS)
        else:
            needed = chart_mapping.required_columns(viz["type"], viz.get("dataMapping") or {})
            table = parquet.read_columns(path, needed, max_rows=CHART_MAX_ROWS)
        return {**head, "data": chart_specs.build(viz, table, total_rows=result.row_count)}
    except chart_mapping.MappingError as exc:
        return {**head, "data": {}, "error": f"{exc.field}: {exc}"}
    except Exception as exc:  # one chart's bug must not cost the whole report
        log.exception("visualization %s failed", viz.get("id"))
        return {**head, "data": {}, "error": f"could not draw it ({type(exc).__name__})"}


def _finish(
    runtime: Runtime, job_id: uuid.UUID, token: int, generated: Generated
) -> tuple[str, bool]:
    """Record the result; returns the job's status and whether the result row was written."""
    now = utc_now()
    main = generated.written.get(MAIN_DATASET) or next(iter(generated.written.values()))
    with session_scope(runtime.sessions) as session:
        done = session.execute(
            update(Job)
            .where(*_ours(job_id, token))
            .values(
                status=JobStatus.completed,
                completed_at=now,
                result_id=generated.result_id,
                rows_fetched=generated.rows,
            )
        )
        job = session.get(Job, job_id)
        assert job is not None
        if not done.rowcount:  # type: ignore[attr-defined]
            return job.status, False  # cancelled, or recovery gave it to another run
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
                    "mainDataset": main.key.rsplit("/", 1)[-1].removesuffix(".parquet"),
                    # Bytes of its Parquet files: what /metrics sums as stored bytes.
                    "sizeBytes": sum(w.size_bytes for w in generated.written.values()),
                    # The report as it ran: exports made later say the same as early ones.
                    "report": report_snapshot(report),
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
        events.job_ended(session, job)
    return JobStatus.completed, True


def _fail(runtime: Runtime, job_id: uuid.UUID, token: int, message: str) -> str:
    with session_scope(runtime.sessions) as session:
        failed = session.execute(
            update(Job)
            .where(*_ours(job_id, token))
            .values(status=JobStatus.failed, completed_at=utc_now(), error=message)
        )
        job = session.get(Job, job_id)
        if job is not None and failed.rowcount:  # type: ignore[attr-defined]
            events.job_ended(session, job)
        return job.status if job else JobStatus.failed


def _requeue(runtime: Runtime, job_id: uuid.UUID, token: int) -> str:
    """A run stopped by our own shutdown goes back to the queue for the next process."""
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(Job)
            .where(*_ours(job_id, token))
            .values(status=JobStatus.queued, heartbeat_at=None, started_at=None)
        )
        job = session.get(Job, job_id)
        return job.status if job else JobStatus.queued


class _Heartbeat:
    """Touches the job every few seconds; stops the run when the job is no longer ours."""

    def __init__(
        self,
        runtime: Runtime,
        job_id: uuid.UUID,
        token: int,
        progress: query.Progress,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.token = token
        self.progress = progress
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
                self.progress.interrupter.fire(query.CANCELLED)
                return

    def _touch(self) -> bool:
        try:
            with session_scope(self.runtime.sessions) as session:
                touched = session.execute(
                    update(Job)
                    .where(*_ours(self.job_id, self.token))
                    .values(heartbeat_at=utc_now(), rows_fetched=self.progress.rows)
                )
                return bool(touched.rowcount)  # type: ignore[attr-defined]
        except Exception:  # a database hiccup is not a cancellation
            log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
            return True
