"""Pushing events to a subscription's URL, a real HTTP receiver on loopback: signed as Standard
Webhooks says (checked with its reference library), the same id on every retry, in order per
subject, and resumed without loss after the dispatcher is killed mid-way."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.events import dispatch, retention
from broadsheet.kit.webhook_secrets import new_secret
from broadsheet.runtime import Runtime
from tests.deliveries.httpserver import Recorded, RecordingServer, Reply
from tests.events.helpers import SUBSCRIPTIONS, commit_event, tenant_id
from tests.factories import Caller, Tenancy


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver is plain http on loopback; retries are due at once."""
    return settings.model_copy(
        update={
            "webhook_allow_private": True,
            "webhook_allow_http": True,
            "delivery_retry_base_seconds": 0,
            "delivery_max_attempts": 5,
        }
    )


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


def subscribe(client: TestClient, admin: Caller, url: str, secret: str, *types: str) -> str:
    body = {"url": url, "types": list(types or ["broadsheet.report.updated"]), "secret": secret}
    response = client.post(SUBSCRIPTIONS, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def statuses(sessions: sessionmaker[Session]) -> Counter[str]:
    with sessions() as session:
        return Counter(session.scalars(select(models.EventDelivery.status)))


def test_pushed_events_verify_with_the_standard_webhooks_library(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    secret = new_secret()
    acme = tenant_id(sessions, "acme")
    commit_event(sessions, acme, subject="report/before")  # before the subscription: not sent
    with RecordingServer() as receiver:
        subscribe(client, admin, f"{receiver.url}/hook", secret, "broadsheet.report.updated")
        commit_event(sessions, acme, subject="report/one", n=1)
        commit_event(sessions, acme, "broadsheet.job.completed", "job/x")  # not subscribed
        commit_event(sessions, acme, subject="report/two", n=2)
        assert dispatch.advance(runtime) == 2
        assert dispatch.advance(runtime) == 0
    verified = [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]
    # Different subjects go side by side: only each subject's own order is kept.
    assert sorted(e["subject"] for e in verified) == ["report/one", "report/two"]
    for request, event in zip(receiver.requests, verified, strict=True):
        assert request.headers["webhook-id"] == event["id"]
        assert request.headers["content-type"] == "application/cloudevents+json"
        assert event["specversion"] == "1.0" and event["source"] == "/broadsheet/acme"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert statuses(sessions) == {"sent": 2}


def test_a_receiver_failing_twice_gets_the_same_id_three_times(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    answers = iter([Reply(500), Reply(503)])
    with RecordingServer(lambda _r: next(answers, Reply(200))) as receiver:
        subscribe(client, admin, receiver.url, "plain-secret-of-20-chars")
        commit_event(sessions, tenant_id(sessions, "acme"), subject="report/flaky")
        for _ in range(3):
            assert dispatch.advance(runtime) == 1
        assert dispatch.advance(runtime) == 0
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 3 and len(set(ids)) == 1
    assert {r.body for r in receiver.requests} == {receiver.requests[0].body}
    for request in receiver.requests:  # a plain secret signs with its UTF-8 bytes
        Webhook(b"plain-secret-of-20-chars").verify(request.body, request.headers)
    with sessions() as session:
        (row,) = session.scalars(select(models.EventDelivery)).all()
    assert (row.status, row.attempts) == ("sent", 3)


def test_a_permanent_failure_is_given_up_and_the_next_of_its_subject_goes(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    answers = iter([Reply(404)])
    with RecordingServer(lambda _r: next(answers, Reply(200))) as receiver:
        subscribe(client, admin, receiver.url, "plain-secret-of-20-chars")
        acme = tenant_id(sessions, "acme")
        commit_event(sessions, acme, subject="report/r", n=1)
        commit_event(sessions, acme, subject="report/r", n=2)
        assert dispatch.advance(runtime) == 2
    assert [orjson.loads(r.body)["data"]["n"] for r in receiver.requests] == [1, 2]
    assert statuses(sessions) == {"failed": 1, "sent": 1}


def test_a_subjects_next_event_waits_until_the_one_before_is_sent(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    failed_once: set[str] = set()
    lock = threading.Lock()

    def respond(request: Recorded) -> Reply:
        event = orjson.loads(request.body)
        with lock:
            if event["subject"] == "report/a" and event["data"]["n"] == 1 and not failed_once:
                failed_once.add(event["id"])
                return Reply(500)
        return Reply(200)

    with RecordingServer(respond) as receiver:
        subscribe(client, admin, receiver.url, "plain-secret-of-20-chars")
        acme = tenant_id(sessions, "acme")
        for n in (1, 2, 3):
            commit_event(sessions, acme, subject="report/a", n=n)
            commit_event(sessions, acme, subject="report/b", n=n)
        dispatch.advance(runtime)
        by_subject = _sent_by_subject(receiver.requests)
        assert by_subject == {"report/a": [1], "report/b": [1, 2, 3]}  # a/2 waits for a/1
        dispatch.advance(runtime)
    assert _sent_by_subject(receiver.requests) == {"report/a": [1, 1, 2, 3], "report/b": [1, 2, 3]}
    assert statuses(sessions) == {"sent": 6}


def _sent_by_subject(requests: list[Recorded]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for request in requests:
        event = orjson.loads(request.body)
        out.setdefault(event["subject"], []).append(event["data"]["n"])
    return out


def test_a_dispatcher_killed_mid_way_is_resumed_without_loss(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    """The dispatcher runs in a process that is killed (SIGKILL) while the receiver holds its
    third request; the next dispatcher sends everything, each subject still in order."""
    child: dict[str, Any] = {}
    # Counted here, not from receiver.requests: the server answers in threads, so a fourth
    # request may be recorded before the third is answered, and then no count would be 3.
    calls = itertools.count(1)
    counting = threading.Lock()

    def respond(request: Recorded) -> Reply:
        with counting:
            call = next(calls)
        if call == 3 and "process" in child:
            os.kill(child["process"].pid, signal.SIGKILL)
            child["process"].join(10)
            return Reply(500)  # nobody is there to read it
        return Reply(200)

    with RecordingServer(respond) as receiver:
        subscribe(client, admin, receiver.url, "plain-secret-of-20-chars")
        acme = tenant_id(sessions, "acme")
        for n in (1, 2, 3):
            for subject in ("report/a", "report/b", "report/c"):
                commit_event(sessions, acme, subject=subject, n=n)
        settings = runtime.settings

        def run() -> None:
            dispatch.advance(Runtime.build(settings))

        process = multiprocessing.get_context("fork").Process(target=run)
        child["process"] = process
        process.start()
        process.join(60)
        assert process.exitcode == -signal.SIGKILL
        assert statuses(sessions)["sending"] > 0  # claimed and never recorded
        # The dead sender's lease runs out (shortened here rather than waited for).
        with sessions.begin() as session:
            session.execute(
                update(models.EventDelivery)
                .where(models.EventDelivery.status == "sending")
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        while dispatch.advance(runtime):
            pass
    assert statuses(sessions) == {"sent": 9}
    received = _sent_by_subject(receiver.requests)
    for subject, numbers in received.items():
        firsts = list(dict.fromkeys(numbers))
        assert firsts == [1, 2, 3], (subject, numbers)  # at least once, and in order


def test_two_dispatchers_at_once_fan_out_each_event_once(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime,
    settings: Settings,
) -> None:  # fmt: skip
    with RecordingServer() as receiver:
        subscribe(client, admin, receiver.url, "plain-secret-of-20-chars")
        acme = tenant_id(sessions, "acme")
        for n in range(20):
            commit_event(sessions, acme, subject=f"report/{n % 4}", n=n)
        other = Runtime.build(settings, runtime.engine)
        threads = [threading.Thread(target=dispatch.fan_out, args=(r,)) for r in (runtime, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with sessions() as session:
            assert len(session.scalars(select(models.EventDelivery.event_id)).all()) == 20
            position = session.scalar(select(models.EventSubscription.position))
            newest = session.scalar(select(models.Event.id).order_by(models.Event.id.desc()))
        assert position == newest


def test_old_events_and_their_deliveries_are_deleted(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    with RecordingServer() as receiver:
        subscribe(client, admin, receiver.url, "plain-secret-of-20-chars")
        acme = tenant_id(sessions, "acme")
        commit_event(sessions, acme, subject="report/old")
        commit_event(sessions, acme, subject="report/new")
        dispatch.advance(runtime)
    with sessions.begin() as session:
        session.execute(
            update(models.Event)
            .where(models.Event.subject == "report/old")
            .values(
                time=datetime.now(UTC)
                - timedelta(days=runtime.settings.event_retention_days, minutes=1)
            )
        )
    assert retention.sweep(runtime) == 1
    with sessions() as session:
        assert session.scalars(select(models.Event.subject)).all() == ["report/new"]
        assert len(session.scalars(select(models.EventDelivery.id)).all()) == 1
