"""Dashboard executions: the PDF of the dashboard made for a fire, then delivered as a report's
artifact is.

A dashboard's schedule runs no report job of its own. Its fire (or run-now, or retry) leaves
the execution ``running``, with the filter values of its instant and ``next_attempt_at`` saying
when its PDF is due. A scheduler claims it by moving ``next_attempt_at`` on by a lease — a
conditional update on the value it read, so one scheduler makes it — then makes the PDF: the
widgets' jobs are queued (marked ``schedule``, made for the schedule's owner, the filters
locked to the execution's values) and waited for up to a minute, and the widgets print as they
are then. The PDF is stored as the execution's artifact and the execution completes, which
plans one delivery per recipient exactly as a report's does; every recipient, and every retry
of a delivery, gets that one file.

    running ──claim (lease)──▶ building ──PDF stored──▶ completed (deliveries planned)
       ▲                          └──failed──▶ retrying (backoff) ──▶ running
       │                                    └─ after the last retry ──▶ failed
       └──── a lease that ran out (its builder died) counts as a failed attempt

"building" is ``running`` with ``details.building`` set and ``next_attempt_at`` at the end of
the lease, which is the builder's token for recording what happened. Retries follow the
schedule settings a report's generation does; a build that kills its process every time fails
after the last retry instead of being tried for ever.

Builds wait on other work (the widgets' jobs), so the scheduler runs them on a thread of their
own: a slow dashboard never holds up a fire.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.dashboards.pdf import export_pdf
from broadsheet.db import session_scope
from broadsheet.deliveries import service as deliveries
from broadsheet.events import about as events
from broadsheet.jobs.executors import Executor
from broadsheet.kit.backoff import backoff
from broadsheet.kit.time import utc_now
from broadsheet.models import JobTrigger
from broadsheet.runtime import Runtime
from broadsheet.schedules import projections
from broadsheet.schedules.ticker import DASHBOARD_DELETED

log = logging.getLogger(__name__)
Execution = models.ReportExecution
Schedule = models.ReportSchedule
BATCH = 20
# Longer than a build takes: the widgets are waited for a minute, then the PDF is drawn.
LEASE = timedelta(minutes=5)
PREFIX = "executions/"  # executions/<execution id>/<build>.pdf
INTERRUPTED = "the scheduler stopped while making the dashboard's PDF"


def advance(runtime: Runtime, executor: Executor | None, now: datetime | None = None) -> int:
    """Make the PDFs that are due, one after the other. Returns how many were made.

    ``executor``: where the widgets' jobs are handed (None: they wait for an executor that
    polls the queue, or for maintenance to dispatch them again).
    """
    now = now or utc_now()
    with session_scope(runtime.sessions) as session:
        due = session.execute(
            select(Execution.id, Execution.next_attempt_at)
            .join(Schedule, Schedule.id == Execution.schedule_id)
            .where(
                Execution.status == "running",
                Execution.job_id.is_(None),
                Schedule.dashboard_id.is_not(None),
                Execution.next_attempt_at <= now,
            )
            .order_by(Execution.next_attempt_at)
            .limit(BATCH)
        ).all()
    made = 0
    for execution_id, due_at in due:
        try:
            claim = _claim(runtime, execution_id, due_at)
            if claim is not None and _build(runtime, executor, claim):
                made += 1
        except Exception:
            log.exception("could not make the PDF of execution %s", execution_id)
    return made


def sweep(runtime: Runtime, now: datetime | None = None) -> int:
    """Delete the PDFs of executions older than results are kept (their deliveries are long
    done), and those whose execution was deleted with its schedule. Returns how many went."""
    cutoff = (now or utc_now()) - timedelta(days=runtime.settings.result_retention_days)
    folders = runtime.storage.list_prefixes(PREFIX, older_than=cutoff)
    for folder in folders:
        runtime.storage.delete_prefix(folder)
    return len(folders)


@dataclass(frozen=True)
class Claim:
    execution_id: uuid.UUID
    token: datetime  # the lease's end, as written to next_attempt_at
    started: datetime


def _claim(runtime: Runtime, execution_id: uuid.UUID, due_at: datetime | None) -> Claim | None:
    """The execution for this scheduler to build, or None (another took it, or its last
    builder died and that attempt is recorded as failed instead)."""
    now = utc_now()
    with session_scope(runtime.sessions) as session:
        execution = session.get(Execution, execution_id)
        if execution is None or execution.status != "running" or execution.job_id is not None:
            return None
        details = dict(execution.details or {})
        if details.get("building"):  # its lease ran out: the builder stopped mid-way
            failed = _failed(runtime, execution, INTERRUPTED, now)
            _record(session, runtime, execution, due_at, failed)
            return None
        token = now + LEASE
        details["building"] = now.isoformat()
        taken = session.execute(
            update(Execution)
            .where(*_held(execution_id, due_at))
            .values(next_attempt_at=token, details=details)
        )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None
    return Claim(execution_id, token, now)


def _held(execution_id: uuid.UUID, token: datetime | None) -> tuple[Any, ...]:
    """The execution as one scheduler holds it: still running, with its token."""
    return (
        Execution.id == execution_id,
        Execution.status == "running",
        Execution.job_id.is_(None),
        Execution.next_attempt_at == token,
    )


def _build(runtime: Runtime, executor: Executor | None, claim: Claim) -> bool:
    """Make and store the claimed execution's PDF, and record the outcome."""
    key = f"{PREFIX}{claim.execution_id}/{claim.token.strftime('%Y%m%dT%H%M%S%f')}.pdf"
    made = _make(runtime, executor, claim)
    if made is None:  # the execution is gone (deleted with its dashboard, say)
        return False
    if isinstance(made, bytes):
        scratch = runtime.storage.scratch_file(".pdf")
        scratch.write_bytes(made)
        runtime.storage.put_file(key, scratch)
    with session_scope(runtime.sessions) as session:
        execution = session.get(Execution, claim.execution_id)
        now = utc_now()
        if execution is None:
            values = None
        elif isinstance(made, bytes):
            values = _completed(execution, key, len(made), claim, now)
        else:
            values = _failed(runtime, execution, made.error, now, final=made.final)
        if (
            execution is None
            or values is None
            or not _record(session, runtime, execution, claim.token, values)
        ):
            # Deleted, or the lease ran out and another scheduler took over: its PDF counts.
            runtime.storage.delete_prefix(key)
            return False
    return isinstance(made, bytes)


