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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.db import session_scope
from broadsheet.errors import BroadsheetError, Conflict
from broadsheet.jobs.service import NO_QUERY, JobService, has_query, job_fields
from broadsheet.kit.time import utc_now
from broadsheet.models import Role
from broadsheet.reports import expressions, parameters
from broadsheet.runtime import Runtime
from broadsheet.schedules import cron, projections
from broadsheet.schedules.service import cadence_of, render_parameters, resolve_for_fire

log = logging.getLogger(__name__)
Schedule = models.ReportSchedule
Execution = models.ReportExecution
BATCH = 1000
MAX_MISSED = 100_000  # fires looked at, at most, to find the latest missed one
PAGE = 16

Dispatch = tuple[uuid.UUID, str]  # (job id, priority) to hand to the executor after commit


def tick(runtime: Runtime, now: datetime | None = None) -> list[Dispatch]:
    """Fire every due schedule once. Returns the jobs to dispatch (after this commit).

    Set-based: one query finds the due schedules, their reports and owners are read in one
    query each, claims, executions and jobs are written in a few bulk statements — a tick
    with a thousand due schedules costs a handful of round trips, not thousands.
    """
    now = now or utc_now()
    on_time = timedelta(seconds=max(runtime.settings.scheduler_tick_seconds * 3, 60))
    with session_scope(runtime.sessions) as session:
        query = (
            select(Schedule)
            .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(BATCH)
        )
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres:
            query = query.with_for_update(skip_locked=True)
        rows = session.scalars(query).all()
        fires = [f for row in rows if (f := _plan_fire(session, row, now, on_time, postgres))]
        return _start_all(session, runtime, fires)


@dataclass
class _Fire:
    row: Schedule
    instant: datetime


def _plan_fire(
    session: Session, row: Schedule, now: datetime, on_time: timedelta, locked: bool
) -> _Fire | None:
    """Advance one schedule past ``now`` and say whether its latest due instant fires."""
    due = row.next_run_at
    assert due is not None
    try:
        cadence = cadence_of(row)
    except cron.CronError as exc:  # saved before a rule tightened: stop it, say why
        log.error("schedule %s has an invalid cadence (%s); pausing it", row.id, exc)
        row.enabled = False
        return None
    latest = _latest_due(cadence, due, now)
    following = cron.next_fire(cadence, now)
    if locked:  # PostgreSQL: the row is ours until commit (others skip locked rows)
        row.next_run_at, row.last_run_at = following, latest
    else:  # SQLite: claim it by moving next_run_at from the value we read
        claimed = session.execute(
            update(Schedule)
            .where(Schedule.id == row.id, Schedule.next_run_at == due)
            .values(next_run_at=following, last_run_at=latest)
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        row.next_run_at, row.last_run_at = following, latest
    late = now - latest
    if late > on_time and (
        row.misfire_policy == "skip" or late > timedelta(seconds=row.misfire_grace_seconds)
    ):
        log.info("schedule %s missed %s; skipped by its misfire policy", row.id, latest)
        return None
    return _Fire(row, latest)


def _start_all(session: Session, runtime: Runtime, fires: list[_Fire]) -> list[Dispatch]:
    """Executions (unique per instant: a fire another ticker recorded is dropped) and their
    jobs, in bulk."""
    if not fires:
        session.flush()
        return []
    now = utc_now()  # when things happen (``instant`` is when they were due)
    reports = {
        r.id: r
        for r in session.scalars(
            select(models.ReportDefinition).where(
                models.ReportDefinition.id.in_({f.row.report_id for f in fires})
            )
        )
    }
    insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = session.execute(
        insert_(Execution.__table__)  # type: ignore[arg-type]
        .values(
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": f.row.tenant_id,
                    "schedule_id": f.row.id,
                    "scheduled_for": f.instant,
                    "trigger": "schedule",
                    "status": "pending",
                    "metadata": {"attempts": []},  # the column behind ``details``
                    "retry_count": 0,
                    "created_at": now,
                }
                for f in fires
            ]
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_for"])
        .returning(Execution.__table__.c.id, Execution.__table__.c.schedule_id)
    ).all()
    execution_of = {schedule_id: execution_id for execution_id, schedule_id in created}
    jobs: list[dict[str, Any]] = []
    outcome: list[dict[str, Any]] = []
    for fire in fires:
        execution_id = execution_of.get(fire.row.id)
        if execution_id is None:
            continue  # another scheduler recorded this fire first
        job, error = _job_for(fire, reports.get(fire.row.report_id), now)
        if job is None:
            outcome.append({"eid": execution_id, "new_status": "failed", "job": None,
                            "error": f"not started: {error}", "done": now})  # fmt: skip
            continue
        jobs.append(job)
        outcome.append({"eid": execution_id, "new_status": "running", "job": job["id"],
                        "error": None, "done": None})  # fmt: skip
    if jobs:
        session.execute(insert(models.ReportJob.__table__), jobs)  # type: ignore[arg-type]
    if outcome:
        table = Execution.__table__  # Core executemany: one statement for all
        session.execute(
            update(table)  # type: ignore[arg-type]
            .where(table.c.id == bindparam("eid"))
            .values(
                status=bindparam("new_status"),
                job_id=bindparam("job"),
                error_message=bindparam("error"),
                completed_at=bindparam("done"),
                started_at=now,
            ),
            outcome,
        )
    session.flush()
    projections.project_fires(
        session, [f.row for f in fires if f.row.id in execution_of], status="running"
    )
    return [(job["id"], job["priority"]) for job in jobs]


def _job_for(
    fire: _Fire, report: models.ReportDefinition | None, now: datetime
) -> tuple[dict[str, Any] | None, str | None]:
    """The job row for a fire: parameters rendered at its instant and checked, as submit
    would; or why it cannot start."""
    row = fire.row
    if report is None:
        return None, "the report was deleted"
    if not has_query(report):
        return None, NO_QUERY
    zone = ZoneInfo(row.timezone)
    try:
        values = parameters.normalized(
            resolve_for_fire(report.parameters or [], row.parameters or {}, fire.instant, zone)
        )
    except (parameters.ParameterErrors, expressions.ExpressionError) as exc:
        return None, str(exc)
    # Core insert: the columns the ORM would default are given here.
    return {
        "id": uuid.uuid4(),
        **job_fields(report, values, created_by=row.created_by, priority="low"),
        "created_at": now,
        "attempts": 0,
        "cached": False,
        "rows_fetched": 0,
    }, None


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


def run_now(
    session: Session, runtime: Runtime, row: Schedule
) -> tuple[models.ReportExecution, Dispatch | None]:
    """An execution outside the cadence (on-demand priority), and the job to dispatch."""
    execution = Execution(
        tenant_id=row.tenant_id,
        schedule_id=row.id,
        scheduled_for=utc_now(),
        trigger="manual",
        status="pending",
        details={"attempts": []},
    )
    try:
        with session.begin_nested():
            session.add(execution)
            session.flush()
    except IntegrityError:  # unique on (schedule, instant): two runs in the same microsecond
        raise Conflict("a run of this schedule started at this very instant already") from None
    return execution, submit_attempt(session, runtime, row, execution, priority="high")


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
