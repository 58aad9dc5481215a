"""The scheduler: find due schedules, fire each due instant once, and see executions through.

No leader. Any number of schedulers (and embedded ``serve`` processes) tick at once: a
schedule's fire is claimed by a conditional update of its ``next_run_at`` (and, on
PostgreSQL, rows locked by another ticker are skipped), and an execution is unique on
(schedule, scheduled instant), so a fire is never executed twice and never skipped.

After downtime only the latest missed fire can run (``misfirePolicy`` ``run_once``, within
``misfireGraceSeconds``) or none (``skip``): never a storm of catch-up runs.

A report's fire queues the report's job. A dashboard's fire queues none of its own: its
execution is recorded ``running`` with its filter values, due for its PDF, which
:mod:`.dashboard_runs` makes (the widgets' jobs are queued then).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Text, cast, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broadsheet import models, tracing
from broadsheet.auth.principal import Principal
from broadsheet.db import session_scope
from broadsheet.errors import BroadsheetError, Conflict, NotFound
from broadsheet.events import about as events
from broadsheet.jobs.service import NO_QUERY, JobService, has_query, job_fields
from broadsheet.kit import bulk
from broadsheet.kit.time import utc_now
from broadsheet.metrics import record as metrics
from broadsheet.models import JobTrigger, Role
from broadsheet.reports import parameters
from broadsheet.runtime import Runtime
from broadsheet.schedules import cron, projections
from broadsheet.schedules.filter_values import fire_filters

log = logging.getLogger(__name__)
Schedule = models.ReportSchedule
Execution = models.ReportExecution
BATCH = 1000
MAX_MISSED = 100_000  # fires looked at, at most, to find the latest missed one
PAGE = 16

Dispatch = tuple[uuid.UUID, str]  # (job id, priority) to hand to the executor after commit
REPORT_DELETED = "the report was deleted"
DASHBOARD_DELETED = "the dashboard was deleted"


def tick(runtime: Runtime, now: datetime | None = None) -> list[Dispatch]:
    """Fire the due schedules (up to :data:`BATCH`) once. Returns the jobs to dispatch.

    On PostgreSQL the batch is shared out over ``scheduler_connections`` transactions at
    once, each taking rows the others have not locked: the database's share of a fire (its
    row writes, index entries and foreign-key checks) is most of its cost, and this spreads it
    over the database's cores. A connection that fails is logged and its schedules stay due
    for the next tick; only if all fail does the tick raise.
    """
    now = now or utc_now()
    connections = runtime.settings.scheduler_connections
    walks: dict[tuple[Any, ...], Walk | None] = {}
    if connections == 1 or runtime.engine.dialect.name != "postgresql":
        return _fire_batch(runtime, now, BATCH, walks)
    share = -(-BATCH // connections)
    with ThreadPoolExecutor(connections, thread_name_prefix="broadsheet-tick") as pool:
        futures = [pool.submit(_fire_batch, runtime, now, share, walks) for _ in range(connections)]
    dispatches: list[Dispatch] = []
    errors: list[BaseException] = []
    for future in futures:
        if (error := future.exception()) is not None:
            log.error("a share of the tick failed; its schedules stay due", exc_info=error)
            errors.append(error)
        else:
            dispatches.extend(future.result())
    if len(errors) == connections:
        raise errors[0]
    return dispatches


def _fire_batch(
    runtime: Runtime, now: datetime, limit: int, walks: dict[tuple[Any, ...], Walk | None]
) -> list[Dispatch]:
    """Fire up to ``limit`` due schedules in one transaction.

    Set-based: one query reads the due schedules (plain rows, not ORM objects), one more
    their reports, and claims, jobs, executions and the read model are written in one
    statement each. Fires of one cadence due at one instant (people pick round hours)
    share a cron walk and a parameter rendering.
    """
    on_time = timedelta(seconds=max(runtime.settings.scheduler_tick_seconds * 3, 60))
    with session_scope(runtime.sessions) as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        query = (
            select(*_DUE_COLUMNS)
            .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(limit)
        )
        if postgres:  # rows another ticker holds are skipped; ours stay ours until commit
            query = query.with_for_update(skip_locked=True)
        planner = _Planner(now, on_time, walks)
        plans = [plan for row in session.execute(query) if (plan := planner.plan(row))]
        _pause_broken(session, planner.broken)
        plans = _claim(session, plans, locked=postgres)
        created = _start_all(session, [p for p in plans if p.fires])
        projections.project_fires(
            session,
            [
                (p.row.id, p.following, p.latest, created[p.row.id][1])
                if p.row.id in created
                else (p.row.id, p.following, None, None)
                for p in plans
            ],
        )
    # Committed: each fire recorded here started at this tick, this long after its instant.
    metrics.fire_lags(now - p.latest for p in plans if p.row.id in created)
    return [dispatch for dispatch, _ in created.values() if dispatch is not None]


# What a tick reads of a due schedule: enough to plan and start its fire.
_DUE_COLUMNS = (
    Schedule.id,
    Schedule.tenant_id,
    Schedule.report_id,
    Schedule.dashboard_id,
    Schedule.schedule,
    Schedule.timezone,
    Schedule.business_days_only,
    Schedule.holiday_calendar,
    # As text: the preparer's cache key, decoded only for the first fire that has it.
    cast(Schedule.parameters, Text).label("parameters"),
    Schedule.misfire_policy,
    Schedule.misfire_grace_seconds,
    Schedule.next_run_at,
    Schedule.created_by,
)


# A row of _DUE_COLUMNS.
DueRow = Row[*tuple[Any, ...]]


@dataclass
class _Plan:
    """A due schedule: its latest due instant, whether that fires, and its next run."""

    row: DueRow
    latest: datetime
    following: datetime | None
    fires: bool


# A due schedule's latest fire at or before now, and its next after now (None: no more).
Walk = tuple[datetime, datetime | None]


class _Planner:
    """Plans each due schedule, walking a cadence once per (cadence, due instant).

    ``walks`` may be shared by the planners of one tick's connections.
    """

    def __init__(
        self, now: datetime, on_time: timedelta, walks: dict[tuple[Any, ...], Walk | None]
    ) -> None:
        self.now = now
        self.on_time = on_time
        self.walks = walks
        self.broken: list[uuid.UUID] = []

    def plan(self, row: DueRow) -> _Plan | None:
        due = row.next_run_at
        key = (row.schedule, row.timezone, row.business_days_only, row.holiday_calendar, due)
        if key not in self.walks:
            self.walks[key] = self._walk(row, due)
        walk = self.walks[key]
        if walk is None:  # saved before a rule tightened: stop it, say why (logged)
            self.broken.append(row.id)
            return None
        latest, following = walk
        late = self.now - latest
        fires = late <= self.on_time or (
            row.misfire_policy != "skip" and late <= timedelta(seconds=row.misfire_grace_seconds)
        )
        if not fires:
            log.info("schedule %s missed %s; skipped by its misfire policy", row.id, latest)
        return _Plan(row, latest, following, fires)

    def _walk(self, row: DueRow, due: datetime) -> Walk | None:
        """The latest fire at or before now, and the first after it."""
        try:
            cadence = cron.Cadence.parse(
                row.schedule,
                timezone=row.timezone,
                business_days_only=row.business_days_only,
                holiday_calendar=row.holiday_calendar,
            )
        except cron.CronError as exc:
            log.error("schedule %s has an invalid cadence (%s); pausing it", row.id, exc)
            return None
        return _window(cadence, due, self.now)


def _pause_broken(session: Session, ids: list[uuid.UUID]) -> None:
    if ids:
        session.execute(update(Schedule).where(Schedule.id.in_(ids)).values(enabled=False))
        session.execute(
            update(models.ScheduledReportView)
            .where(models.ScheduledReportView.id.in_(ids))
            .values(enabled=False)
        )


def _claim(session: Session, plans: list[_Plan], locked: bool) -> list[_Plan]:
    """Advance each schedule's next run; the plans this ticker won.

    On PostgreSQL the rows are locked by the select, so one statement advances them all.
    SQLite has no row locks: each schedule is claimed by moving ``next_run_at`` on from the
    value read, and a schedule another ticker moved first is left to it.
    """
    # Only a fire is a run: a skipped misfire leaves the last run as it was.
    rows = [{"id": p.row.id, "next_run_at": p.following,
             "last_run_at": p.latest if p.fires else None} for p in plans]  # fmt: skip
    if locked:
        bulk.update_rows(session, Schedule, rows, values=_advanced)
        return plans
    won = []
    for plan, row in zip(plans, rows, strict=True):
        claimed = session.execute(
            update(Schedule)
            .where(Schedule.id == plan.row.id, Schedule.next_run_at == plan.row.next_run_at)
            .values(**_advanced(row))
        )
        if claimed.rowcount:  # type: ignore[attr-defined]
            won.append(plan)
    return won


def _advanced(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A claimed schedule's new next run, and its last run unless none is given."""
    return {
        "next_run_at": fields["next_run_at"],
        "last_run_at": func.coalesce(fields["last_run_at"], Schedule.last_run_at),
    }


