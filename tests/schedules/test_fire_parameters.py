"""A fire's parameters are one set: worked out once, when its execution is recorded, in the
schedule's zone at the fire's instant — the values the preview promised — and reused by every
attempt. A parameter the schedule leaves out takes the report's default in the report's zone.

Each case is checked against dates worked out here with zoneinfo alone, not by the code under
test."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.reports.parameters import resolve_templated
from broadsheet.runtime import Runtime
from broadsheet.schedules import executions, ticker
from broadsheet.schedules.service import ScheduleService
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id

SCHEDULES = "/api/v1/schedules"
ZONES = ["Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"]
# No timezone (UTC), and one a day ahead of UTC at the instant below.
REPORT_ZONES = ["UTC", "Asia/Tokyo"]
# 20:00 UTC on the last day of November: already December in Kolkata, Lord Howe and Tokyo,
# still November in New York and UTC.
INSTANT = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
START = "{{now().startOfMonth().minusMonths(1)}}"
END_DEFAULT = "{{now().startOfMonth().minusDays(1)}}"
QUERY = (
    "SELECT strategy, COUNT(*) AS trades FROM trades"
    " WHERE trade_date BETWEEN :startDate AND :endDate GROUP BY strategy"
)


def previous_month(instant: datetime, zone: str) -> tuple[date, date]:
    """The first and last day of the month before ``instant``'s month in ``zone``."""
    first_of_this = instant.astimezone(ZoneInfo(zone)).date().replace(day=1)
    last_of_previous = first_of_this - timedelta(days=1)
    return last_of_previous.replace(day=1), last_of_previous


def expected(instant: datetime, schedule_zone: str, report_zone: str) -> dict[str, str]:
    """startDate from the schedule's template (its zone); endDate the report's default (its
    zone)."""
    return {
        "startDate": previous_month(instant, schedule_zone)[0].isoformat(),
        "endDate": previous_month(instant, report_zone)[1].isoformat(),
    }


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def change(session: Session, model: Any, row_id: Any, **values: Any) -> None:
    """Set ``values`` on one row, behind the API's back (as time or another user would)."""
    row_id = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id))
    session.execute(update(model).where(model.id == row_id).values(**values))


def prepare_report(
    client: TestClient, caller: Caller, sessions: sessionmaker[Session], zone: str
) -> str:
    """The demo's Usage Summary in ``zone``, its endDate defaulting to an expression."""
    rid = report_id(client, caller, "Usage Summary")
    end = {"name": "endDate", "label": "End", "type": "date", "required": True,
           "defaultValue": END_DEFAULT}  # fmt: skip
    start = {"name": "startDate", "label": "Start", "type": "date", "required": True}
    with session_scope(sessions) as session:
        change(session, models.ReportDefinition, rid, timezone=zone, query=QUERY,
               visualizations=[], parameters=[start, end])  # fmt: skip
    return rid