@dataclass(frozen=True)
class Failure:
    error: str
    final: bool = False  # no retry can help


def _make(runtime: Runtime, executor: Executor | None, claim: Claim) -> bytes | Failure | None:
    """The PDF of the claimed execution's dashboard with its filter values, why it could not
    be made, or None when the execution is gone."""
    with session_scope(runtime.sessions) as session:
        execution = session.get(Execution, claim.execution_id)
        schedule = session.get(Schedule, execution.schedule_id) if execution else None
        if execution is None or schedule is None:
            return None
        dashboard = session.get(models.Dashboard, schedule.dashboard_id)
        if dashboard is None:
            return Failure(DASHBOARD_DELETED, final=True)
        locked, owner = dict(execution.parameters or {}), schedule.created_by
        try:
            # Commits this session (the widgets' jobs), hands the jobs over and waits for them.
            content = export_pdf(
                session, runtime, executor, dashboard, {}, locked=locked, requested_by=owner,
                trigger=JobTrigger.schedule, reference=execution.scheduled_for,
            ).content  # fmt: skip
        except Exception as exc:  # a renderer, a storage read, a bug: tried again, and said
            log.warning("the PDF of execution %s failed", claim.execution_id, exc_info=True)
            session.rollback()  # whatever the failed build left half-written
            return Failure(str(getattr(exc, "detail", None) or exc) or type(exc).__name__)
    return content


def _completed(
    execution: models.ReportExecution, key: str, size: int, claim: Claim, now: datetime
) -> dict[str, Any]:
    attempt = {"status": "completed", "error": None, "at": now.isoformat()}
    started = execution.started_at or claim.started
    return {
        "status": "completed",
        "completed_at": now,
        "file_url": key,
        "file_size": size,
        "execution_time_ms": round((now - started).total_seconds() * 1000),
        "error_message": None,
        "next_attempt_at": None,
        "details": _attempted(execution, attempt),
    }


def _failed(
    runtime: Runtime,
    execution: models.ReportExecution,
    error: str,
    now: datetime,
    *,
    final: bool = False,
) -> dict[str, Any]:
    """A failed attempt: retried with backoff as a report's generation is, or the end."""
    settings = runtime.settings
    attempt = {"status": "failed", "error": error, "at": now.isoformat()}
    values: dict[str, Any] = {
        "error_message": error[:2000],
        "details": _attempted(execution, attempt),
    }
    if final or execution.retry_count >= settings.schedule_max_retries:
        return values | {"status": "failed", "completed_at": now, "next_attempt_at": None}
    delay = backoff(settings.schedule_retry_base_seconds, execution.retry_count)
    return values | {
        "status": "retrying",
        "retry_count": execution.retry_count + 1,
        "next_attempt_at": now + delay,
    }


def _attempted(execution: models.ReportExecution, attempt: dict[str, Any]) -> dict[str, Any]:
    details = {k: v for k, v in (execution.details or {}).items() if k != "building"}
    details["attempts"] = [*details.get("attempts", []), attempt]
    return details


def _record(
    session: Session,
    runtime: Runtime,
    execution: models.ReportExecution,
    token: datetime | None,
    values: dict[str, Any],
) -> bool:
    """The attempt's outcome, if this scheduler still holds the execution; a completed one's
    deliveries planned in the same transaction."""
    changed = session.execute(
        update(Execution)
        .where(*_held(execution.id, token))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    session.refresh(execution)
    schedule = session.get(Schedule, execution.schedule_id)
    if schedule is not None:
        projections.project_schedule(session, schedule, last_status=str(values["status"]))
        if values["status"] == "completed":
            deliveries.plan(session, runtime.settings, execution, schedule, utc_now())
    if values["status"] in ("completed", "failed"):
        events.execution_ended(session, execution)
    return True
