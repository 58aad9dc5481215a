"""``kill -9`` of a ``broadsheet scheduler`` process in the middle of its work, and another
scheduler (this test process, as a second one would) finishing it: each fire executed once,
each recipient one delivery.

- Mid-delivery: a real webhook receiver holds the scheduler's request; the scheduler is killed
  while it waits. Once the delivery's lease has run out (a controlled clock, not minutes of
  waiting), the next sender sends it again with the same ``webhook-id``, so the receiver, which
  deduplicates on it, has one delivery per recipient, and the per-recipient rows say sent.
- Mid-tick: the scheduler is killed after it claimed a due schedule, inside the transaction
  that records the fire (held there by a lock this test takes on the jobs table). PostgreSQL
  rolls that transaction back; the other scheduler fires the schedule, once.

Runbook: docs/operations.md, "A worker or scheduler was killed"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.deliveries import service as deliveries
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from broadsheet.schedules import ticker
from tests.deliveries.httpserver import Recorded, RecordingServer, Reply
from tests.deliveries.test_delivery_flow import fire_schedule
from tests.factories import Caller
from tests.faults.conftest import MakeClient, eventually, results_per_job
from tests.schedules.test_ticker import create, executions_of, set_next_run, settle

pytestmark = pytest.mark.faults
DELIVERY_TIMEOUT = 5.0  # seconds; a delivery's lease is 6 x this + 60 s


class SchedulerProcess:
    """``broadsheet scheduler`` on the test's database, ticking every 0.2 s."""

    def __init__(self, settings: Settings, log: Path) -> None:
        env = {
            **os.environ,
            "BROADSHEET_DATABASE_URL": settings.resolved_database_url,
            "BROADSHEET_SECRET_KEY": settings.secret_key,
            "BROADSHEET_DATA_DIR": str(settings.data_dir),
            "BROADSHEET_SCHEDULER_TICK_SECONDS": "0.2",
            "BROADSHEET_MAINTENANCE_SECONDS": "3600",
            "BROADSHEET_DELIVERY_TIMEOUT_SECONDS": str(DELIVERY_TIMEOUT),
            "BROADSHEET_WEBHOOK_ALLOW_PRIVATE": "true",
            "BROADSHEET_WEBHOOK_ALLOW_HTTP": "true",
        }
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "broadsheet", "scheduler"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill9()
        self.log.close()


@pytest.fixture
def schedulers(tmp_path: Path) -> Iterator[list[SchedulerProcess]]:
    started: list[SchedulerProcess] = []
    yield started
    for process in started:
        process.close()


@pytest.fixture
def settings(fault_settings: Settings) -> Settings:
    return fault_settings.model_copy(update={"delivery_timeout_seconds": DELIVERY_TIMEOUT})


@pytest.fixture
def client(settings: Settings, make_client: MakeClient) -> TestClient:
    """The API, and a local executor that runs the fires' jobs."""
    return make_client(settings)


@pytest.fixture
def runtime(settings: Settings, meta_engine: Engine) -> Runtime:
    """The other scheduler: this process's ticks and sends."""
    return Runtime.build(settings, meta_engine)


