"""The scheduler for real: due fires run once, downtime does not storm, retries back off,
and three schedulers against one database execute every fire exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.db import make_engine, session_scope
from broadsheet.kit.backoff import backoff
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from broadsheet.schedules import executions, ticker
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id

SCHEDULES = "/api/v1/schedules"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def create(client: TestClient, caller: Caller, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reportId": report_id(client, caller, "Usage Summary"),
        "name": "Hourly usage",
        "schedule": "0 * * * *",
        "parameters": {"startDate": "{{today().minusDays(7)}}", "endDate": "{{today()}}"},
        "recipients": [],
        "exportFormat": "csv",
    }
    body.update(changes)
    response = client.post(SCHEDULES, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def set_next_run(sessions: sessionmaker[Session], schedule_id: str, when: datetime) -> None:
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportSchedule)
            .where(models.ReportSchedule.id == uuid.UUID(schedule_id))
            .values(next_run_at=when)
        )


def executions_of(
    sessions: sessionmaker[Session], schedule_id: str
) -> list[models.ReportExecution]:
    with sessions() as session:
        return list(
            session.scalars(
                select(models.ReportExecution)
                .where(models.ReportExecution.schedule_id == uuid.UUID(schedule_id))
                .order_by(models.ReportExecution.scheduled_for)
            )
        )


def settle(runtime: Runtime, sessions: sessionmaker[Session], execution_id: uuid.UUID) -> str:
    """Advance until the execution leaves running/retrying (the local executor runs jobs)."""
    deadline = time.monotonic() + 30
    while True:
        executions.advance(runtime)
        with sessions() as session:
            row = session.get(models.ReportExecution, execution_id)
            assert row is not None
            if row.status in ("completed", "failed"):
                return row.status
        assert time.monotonic() < deadline, row.status
        time.sleep(0.05)


def test_a_due_fire_runs_once_with_parameters_of_its_instant(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    schedule = create(client, admin)
    due = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
    set_next_run(sessions, schedule["id"], due)
    now = due + timedelta(seconds=20)
    dispatched = ticker.tick(runtime, now)
    assert len(dispatched) == 1 and dispatched[0][1] == "low"
    assert ticker.tick(runtime, now) == []  # the next tick finds nothing more to do
    (execution,) = executions_of(sessions, schedule["id"])
    assert execution.scheduled_for == due and execution.trigger == "schedule"
    with sessions() as session:
        job = session.get(models.ReportJob, execution.job_id)
        row = session.get(models.ReportSchedule, uuid.UUID(schedule["id"]))
        assert job is not None and row is not None
        assert job.parameters == {"startDate": "2024-04-29", "endDate": "2024-05-06"}
        assert job.priority == "low"
        assert row.last_run_at == due and row.next_run_at is not None and row.next_run_at > now
    assert settle(runtime, sessions, execution.id) == "completed"
    history = client.get(f"{SCHEDULES}/{schedule['id']}/executions", headers=admin.headers)
    (entry,) = history.json()
    assert entry["status"] == "completed" and entry["resultId"]
    assert entry["artifact"]["format"] == "csv" and entry["artifact"]["size"] > 0
    assert entry["scheduledFor"] == "2024-05-06T14:00:00Z"
    export = client.get(entry["artifact"]["href"], headers=admin.headers)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    listed = client.get(SCHEDULES, headers=admin.headers).json()
    assert next(s for s in listed if s["id"] == schedule["id"])["lastRunStatus"] == "completed"


@pytest.mark.parametrize(
    ("policy", "grace", "expected"),
    [("run_once", 3600, 1), ("skip", 3600, 0), ("run_once", 60, 0)],
)
def test_three_hours_down(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    policy: str,
    grace: int,
    expected: int,
) -> None:
    schedule = create(client, admin, misfirePolicy=policy, misfireGraceSeconds=grace)
    stopped = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)  # due when the scheduler stopped
    set_next_run(sessions, schedule["id"], stopped)
    back = stopped + timedelta(hours=3, minutes=20)  # three hourly fires missed, and one more
    ticker.tick(runtime, back)
    ticker.tick(runtime, back + timedelta(seconds=5))
    runs = executions_of(sessions, schedule["id"])
    assert len(runs) == expected  # never a storm of catch-up runs
    if expected:
        assert runs[0].scheduled_for == datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # the latest
    with sessions() as session:
        row = session.get(models.ReportSchedule, uuid.UUID(schedule["id"]))
        view = session.get(models.ScheduledReportView, uuid.UUID(schedule["id"]))
    following = datetime(2024, 5, 6, 13, 0, tzinfo=UTC)
    assert row is not None and row.next_run_at == following
    # A skipped misfire is not a run: the last run stays as it was (none).
    assert row.last_run_at == (runs[0].scheduled_for if expected else None)
    assert view is not None and view.next_run_at == following
    assert view.last_run_at == row.last_run_at
    assert view.last_run_status == ("running" if expected else None)


def test_one_tick_shares_its_batch_out_over_connections(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two connections (PostgreSQL; SQLite uses one) each take rows the other has not
    locked: every due schedule fires once, and a full batch leaves the rest for next tick."""
    assert runtime.settings.scheduler_connections == 2
    monkeypatch.setattr(ticker, "BATCH", 10)
    ids = [create(client, admin, name=f"s{i}")["id"] for i in range(15)]
    due = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
    for schedule_id in ids:
        set_next_run(sessions, schedule_id, due)
    now = due + timedelta(seconds=20)
    first, second = ticker.tick(runtime, now), ticker.tick(runtime, now)
    assert (len(first), len(second)) == (10, 5)
    assert ticker.tick(runtime, now) == []
    jobs = {job_id for job_id, _ in first + second}
    assert len(jobs) == 15
    with sessions() as session:
        fired = session.execute(
            select(models.ReportExecution.schedule_id, models.ReportExecution.job_id)
        ).all()
        views = session.scalars(
            select(models.ScheduledReportView.last_run_status).where(
                models.ScheduledReportView.id.in_([uuid.UUID(i) for i in ids])
            )
        ).all()
    assert sorted(str(schedule_id) for schedule_id, _ in fired) == sorted(ids)
    assert {job_id for _, job_id in fired} == jobs
    assert views == ["running"] * 15


