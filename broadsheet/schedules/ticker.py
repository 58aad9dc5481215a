"""The scheduler: find due schedules, fire each due instant once, and see executions through.

No leader. Any number of schedulers (and embedded ``serve`` processes) tick at once: a
schedule's fire is claimed by a conditional update of its ``next_run_at`` (and, on
PostgreSQL, rows locked by another ticker are skipped), and an execution is unique on
(schedule, scheduled instant), so a fire is never executed twice and never skipped.

After downtime only the latest missed fire can run (``misfirePolicy`` ``run_once``, within
``misfireGraceSeconds``) or none (``skip``): never a storm of catch-up runs.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.db import session_scope
from broadsheet.errors import BroadsheetError
from broadsheet.jobs.service import JobService
from broadsheet.kit.time import utc_now
from broadsheet.models import Role
from broadsheet.reports import expressions, parameters
from broadsheet.runtime import Runtime
from broadsheet.schedules import cron, projections
from broadsheet.schedules.service import cadence_of, render_parameters

log = logging.getLogger(__name__)
Schedule = models.ReportSchedule
Execution = models.ReportExecution
BATCH = 500
MAX_MISSED = 100_000  # fires looked at, at most, to find the latest missed one
PAGE = 16

Dispatch = tuple[uuid.UUID, str]  # (job id, priority) to hand to the executor after commit


def tick(runtime: Runtime, now: datetime | None = None) -> list[Dispatch]:
    """Fire every due schedule once. Returns the jobs to dispatch (after this commit)."""
    now = now or utc_now()
    on_time = timedelta(seconds=max(runtime.settings.scheduler_tick_seconds * 3, 60))
    dispatch: list[Dispatch] = []
    with session_scope(runtime.sessions) as session:
        query = (
            select(Schedule)
            .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(BATCH)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query).all():
            job = _fire(session, runtime, row, now, on_time)
            if job is not None:
                dispatch.append(job)
    return dispatch


def _fire(
    session: Session, runtime: Runtime, row: Schedule, now: datetime, on_time: timedelta
) -> Dispatch | None:
    due = row.next_run_at
    assert due is not None
    try:
        cadence = cadence_of(row)
    except cron.CronError as exc:  # saved before a rule tightened: stop it, say why
        log.error("schedule %s has an invalid cadence (%s); pausing it", row.id, exc)
        session.execute(update(Schedule).where(Schedule.id == row.id).values(enabled=False))
        return None
    latest = _latest_due(cadence, due, now)
    following = cron.next_fire(cadence, now)
    # Claim this fire: only the ticker that moves next_run_at from `due` goes on.
    claimed = session.execute(
        update(Schedule)
        .where(Schedule.id == row.id, Schedule.next_run_at == due)
        .values(next_run_at=following, last_run_at=latest)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return None
    session.refresh(row)
    late = now - latest
    if late > on_time and (
        row.misfire_policy == "skip" or late > timedelta(seconds=row.misfire_grace_seconds)
    ):
        log.info("schedule %s missed %s; %s", row.id, latest, "skipped by policy")
        projections.project_schedule(session, row)
        return None
    return start_execution(session, runtime, row, latest, trigger="schedule")


def _latest_due(cadence: cron.Cadence, due: datetime, now: datetime) -> datetime:
    """The last fire at or before ``now``, walking forward from ``due`` in small pages (a
    scheduler back after a day of a minutely schedule looks at 1,440 fires, not more)."""
    latest = due
    for _ in range(MAX_MISSED // PAGE):
        page = cron.next_fires(cadence, latest, PAGE)
        for instant in page:
            if instant > now:
                return latest
            latest = instant
        if len(page) < PAGE:
            return latest
    return latest


def start_execution(
    session: Session,
    runtime: Runtime,
    row: Schedule,
    scheduled_for: datetime,
    *,
    trigger: str,
    priority: str = "low",
) -> Dispatch | None:
    """Create the fire's execution (once: unique on schedule and instant) and its job."""
    execution = Execution(
        tenant_id=row.tenant_id,
        schedule_id=row.id,
        scheduled_for=scheduled_for,
        trigger=trigger,
        status="pending",
        details={"attempts": []},
    )
    try:
        with session.begin_nested():
            session.add(execution)
            session.flush()
    except IntegrityError:
        return None  # another scheduler created this fire's execution first
    return submit_attempt(session, runtime, row, execution, priority)


def submit_attempt(
    session: Session,
    runtime: Runtime,
    row: Schedule,
    execution: Execution,
    priority: str = "low",
) -> Dispatch | None:
    """Queue a generation for the execution, with parameters rendered at its instant."""
    now = utc_now()
    zone = ZoneInfo(row.timezone)
    try:
        values = render_parameters(row.parameters or {}, execution.scheduled_for, zone)
        job = JobService(session, runtime.settings).submit(
            owner(session, row), row.report_id, values, priority=priority,
            reference=execution.scheduled_for,
        )  # fmt: skip
    except (BroadsheetError, parameters.ParameterErrors, expressions.ExpressionError) as exc:
        message = getattr(exc, "detail", None) or str(exc)
        execution.status, execution.error_message = "failed", f"not started: {message}"
        execution.completed_at = now
        projections.project_schedule(session, row, last_status="failed")
        return None
    execution.status = "running"
    execution.job_id = job.id
    execution.started_at = execution.started_at or now
    execution.next_attempt_at = None
    projections.project_schedule(session, row, last_status="running")
    return (job.id, job.priority) if job.status == "queued" else None


def owner(session: Session, row: Schedule) -> Principal:
    """Scheduled runs act as the schedule's owner (its creator), in its tenant."""
    user = session.get(models.User, row.created_by)
    tenant = session.get(models.Tenant, row.tenant_id)
    assert user is not None
    assert tenant is not None
    return Principal(user.id, tenant.id, tenant.slug, user.name, user.email, Role(user.role))