# The outcome of a fire: the job to dispatch, if one was queued, and the execution's status.
Started = tuple[Dispatch | None, str]


def _start_all(session: Session, fires: list[_Plan]) -> dict[uuid.UUID, Started]:
    """Jobs and executions for the fires, in bulk, by schedule id.

    An execution is unique per (schedule, instant): a fire another ticker already recorded
    is dropped, with the job made for it.
    """
    if not fires:
        return {}
    now = utc_now()  # when things happen (a fire's ``latest`` is when it was due)
    wanted = {f.row.report_id for f in fires if f.row.report_id is not None}
    query = select(models.ReportDefinition).where(models.ReportDefinition.id.in_(wanted))
    reports = {r.id: r for r in session.scalars(query)} if wanted else {}
    prepare = _JobPreparer(reports)
    boards = _FilterPreparer(session, {f.row.dashboard_id for f in fires} - {None})
    jobs: dict[uuid.UUID, dict[str, Any]] = {}
    executions: list[dict[str, Any]] = []
    for fire in fires:
        row = fire.row
        if row.dashboard_id is not None:
            executions.append(_dashboard_execution(row, fire.latest, boards(row, fire.latest), now))
            continue
        job, error = prepare(row, fire.latest)
        if job is not None:
            job["id"] = uuid.uuid4()
            jobs[row.id] = job
        executions.append(
            {
                "tenant_id": row.tenant_id,
                "schedule_id": row.id,
                "scheduled_for": fire.latest,
                "status": "running" if job else "failed",
                "job_id": job["id"] if job else None,
                "parameters": job["parameters"] if job else None,
                "error_message": None if job else f"not started: {error}",
                "completed_at": None if job else now,
                "next_attempt_at": None,
            }
        )
    for execution in executions:  # ids known now: a fire that cannot start emits its event
        execution["id"] = uuid.uuid4()
    fire_spans = tracing.FireSpans()  # each fire roots a trace; its context stays in details
    for execution in executions:
        trace = fire_spans.start(
            execution["schedule_id"],
            execution_id=execution["id"],
            job_id=execution["job_id"],
            tenant_id=execution["tenant_id"],
            scheduled_for=execution["scheduled_for"].isoformat(),
        )
        execution["metadata"] = {"attempts": [], **trace}  # the column behind ``details``
    # Jobs first: executions refer to them.
    bulk.insert_rows(
        session,
        models.ReportJob,
        list(jobs.values()),
        # Core insert: the columns the ORM would default are given here.
        same={"created_at": now, "attempts": 0, "cached": False, "rows_fetched": 0},
    )
    recorded = set(
        bulk.insert_rows(
            session,
            Execution,
            executions,
            same={
                "trigger": "schedule",
                "started_at": now,
                "retry_count": 0,
                "created_at": now,
            },
            skip_conflicts_on=["schedule_id", "scheduled_for"],
            returning=Execution.schedule_id,
        )
    )
    fire_spans.end({sid: jobs[sid]["id"] if sid in jobs else None for sid in recorded})
    dropped = [job["id"] for sid, job in jobs.items() if sid not in recorded]
    if dropped:  # another scheduler recorded these fires first
        session.execute(delete(models.ReportJob).where(models.ReportJob.id.in_(dropped)))
    started: dict[uuid.UUID, Started] = {}
    for execution in executions:
        sid = execution["schedule_id"]
        if sid in recorded:
            job = jobs.get(sid)
            dispatch = (job["id"], job["priority"]) if job else None
            started[sid] = (dispatch, execution["status"])
    _not_started_events(session, executions, recorded)
    return started


