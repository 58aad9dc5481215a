"""Seeing executions through after their job: the artifact, retries with backoff, history.

Runs in every scheduler tick. Each change is a conditional update on the execution's status
and job, so two schedulers advancing at once change it once.

    running ──job completed──▶ export made ──▶ completed (deliveries planned)
       │                                   └─ export failed ──▶ failed
       └─job failed/cancelled──▶ retrying (next_attempt_at = base * 2^n + jitter) ──▶ running
                              └─ after the last retry ──▶ failed

A dashboard's execution has no job: its PDF is made by :mod:`.dashboard_runs`, whose failed
attempts come back here as ``retrying`` to be started again like a report's.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broadsheet import models, tracing
from broadsheet.db import session_scope
from broadsheet.deliveries import service as deliveries
from broadsheet.errors import BroadsheetError
from broadsheet.events import about as events
from broadsheet.exports.service import ExportService
from broadsheet.kit.backoff import backoff
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from broadsheet.schedules import projections
from broadsheet.schedules.ticker import Dispatch, submit_attempt

log = logging.getLogger(__name__)
Execution = models.ReportExecution
Job = models.ReportJob
BATCH = 200


def advance(runtime: Runtime, now: datetime | None = None) -> list[Dispatch]:
    """Finish executions whose job ended, and start due retries. Returns jobs to dispatch."""
    now = now or utc_now()
    with session_scope(runtime.sessions) as session:
        ended = session.execute(
            select(Execution, Job)
            .join(Job, Job.id == Execution.job_id)
            .where(
                Execution.status == "running",
                Job.status.in_(["completed", "failed", "cancelled"]),
            )
            .limit(BATCH)
        ).all()
    for execution, job in ended:
        try:
            _settle(runtime, execution.id, job, now)
        except Exception:
            log.exception("could not settle execution %s", execution.id)
    return _retry_due(runtime, now)


def _settle(
    runtime: Runtime, execution_id: uuid.UUID, job: models.ReportJob, now: datetime
) -> None:
    with session_scope(runtime.sessions) as session:
        execution = session.get(Execution, execution_id)
        schedule = session.get(models.ReportSchedule, execution.schedule_id) if execution else None
        if execution is None or schedule is None or execution.job_id != job.id:
            return
        if execution.status != "running":
            return
        attempt = {"jobId": str(job.id), "status": job.status, "error": job.error,
                   "at": now.isoformat()}  # fmt: skip
        details = dict(execution.details or {})
        details["attempts"] = [*details.get("attempts", []), attempt]
        if job.status == "completed" and job.result_id is not None:
            values = _completed(session, runtime, schedule, execution, job, now)
        elif execution.retry_count < runtime.settings.schedule_max_retries:
            delay = backoff(runtime.settings.schedule_retry_base_seconds, execution.retry_count)
            values = {
                "status": "retrying",
                "retry_count": execution.retry_count + 1,
                "next_attempt_at": now + delay,
                "error_message": job.error,
            }
        else:
            values = {"status": "failed", "completed_at": now, "error_message": job.error}
        changed = session.execute(
            update(Execution)
            .where(
                Execution.id == execution.id,
                Execution.status == "running",
                Execution.job_id == job.id,
            )
            .values(details=details, **values)
        )
        if changed.rowcount:  # type: ignore[attr-defined]
            projections.project_schedule(session, schedule, last_status=str(values["status"]))
            if values["status"] == "completed":
                deliveries.plan(session, runtime.settings, execution, schedule, now)
            if values["status"] in ("completed", "failed"):
                session.refresh(execution)
                events.execution_ended(session, execution)


def _completed(
    session: Session,
    runtime: Runtime,
    schedule: models.ReportSchedule,
    execution: models.ReportExecution,
    job: models.ReportJob,
    now: datetime,
) -> dict[str, Any]:
    """The artifact in the schedule's format, made once and kept beside the result."""
    assert job.result_id is not None
    try:
        with tracing.span(
            "execution.export",
            parent=tracing.stored(execution.details),  # made ticks later, in the fire's trace
            execution_id=execution.id,
            report_id=schedule.report_id,
            result_id=job.result_id,
            format=schedule.export_format,
        ):
            made = ExportService(session, runtime.storage).export(
                schedule.tenant_id, job.result_id, schedule.export_format
            )
    except BroadsheetError as exc:
        return {"status": "failed", "completed_at": now, "error_message": f"export: {exc.detail}"}
    started = execution.started_at or execution.created_at
    return {
        "status": "completed",
        "completed_at": now,
        "result_id": job.result_id,
        "file_url": made.key,
        "file_size": made.size,
        "execution_time_ms": round((now - started).total_seconds() * 1000),
        "error_message": None,
    }


def _retry_due(runtime: Runtime, now: datetime) -> list[Dispatch]:
    dispatch: list[Dispatch] = []
    with session_scope(runtime.sessions) as session:
        due = session.scalars(
            select(Execution)
            .where(Execution.status == "retrying", Execution.next_attempt_at <= now)
            .limit(BATCH)
        ).all()
        for execution in due:
            taken = session.execute(
                update(Execution)
                .where(Execution.id == execution.id, Execution.status == "retrying")
                .values(status="pending")
            )
            if not taken.rowcount:  # type: ignore[attr-defined]
                continue
            session.refresh(execution)
            schedule = session.get(models.ReportSchedule, execution.schedule_id)
            if schedule is None:
                continue
            job = submit_attempt(session, runtime, schedule, execution)
            if job is not None:
                tracing.handing(job[0], tracing.stored(execution.details))  # the fire's trace
                dispatch.append(job)
    return dispatch
