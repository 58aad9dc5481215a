"""Pulling the feed: CloudEvents in commit order per tenant, ``after``, ``type``, ``limit``,
long polling that answers as soon as an event commits, and the 422s."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.events import emit, outbox
from broadsheet.models import Role
from tests.events.helpers import EVENTS, commit_event, feed, tenant_id
from tests.factories import Caller, Tenancy


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


def test_events_are_cloudevents_in_order_after_a_position(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    acme = tenant_id(sessions, "acme")
    subjects = [f"report/{uuid.uuid4()}" for _ in range(3)]
    for subject in subjects:
        commit_event(sessions, acme, subject=subject, name="x")
    commit_event(sessions, acme, "broadsheet.schedule.updated", f"schedule/{uuid.uuid4()}")
    events = feed(client, admin)
    assert [e["subject"] for e in events[:3]] == subjects
    first = events[0]
    assert first["specversion"] == "1.0"
    assert first["source"] == "/broadsheet/acme"
    assert first["type"] == "broadsheet.report.updated"
    assert first["datacontenttype"] == "application/json"
    assert first["data"] == {"name": "x"}
    assert first["time"].endswith(("Z", "+00:00"))
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [e["id"] for e in feed(client, admin, after=events[1]["id"])] == [
        e["id"] for e in events[2:]
    ]
    only = feed(client, admin, type="broadsheet.schedule.updated")
    assert [e["id"] for e in only] == [events[3]["id"]]
    page = client.get(EVENTS, params={"limit": 2}, headers=admin.headers)
    assert [e["id"] for e in page.json()] == [e["id"] for e in events[:2]]
    assert page.headers["X-Total-Count"] == "4"


def test_another_tenants_events_never_appear(
    client: TestClient, admin: Caller, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    other = tenancy.key("globex")
    commit_event(sessions, tenant_id(sessions, "globex"), secret="theirs")
    commit_event(sessions, tenant_id(sessions, "acme"), mine=True)
    assert [e["data"] for e in feed(client, admin)] == [{"mine": True}]
    assert [e["data"] for e in feed(client, other)] == [{"secret": "theirs"}]
    assert [e["source"] for e in feed(client, other)] == ["/broadsheet/globex"]


def test_any_key_of_the_tenant_reads_the_feed(
    client: TestClient, admin: Caller, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    viewer = tenancy.key("acme", Role.viewer, name="watcher")
    commit_event(sessions, tenant_id(sessions, "acme"))
    assert len(feed(client, viewer)) == 1
    assert client.get(EVENTS).status_code == 401


def test_a_rolled_back_change_emits_nothing(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    acme = tenant_id(sessions, "acme")

    def failing_change() -> None:
        with session_scope(sessions) as session:
            emit(session, acme, "broadsheet.report.updated", "report/x", {})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with sessions() as session:  # closed without a commit
        emit(session, acme, "broadsheet.report.updated", "report/y", {})
    commit_event(sessions, acme, subject="report/z")
    assert [e["subject"] for e in feed(client, admin)] == ["report/z"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"wait": 31}, "wait"),
        ({"wait": -1}, "wait"),
        ({"after": "forty-two"}, "after"),
        ({"after": -1}, "after"),
        ({"type": "broadsheet.nothing.happened"}, "type"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    client: TestClient, admin: Caller, params: dict[str, str | int], field: str
) -> None:
    response = client.get(EVENTS, params=params, headers=admin.headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"].split("[")[0] for e in response.json()["errors"]] == [field]


def test_a_long_poll_answers_as_soon_as_an_event_commits(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    acme = tenant_id(sessions, "acme")
    commit_event(sessions, acme, subject="report/before")
    (before,) = feed(client, admin)

    def later() -> None:
        time.sleep(0.8)
        commit_event(sessions, acme, subject="report/after")

    writer = threading.Thread(target=later)
    started = time.monotonic()
    writer.start()
    events = feed(client, admin, after=before["id"], wait=20)
    elapsed = time.monotonic() - started
    writer.join()
    assert [e["subject"] for e in events] == ["report/after"]
    assert 0.7 < elapsed < 5


def test_a_long_poll_with_nothing_new_answers_empty_after_the_wait(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    commit_event(sessions, tenant_id(sessions, "acme"))
    (last,) = feed(client, admin)
    started = time.monotonic()
    assert feed(client, admin, after=last["id"], wait=1.2) == []
    assert 1.1 < time.monotonic() - started < 4


def test_a_waiting_request_holds_no_database_connection(
    client: TestClient, admin: Caller, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    """More long polls than request slots: other requests are still answered meanwhile."""
    slots = client.app.state.settings.db_pool_size  # type: ignore[attr-defined]
    waiting = [
        threading.Thread(target=feed, args=(client, admin), kwargs={"wait": 3, "after": 10**9})
        for _ in range(slots + 2)
    ]
    for thread in waiting:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert client.get("/api/v1/reports", headers=admin.headers).status_code == 200
    assert time.monotonic() - started < 2
    for thread in waiting:
        thread.join()


def test_ids_follow_commit_order_when_writers_overlap(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    """A transaction that emitted first but commits last still gets the larger id: a reader
    that saw the other one can never miss it."""
    acme = tenant_id(sessions, "acme")
    slow = sessions()
    emit(slow, acme, "broadsheet.report.updated", "report/slow", {})
    slow.execute(select(models.Tenant.id).where(models.Tenant.id == acme))  # it has begun
    commit_event(sessions, acme, subject="report/quick")
    slow.commit()
    slow.close()
    assert [e["subject"] for e in feed(client, admin)] == ["report/quick", "report/slow"]


def test_on_postgresql_a_second_writer_waits_for_the_first_to_commit(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time already")
    acme = tenant_id(sessions, "acme")
    first = sessions()
    emit(first, acme, "broadsheet.report.updated", "report/first", {})
    # The commit hook's work — the tenant's lock taken, the event numbered — without the
    # commit that follows it.
    outbox._write_pending(first)
    seen: list[list[str]] = []
    second = threading.Thread(target=lambda: commit_event(sessions, acme, subject="report/second"))
    second.start()
    time.sleep(0.5)
    assert second.is_alive()  # waiting on the lock
    seen.append([e["subject"] for e in feed(client, admin)])
    first.commit()
    first.close()
    second.join(5)
    seen.append([e["subject"] for e in feed(client, admin)])
    assert seen == [[], ["report/first", "report/second"]]