def _not_started_events(
    session: Session, executions: list[dict[str, Any]], recorded: set[uuid.UUID]
) -> None:
    """The event of each fire recorded as failed because it could not start."""
    for execution in executions:
        if execution["status"] == "failed" and execution["schedule_id"] in recorded:
            failed = session.get(Execution, execution["id"])
            if failed is not None:
                events.execution_ended(session, failed)


def _dashboard_execution(
    row: DueRow, instant: datetime, values: Prepared, now: datetime
) -> dict[str, Any]:
    """A dashboard's fire: running with its filter values, its PDF due at once; or failed,
    saying why it cannot start."""
    resolved, error = values
    return {
        "tenant_id": row.tenant_id,
        "schedule_id": row.id,
        "scheduled_for": instant,
        "status": "running" if resolved is not None else "failed",
        "job_id": None,
        "parameters": resolved,
        "error_message": None if resolved is not None else f"not started: {error}",
        "completed_at": None if resolved is not None else now,
        "next_attempt_at": now if resolved is not None else None,
    }


# A fire's job fields (or a dashboard's filter values), or None and why it cannot start.
Prepared = tuple[dict[str, Any] | None, str | None]


class _JobPreparer:
    """A fire's job fields — parameters rendered at its instant and checked, as submit
    would — or why it cannot start. Fires of one report with the same parameter templates,
    instant and zone get the same values, so each is worked out once per tick."""

    def __init__(self, reports: dict[uuid.UUID, models.ReportDefinition]) -> None:
        self.reports = reports
        self.known: dict[tuple[Any, ...], Prepared] = {}

    def __call__(self, row: DueRow, instant: datetime) -> Prepared:
        key = (row.report_id, row.parameters, instant, row.timezone)
        if key not in self.known:
            templates = json.loads(row.parameters) if row.parameters else {}
            self.known[key] = self._prepare(self.reports.get(row.report_id), templates,
                                            instant, row.timezone)  # fmt: skip
        fields, error = self.known[key]
        return ({**fields, "created_by": row.created_by} if fields else None), error

    @staticmethod
    def _prepare(
        report: models.ReportDefinition | None,
        templates: dict[str, Any],
        instant: datetime,
        zone: str,
    ) -> Prepared:
        if report is None:
            return None, REPORT_DELETED
        if not has_query(report):
            return None, NO_QUERY
        try:
            values = parameters.resolve_templated(report, templates, instant, ZoneInfo(zone))
        except parameters.ParameterErrors as exc:
            return None, str(exc)
        # Shared by fires of many schedules: each sets its own creator (the schedule's).
        fields = job_fields(
            report,
            values,
            created_by=report.created_by,
            priority="low",
            trigger=JobTrigger.schedule,
        )
        return fields, None


