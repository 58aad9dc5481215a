"""Each event type, emitted by the real action in the action's own transaction: a job run by
the local executor, a schedule's fire delivered to a real HTTP receiver, reports and schedules
changed through the API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.deliveries import service as deliveries
from broadsheet.runtime import Runtime
from tests.deliveries.httpserver import Recorded, RecordingServer, Reply
from tests.deliveries.test_delivery_flow import fire_schedule
from tests.events.helpers import feed, of_type
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import generate, report_id, wait
from tests.schedules.test_ticker import SCHEDULES, create, settle


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


PARAMS = {"startDate": "2024-05-01", "endDate": "2024-05-07"}


def _break(sessions: sessionmaker[Session], report: str) -> None:
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportDefinition)
            .where(models.ReportDefinition.id == uuid.UUID(report))
            .values(query="SELECT * FROM table_that_went_away")
        )


def test_a_job_that_runs_emits_completed_and_one_that_breaks_failed(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    rid = report_id(client, admin, "Usage Summary")
    job = wait(client, admin, generate(client, admin, rid, PARAMS)["id"])
    assert job["status"] == "completed"
    (completed,) = of_type(feed(client, admin), "broadsheet.job.completed")
    assert completed["subject"] == f"job/{job['id']}"
    assert completed["data"]["reportId"] == rid
    assert completed["data"]["resultId"] is not None
    _break(sessions, rid)
    broken = wait(client, admin, generate(client, admin, rid, PARAMS)["id"])
    assert broken["status"] == "failed"
    (failed,) = of_type(feed(client, admin), "broadsheet.job.failed")
    assert failed["subject"] == f"job/{broken['id']}"
    assert "table_that_went_away" in failed["data"]["error"]


def test_report_and_schedule_changes_emit_updated(client: TestClient, admin: Caller) -> None:
    rid = report_id(client, admin, "Usage Summary")
    report = client.get(f"/api/v1/reports/{rid}", headers=admin.headers).json()
    changed = client.put(
        f"/api/v1/reports/{rid}", json={**report, "description": "Reworded"}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    (updated,) = of_type(feed(client, admin), "broadsheet.report.updated")
    assert updated["subject"] == f"report/{rid}"
    assert updated["data"]["version"] == report["version"] + 1
    schedule = create(client, admin)
    paused = client.post(f"{SCHEDULES}/{schedule['id']}/pause", headers=admin.headers)
    assert paused.status_code == 200, paused.text
    (schedule_updated,) = of_type(feed(client, admin), "broadsheet.schedule.updated")
    assert schedule_updated["subject"] == f"schedule/{schedule['id']}"
    assert schedule_updated["data"]["enabled"] is False


def test_a_refused_change_emits_nothing(client: TestClient, admin: Caller) -> None:
    rid = report_id(client, admin, "Usage Summary")
    report = client.get(f"/api/v1/reports/{rid}", headers=admin.headers).json()
    stale = client.put(
        f"/api/v1/reports/{rid}", json={**report, "version": 999}, headers=admin.headers
    )
    assert stale.status_code == 409
    assert feed(client, admin) == []


def test_a_fire_emits_execution_completed_and_each_delivery_sent_or_failed(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], settings: Settings,
    runtime: Runtime,
) -> None:  # fmt: skip
    def respond(request: Recorded) -> Reply:
        return Reply(404) if request.path == "/gone" else Reply(200)

    sending = Runtime.build(
        settings.model_copy(update={"webhook_allow_private": True, "webhook_allow_http": True}),
        runtime.engine,
    )
    with RecordingServer(respond) as receiver:
        recipients: list[dict[str, Any]] = [
            {"type": "webhook", "address": f"{receiver.url}/ok", "secret": "s" * 20},
            {"type": "webhook", "address": f"{receiver.url}/gone", "secret": "s" * 20},
        ]
        execution = fire_schedule(sessions, sending, create(client, admin, recipients=recipients))
        assert deliveries.advance(sending) == 2
    events = feed(client, admin)
    (completed,) = of_type(events, "broadsheet.execution.completed")
    assert completed["subject"] == f"execution/{execution.id}"
    assert completed["data"]["scheduleId"] == str(execution.schedule_id)
    (sent,) = of_type(events, "broadsheet.delivery.sent")
    (failed,) = of_type(events, "broadsheet.delivery.failed")
    assert sent["data"]["executionId"] == failed["data"]["executionId"] == str(execution.id)
    assert sent["subject"].startswith("delivery/")
    # A webhook address shows without its path and query (they may carry a token).
    assert failed["data"]["recipient"] == "http://127.0.0.1/…"
    assert "404" in failed["data"]["error"]
    # In the order they were committed: the job, the execution, then its deliveries.
    kinds = [e["type"] for e in events]
    assert kinds.index("broadsheet.job.completed") < kinds.index("broadsheet.execution.completed")
    assert kinds.index("broadsheet.execution.completed") < kinds.index("broadsheet.delivery.sent")


def test_a_fire_whose_report_breaks_emits_execution_failed(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    schedule = create(client, admin)
    _break(sessions, schedule["reportId"])
    started = client.post(f"{SCHEDULES}/{schedule['id']}/run", headers=admin.headers).json()
    assert settle(runtime, sessions, uuid.UUID(started["id"])) == "failed"
    events = feed(client, admin)
    (failed,) = of_type(events, "broadsheet.execution.failed")
    assert failed["subject"] == f"execution/{started['id']}"
    assert "table_that_went_away" in failed["data"]["error"]
    assert len(of_type(events, "broadsheet.job.failed")) == 3  # the first run and two retries