class HoldingReceiver:
    """Records every request; holds the first one to ``/held`` until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.held = threading.Event()
        self.server = RecordingServer(self._respond)

    def _respond(self, request: Recorded) -> Reply:
        if request.path == "/held" and not self.held.is_set():
            self.held.set()
            self.release.wait(30)
        return Reply()

    def ids(self, path: str) -> list[str]:
        return [r.headers["webhook-id"] for r in self.server.requests if r.path == path]


def delivery_rows(
    sessions: sessionmaker[Session], execution_id: uuid.UUID
) -> dict[str, models.ReportDelivery]:
    with sessions() as session:
        rows = session.scalars(
            select(models.ReportDelivery).where(models.ReportDelivery.execution_id == execution_id)
        ).all()
    return {row.recipient_value.rsplit("/", 1)[-1]: row for row in rows}


def test_scheduler_killed_mid_delivery(
    settings: Settings,
    client: TestClient,
    admin: Caller,
    runtime: Runtime,
    meta_sessions: sessionmaker[Session],
    schedulers: list[SchedulerProcess],
    tmp_path: Path,
) -> None:
    receiver = HoldingReceiver()
    with receiver.server:
        schedule = create(client, admin, recipients=[
            {"type": "webhook", "address": f"{receiver.server.url}/held"},
            {"type": "webhook", "address": f"{receiver.server.url}/prompt"},
        ])  # fmt: skip
        execution = fire_schedule(meta_sessions, runtime, schedule)  # deliveries pending
        schedulers.append(SchedulerProcess(settings, tmp_path / "scheduler.log"))
        try:
            eventually(receiver.held.is_set, 30, "the scheduler's request held")
            eventually(
                lambda: delivery_rows(meta_sessions, execution.id)["prompt"].status == "sent",
                10, "the other recipient's delivery recorded",
            )  # fmt: skip
            schedulers[0].kill9()
        finally:
            receiver.release.set()
        assert delivery_rows(meta_sessions, execution.id)["held"].status == "sending"
        # Not yet: its lease runs until the killed sender could no longer be sending it.
        assert deliveries.advance(runtime) == 0
        after_lease = utc_now() + timedelta(seconds=DELIVERY_TIMEOUT * 6 + 61)
        assert deliveries.advance(runtime, now=after_lease) == 1
        assert deliveries.advance(runtime, now=after_lease) == 0
    rows = delivery_rows(meta_sessions, execution.id)
    assert {name: row.status for name, row in rows.items()} == {"held": "sent", "prompt": "sent"}
    assert rows["held"].attempts == 2 and rows["prompt"].attempts == 1
    # The receiver saw the held one twice, under one id: one delivery per recipient.
    held, prompt = receiver.ids("/held"), receiver.ids("/prompt")
    assert len(held) == 2 and set(held) == {str(rows["held"].id)}
    assert prompt == [str(rows["prompt"].id)]


def test_scheduler_killed_mid_tick(
    settings: Settings,
    client: TestClient,
    admin: Caller,
    runtime: Runtime,
    meta_url: str,
    meta_sessions: sessionmaker[Session],
    schedulers: list[SchedulerProcess],
    tmp_path: Path,
) -> None:
    schedule = create(client, admin)
    due = utc_now() - timedelta(seconds=1)
    with psycopg.connect(meta_url) as blocker, psycopg.connect(meta_url, autocommit=True) as eye:
        # The killed scheduler's tick stops where it records the fire's job: after it has
        # claimed the schedule (row locked, next run moved on), before it commits.
        blocker.execute("LOCK TABLE report_jobs IN SHARE ROW EXCLUSIVE MODE")
        set_next_run(meta_sessions, schedule["id"], due)
        schedulers.append(SchedulerProcess(settings, tmp_path / "scheduler.log"))

        def blocked_mid_tick() -> bool:
            # From a connection of its own: a transaction sees one snapshot of the activity.
            waiting = eye.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO report_jobs%'"
            ).fetchone()
            return bool(waiting and waiting[0])

        eventually(blocked_mid_tick, 30, "the scheduler inside its tick")
        # Meanwhile the other scheduler skips the schedule that one holds: no second fire.
        assert ticker.tick(runtime) == []
        schedulers[0].kill9()
        blocker.commit()  # the killed one's transaction goes on, finds its client gone, ends

    def fired() -> list[models.ReportExecution]:
        ticker.tick(runtime)
        return executions_of(meta_sessions, schedule["id"])

    (execution,) = eventually(fired, 15, "the other scheduler fired it")
    assert execution.scheduled_for == due
    for _ in range(3):  # more ticks fire nothing more
        assert ticker.tick(runtime) == []
    assert len(executions_of(meta_sessions, schedule["id"])) == 1
    with meta_sessions() as session:
        jobs = session.scalar(select(func.count()).select_from(models.ReportJob))
    assert jobs == 1  # the killed tick's job went with its transaction
    assert settle(runtime, meta_sessions, execution.id) == "completed"
    job_id = str(executions_of(meta_sessions, schedule["id"])[0].job_id)
    assert results_per_job(meta_sessions, [job_id]) == {job_id: 1}