class _FilterPreparer:
    """A dashboard fire's filter values, rendered at its instant and checked, or why it
    cannot start; worked out once per (dashboard, values, instant, zone) in a tick."""

    def __init__(self, session: Session, ids: set[uuid.UUID | None]) -> None:
        query = select(models.Dashboard).where(models.Dashboard.id.in_(ids))
        self.dashboards = {d.id: d for d in session.scalars(query)} if ids else {}
        self.known: dict[tuple[Any, ...], Prepared] = {}

    def __call__(self, row: DueRow, instant: datetime) -> Prepared:
        key = (row.dashboard_id, row.parameters, instant, row.timezone)
        if key not in self.known:
            dashboard = self.dashboards.get(row.dashboard_id)
            if dashboard is None:
                self.known[key] = None, DASHBOARD_DELETED
            else:
                templates = json.loads(row.parameters) if row.parameters else {}
                try:
                    values = fire_filters(dashboard, templates, instant, ZoneInfo(row.timezone))
                    self.known[key] = values, None
                except parameters.ParameterErrors as exc:
                    self.known[key] = None, str(exc)
        return self.known[key]


def _window(cadence: cron.Cadence, due: datetime, now: datetime) -> Walk:
    """The last fire at or before ``now`` (``due`` if none is later) and the first after it.

    Walks forward from ``due``, first one fire (the usual case: the next is already after
    ``now``), then in small pages: a scheduler back after a day of a minutely schedule looks
    at 1,440 fires, and after a very long outage at :data:`MAX_MISSED`.
    """
    latest, size, looked = due, 1, 0
    while looked < MAX_MISSED:
        page = cron.next_fires(cadence, latest, size)
        for instant in page:
            if instant > now:
                return latest, instant
            latest = instant
        if len(page) < size:  # the cadence has no more fires
            return latest, None
        looked, size = looked + size, PAGE
    return latest, cron.next_fire(cadence, now)