def test_run_now_and_pause(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    schedule = create(client, admin, exportFormat="excel")
    client.post(f"{SCHEDULES}/{schedule['id']}/pause", headers=admin.headers)
    started = client.post(f"{SCHEDULES}/{schedule['id']}/run", headers=admin.headers)
    assert started.status_code == 202, started.text
    execution = started.json()
    assert execution["trigger"] == "manual" and execution["status"] == "running"
    assert settle(runtime, sessions, uuid.UUID(execution["id"])) == "completed"
    done = client.get(f"/api/v1/executions/{execution['id']}", headers=admin.headers).json()
    assert done["artifact"]["format"] == "excel"
    set_next_run(sessions, schedule["id"], utc_now() - timedelta(minutes=1))
    assert ticker.tick(runtime) == []  # paused: the tick leaves it alone


def test_failed_generations_retry_with_backoff(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    settings: Settings,
) -> None:
    schedule = create(client, admin)
    with session_scope(sessions) as session:  # the data source breaks after the schedule is made
        session.execute(
            update(models.ReportDefinition)
            .where(models.ReportDefinition.id == uuid.UUID(schedule["reportId"]))
            .values(query="SELECT * FROM table_that_went_away")
        )
    started = client.post(f"{SCHEDULES}/{schedule['id']}/run", headers=admin.headers).json()
    execution_id = uuid.UUID(started["id"])
    assert settle(runtime, sessions, execution_id) == "failed"
    with sessions() as session:
        row = session.get(models.ReportExecution, execution_id)
        assert row is not None
        assert row.details is not None
        attempts = row.details["attempts"]
        assert row.retry_count == settings.schedule_max_retries
        assert len(attempts) == settings.schedule_max_retries + 1
        assert all("table_that_went_away" in a["error"] for a in attempts)
        assert "table_that_went_away" in (row.error_message or "")


def test_backoff_grows() -> None:
    delays = [backoff(60, n).total_seconds() for n in range(4)]
    for n, delay in enumerate(delays):
        assert 60 * 2**n <= delay <= 60 * 2**n * 1.2


def test_three_schedulers_fire_every_instant_exactly_once(
    tenancy: Tenancy, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """No app and no executor here: three tickers, each with its own engine, over a day."""
    from broadsheet.auth import service as auth
    from broadsheet.schedules.schemas import ReportScheduleWrite
    from broadsheet.schedules.service import ScheduleService

    tenancy.demo("acme")
    with session_scope(sessions) as session:
        owner = auth.system_principal(session, "acme", "owner")
        report = session.scalar(
            select(models.ReportDefinition.id).where(
                models.ReportDefinition.name == "Usage Summary"
            )
        )
        service = ScheduleService(session, settings)
        ids = [
            str(
                service.create(
                    owner,
                    ReportScheduleWrite.model_validate(
                        {
                            "reportId": report,
                            "name": f"quarter {i}",
                            "schedule": "*/15 * * * *",
                            "parameters": {"startDate": "2024-01-01", "endDate": "2024-01-07"},
                        }
                    ),
                ).id
            )
            for i in range(8)
        ]
    start = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)
    for schedule_id in ids:
        set_next_run(sessions, schedule_id, start)
    runtimes = [
        Runtime.build(settings, make_engine(settings.resolved_database_url)) for _ in range(3)
    ]
    errors: list[BaseException] = []
    instants = [start + timedelta(minutes=15 * i, seconds=10) for i in range(96)]  # a day

    # The three share one clock, as real schedulers do: each simulated instant, all three
    # tick at once, and none goes on to the next instant before the others are done.
    together = threading.Barrier(len(runtimes))

    def ticker_loop(runtime: Runtime) -> None:
        try:
            for now in instants:
                together.wait(timeout=60)
                ticker.tick(runtime, now)
        except BaseException as exc:  # reported below
            errors.append(exc)
            together.abort()

    threads = [threading.Thread(target=ticker_loop, args=(r,)) for r in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for runtime in runtimes:
        runtime.engine.dispose()
    assert errors == []
    with sessions() as session:
        rows = session.execute(
            select(models.ReportExecution.schedule_id, models.ReportExecution.scheduled_for).where(
                models.ReportExecution.schedule_id.in_([uuid.UUID(i) for i in ids])
            )
        ).all()
        jobs = session.scalar(select(func.count()).select_from(models.ReportJob))
    expected = {(uuid.UUID(i), start + timedelta(minutes=15 * n)) for i in ids for n in range(96)}
    assert len(rows) == len(expected) == 8 * 96
    assert set(rows) == expected
    assert jobs == len(expected)
