"""SMTP down for ten minutes, with the production retry settings (the first retry after 60 s,
doubling, five sends in all): a real SMTP server (aiosmtpd) behind the fault proxy, dropped
for ten minutes of a controlled clock, not of real time. Every send while it is down fails
and is retried later; after it is back, each recipient gets exactly one mail.

Runbook: docs/operations.md, "Deliveries failing"."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings, SmtpSecurity
from broadsheet.deliveries import service as deliveries
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from tests.deliveries.test_delivery_flow import fire_schedule
from tests.deliveries.test_email import Inbox, Serve, serve  # noqa: F401
from tests.factories import Caller
from tests.faults.conftest import MakeClient, MakeProxy
from tests.schedules.test_ticker import create

pytestmark = pytest.mark.faults
RECIPIENTS = ["ann@example.com", "bob@example.com", "cy@example.com"]
DOWN = timedelta(minutes=10)
STEP = timedelta(seconds=30)  # how often the controlled clock's scheduler ticks


class Clock:
    """The deliveries' clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_smtp_down_ten_minutes(
    fault_settings: Settings,
    meta_engine: Engine,
    meta_sessions: sessionmaker[Session],
    admin: Caller,
    make_client: MakeClient,
    serve: Serve,  # noqa: F811
    proxies: MakeProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = Inbox()
    proxy = proxies(("127.0.0.1", serve(inbox)))
    settings = fault_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": proxy.port,
            "smtp_security": SmtpSecurity.none,
            # As shipped: what "down ten minutes" means depends on them.
            "delivery_retry_base_seconds": 60.0,
            "delivery_max_attempts": 5,
        }
    )
    client: TestClient = make_client(settings)  # its executor runs the fire's job
    runtime = Runtime.build(settings, meta_engine)
    schedule = create(client, admin,
                      recipients=[{"type": "email", "address": a} for a in RECIPIENTS])  # fmt: skip
    execution = fire_schedule(meta_sessions, runtime, schedule)

    clock = Clock(utc_now())
    monkeypatch.setattr(deliveries, "utc_now", clock)
    down_until = clock.now + DOWN
    proxy.drop()
    errors: set[str] = set()
    while clock.now < down_until + timedelta(minutes=10):
        if clock.now >= down_until:
            proxy.heal()
        deliveries.advance(runtime)
        errors.update(row.error_message or "" for row in rows(meta_sessions, execution.id))
        clock.now += STEP

    got = Counter(rcpt for received in inbox.received for rcpt in received.rcpt_tos)
    assert got == Counter(RECIPIENTS)  # each exactly once
    final = rows(meta_sessions, execution.id)
    assert {row.status for row in final} == {"sent"}
    # Sent at 0, ~1, ~3 and ~7 minutes while it was down; the fifth, after ~15, went through.
    assert {row.attempts for row in final} == {5}
    assert any("cannot talk to SMTP server" in error for error in errors), errors


def rows(sessions: sessionmaker[Session], execution_id: object) -> list[models.ReportDelivery]:
    with sessions() as session:
        return list(
            session.scalars(
                select(models.ReportDelivery).where(
                    models.ReportDelivery.execution_id == execution_id
                )
            )
        )