def run_now(
    session: Session, runtime: Runtime, row: Schedule
) -> tuple[models.ReportExecution, Dispatch | None]:
    """An execution outside the cadence (on-demand priority), and the job to dispatch (none
    for a dashboard's). Its parameters are the fire's at the instant of the request."""
    execution = Execution(
        tenant_id=row.tenant_id,
        schedule_id=row.id,
        scheduled_for=utc_now(),
        trigger="manual",
        status="pending",
        details={"attempts": [], **tracing.remembered()},  # the request's trace goes on
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
    """Queue a generation for the execution with its fire's parameters (for a dashboard's:
    make its PDF due, see :mod:`.dashboard_runs`).

    They are worked out once, at the first attempt (the ticker does it for scheduled fires),
    stored on the execution, and reused unchanged by every retry: a retry a day later makes
    the report the first attempt would have made.
    """
    now = utc_now()
    if row.dashboard_id is not None:
        _start_dashboard(session, row, execution, now)
        return None
    try:
        report = session.get(models.ReportDefinition, row.report_id) if row.report_id else None
        if report is None:
            raise NotFound(REPORT_DELETED)
        if execution.parameters is None:
            execution.parameters = parameters.resolve_templated(
                report, row.parameters or {}, execution.scheduled_for, ZoneInfo(row.timezone)
            )
        job = JobService(session, runtime.settings).submit(
            owner(session, row), report.id, execution.parameters, priority=priority,
            reference=execution.scheduled_for, trigger=JobTrigger.schedule,
        )  # fmt: skip
    except NotFound:
        _not_started(session, row, execution, REPORT_DELETED, now)
        return None
    except (BroadsheetError, parameters.ParameterErrors) as exc:
        _not_started(session, row, execution, getattr(exc, "detail", None) or str(exc), now)
        return None
    execution.status = "running"
    execution.job_id = job.id
    execution.started_at = execution.started_at or now
    execution.next_attempt_at = None
    projections.project_schedule(session, row, last_status="running")
    return (job.id, job.priority) if job.status == "queued" else None


def _start_dashboard(session: Session, row: Schedule, execution: Execution, now: datetime) -> None:
    """A dashboard's execution runs no job of its own: with its filter values (worked out at
    the first attempt, like a report's parameters) it is running, its PDF due now."""
    if execution.parameters is None:
        dashboard = session.get(models.Dashboard, row.dashboard_id)
        if dashboard is None:
            _not_started(session, row, execution, DASHBOARD_DELETED, now)
            return
        try:
            execution.parameters = fire_filters(
                dashboard, row.parameters or {}, execution.scheduled_for, ZoneInfo(row.timezone)
            )
        except parameters.ParameterErrors as exc:
            _not_started(session, row, execution, str(exc), now)
            return
    execution.status = "running"
    execution.job_id = None
    execution.started_at = execution.started_at or now
    execution.next_attempt_at = now
    projections.project_schedule(session, row, last_status="running")


def _not_started(
    session: Session, row: Schedule, execution: Execution, why: str, now: datetime
) -> None:
    execution.status, execution.error_message = "failed", f"not started: {why}"
    execution.completed_at = now
    projections.project_schedule(session, row, last_status="failed")
    session.flush()  # the execution's id, for its event
    events.execution_ended(session, execution)


def owner(session: Session, row: Schedule) -> Principal:
    """Scheduled runs act as the schedule's owner (its creator), in its tenant."""
    user = session.get(models.User, row.created_by)
    tenant = session.get(models.Tenant, row.tenant_id)
    assert user is not None
    assert tenant is not None
    return Principal(user.id, tenant.id, tenant.slug, user.name, user.email, Role(user.role))