def create_schedule(
    client: TestClient, caller: Caller, rid: str, zone: str, **changes: Any
) -> dict[str, Any]:
    local = INSTANT.astimezone(ZoneInfo(zone))
    body: dict[str, Any] = {
        "reportId": rid,
        "name": f"Monthly in {zone}",
        "schedule": f"{local.minute} {local.hour} * * *",  # INSTANT is one of its fires
        "timezone": zone,
        "parameters": {"startDate": START},
        "recipients": [],
        "exportFormat": "csv",
    }
    body.update(changes)
    response = client.post(SCHEDULES, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def preview_at(
    sessions: sessionmaker[Session], settings: Settings, schedule_id: str, instant: datetime
) -> dict[str, Any]:
    with sessions() as session:
        row = session.get(models.ReportSchedule, uuid.UUID(schedule_id))
        assert row is not None
        service = ScheduleService(session, settings)
        (fire,) = service.preview(row, count=1, after=instant - timedelta(seconds=1))
    assert fire.utc == instant
    assert fire.parameters is not None
    return fire.parameters


def job_parameters(sessions: sessionmaker[Session], job_id: uuid.UUID) -> dict[str, Any]:
    with sessions() as session:
        job = session.get(models.ReportJob, job_id)
        assert job is not None and job.parameters is not None
        return dict(job.parameters)


def the_execution(sessions: sessionmaker[Session], schedule_id: str) -> models.ReportExecution:
    with sessions() as session:
        rows = (
            session.query(models.ReportExecution)
            .filter(models.ReportExecution.schedule_id == uuid.UUID(schedule_id))
            .all()
        )
    assert len(rows) == 1
    return rows[0]


@dataclass(frozen=True)
class Case:
    """A report in ``report_zone`` scheduled in ``zone``: its ids and zones."""

    report_id: str
    schedule: dict[str, Any]
    zone: str
    report_zone: str

    def expected(self, instant: datetime) -> dict[str, str]:
        return expected(instant, self.zone, self.report_zone)


@pytest.fixture(params=[(z, r) for z in ZONES for r in REPORT_ZONES], ids="-".join)
def case(
    request: pytest.FixtureRequest,
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
) -> Case:
    zone, report_zone = request.param
    rid = prepare_report(client, admin, sessions, report_zone)
    return Case(rid, create_schedule(client, admin, rid, zone), zone, report_zone)


def wait_job(sessions: sessionmaker[Session], job_id: uuid.UUID, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sessions() as session:
            job = session.get(models.ReportJob, job_id)
            assert job is not None
            if job.status == status:
                return
            assert job.status in ("queued", "processing"), (job.status, job.error)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never became {status}")


def test_a_scheduled_fire_runs_with_the_previews_values(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    settings: Settings,
    case: Case,
) -> None:
    schedule = case.schedule
    want = case.expected(INSTANT)
    assert preview_at(sessions, settings, schedule["id"], INSTANT) == want
    with session_scope(sessions) as session:
        change(session, models.ReportSchedule, schedule["id"], next_run_at=INSTANT)
    assert len(ticker.tick(runtime, INSTANT + timedelta(seconds=20))) == 1
    execution = the_execution(sessions, schedule["id"])
    assert execution.scheduled_for == INSTANT
    assert execution.parameters == want
    assert execution.job_id is not None
    assert job_parameters(sessions, execution.job_id) == want
    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    assert shown["parameters"] == want


def test_run_now_resolves_at_the_request_in_the_schedules_zone(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    settings: Settings,
    case: Case,
) -> None:
    schedule, zone = case.schedule, case.zone
    started = client.post(f"{SCHEDULES}/{schedule['id']}/run", headers=admin.headers)
    assert started.status_code == 202, started.text
    body = started.json()
    instant = datetime.fromisoformat(body["scheduledFor"])
    want = case.expected(instant)
    assert body["parameters"] == want
    assert job_parameters(sessions, uuid.UUID(body["jobId"])) == want
    # What the preview gives for a fire at that instant, with the same function.
    with sessions() as session:
        row = session.get(models.ReportSchedule, uuid.UUID(schedule["id"]))
        assert row is not None
        report = session.get(models.ReportDefinition, row.report_id)
        assert report is not None
        assert resolve_templated(report, row.parameters or {}, instant, ZoneInfo(zone)) == want


def test_a_retry_a_day_later_runs_with_the_first_attempts_values(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    settings: Settings,
    case: Case,
) -> None:
    rid, schedule = case.report_id, case.schedule
    want = case.expected(INSTANT)
    broken = QUERY.replace("FROM trades", "FROM table_that_went_away")
    with session_scope(sessions) as session:
        change(session, models.ReportDefinition, rid, query=broken)
        change(session, models.ReportSchedule, schedule["id"], next_run_at=INSTANT)
    ticker.tick(runtime, INSTANT + timedelta(seconds=20))
    first = the_execution(sessions, schedule["id"])
    assert first.job_id is not None
    wait_job(sessions, first.job_id, "failed")
    executions.advance(runtime, INSTANT + timedelta(seconds=30))
    retrying = the_execution(sessions, schedule["id"])
    assert retrying.status == "retrying" and retrying.parameters == want
    waiting = client.get(f"/api/v1/executions/{retrying.id}", headers=admin.headers).json()
    assert waiting["status"] == "retrying" and waiting["attempts"] == 1  # the retry is not made yet
    # Before the retry: the source is mended, and someone edits the schedule's templates and
    # zone. The retry still makes the report this fire promised.
    with session_scope(sessions) as session:
        change(session, models.ReportDefinition, rid, query=QUERY)
        change(
            session,
            models.ReportSchedule,
            schedule["id"],
            timezone="Pacific/Kiritimati",
            parameters={"startDate": "{{today()}}"},
        )
    executions.advance(runtime, INSTANT + timedelta(days=1))
    second = the_execution(sessions, schedule["id"])
    assert second.status == "running" and second.job_id not in (None, first.job_id)
    assert second.job_id is not None
    assert job_parameters(sessions, second.job_id) == want
    running = client.get(f"/api/v1/executions/{second.id}", headers=admin.headers).json()
    assert running["status"] == "running" and running["attempts"] == 2
    wait_job(sessions, second.job_id, "completed")
    executions.advance(runtime, INSTANT + timedelta(days=1, seconds=5))
    done = client.get(f"/api/v1/executions/{second.id}", headers=admin.headers).json()
    assert done["status"] == "completed" and done["parameters"] == want
    assert done["attempts"] == 2


def test_a_retry_whose_report_is_gone_fails_with_that_reason(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    settings: Settings,
) -> None:
    """A report deleted while its fire waits for a retry. Deleting a report deletes its
    schedules and their executions with it, so the state is made by removing the report row
    alone, foreign keys off, as a deletion racing the retry would leave it."""
    rid = prepare_report(client, admin, sessions, "UTC")
    schedule = create_schedule(client, admin, rid, "UTC")
    with session_scope(sessions) as session:
        change(session, models.ReportSchedule, schedule["id"], next_run_at=INSTANT)
    ticker.tick(runtime, INSTANT + timedelta(seconds=20))
    execution = the_execution(sessions, schedule["id"])
    with session_scope(sessions) as session:
        change(
            session,
            models.ReportExecution,
            execution.id,
            status="retrying",
            next_attempt_at=INSTANT + timedelta(minutes=1),
        )
    sqlite = runtime.engine.dialect.name == "sqlite"
    with runtime.engine.connect() as conn:
        conn.execute(
            text("PRAGMA foreign_keys=OFF" if sqlite else "SET session_replication_role = replica")
        )
        conn.execute(
            delete(models.ReportDefinition).where(models.ReportDefinition.id == uuid.UUID(rid))
        )
        conn.commit()
        conn.execute(
            text("PRAGMA foreign_keys=ON" if sqlite else "SET session_replication_role = DEFAULT")
        )
    assert executions.advance(runtime, INSTANT + timedelta(hours=1)) == []
    failed = the_execution(sessions, schedule["id"])
    assert failed.status == "failed"
    assert failed.error_message == "not started: the report was deleted"
