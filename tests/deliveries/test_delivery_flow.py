"""A fire's report delivered for real: the scheduler fires, the execution completes, and the
delivery step sends to a real SMTP server (aiosmtpd) and a real HTTP receiver — once per
recipient, retrying only the ones that failed, skipping the unsubscribed, and telling the owner
about final failures."""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pdfplumber
import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings, SmtpSecurity
from broadsheet.db import make_engine
from broadsheet.deliveries import links, notices, parcels
from broadsheet.deliveries import service as deliveries
from broadsheet.deliveries.channels.webhook import sign
from broadsheet.runtime import Runtime
from broadsheet.schedules import ticker
from tests.deliveries.httpserver import Recorded, RecordingServer, Reply
from tests.deliveries.test_email import (  # noqa: F401
    DroppingFirstData,
    Inbox,
    Serve,
    serve,
)
from tests.factories import Caller, Tenancy
from tests.schedules.test_ticker import create, executions_of, set_next_run, settle
from tests.serving import free_port

OWNER = "tester-admin@acme.test"  # the admin key's user: the schedules' owner


class RefusingOne(Inbox):
    """Accepts everyone but nobody@example.com (a mailbox that does not exist)."""

    async def handle_RCPT(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        if address == "nobody@example.com":
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


Deliverer = Callable[..., Runtime]


@pytest.fixture
def delivering(settings: Settings, engine: Engine, serve: Serve) -> Deliverer:  # noqa: F811
    """A runtime whose email goes to a fresh SMTP server with ``handler``."""

    def start(handler: Inbox, **overrides: Any) -> Runtime:
        port = serve(handler)
        changed = settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": SmtpSecurity.none,
                "delivery_retry_base_seconds": 0.01,
                "delivery_max_attempts": 3,
                **overrides,
            }
        )
        return Runtime.build(changed, engine)

    return start


def fire(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime,
    recipients: list[dict[str, Any]],
) -> models.ReportExecution:  # fmt: skip
    """A schedule with ``recipients`` fired and its execution completed (deliveries planned)."""
    return fire_schedule(sessions, runtime, create(client, admin, recipients=recipients))


def fire_schedule(
    sessions: sessionmaker[Session], runtime: Runtime, schedule: dict[str, Any]
) -> models.ReportExecution:
    due = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
    set_next_run(sessions, schedule["id"], due)
    ticker.tick(runtime, due + timedelta(seconds=5))
    (execution,) = executions_of(sessions, schedule["id"])
    assert settle(runtime, sessions, execution.id) == "completed"
    (execution,) = executions_of(sessions, schedule["id"])
    return execution


def statuses(sessions: sessionmaker[Session], execution_id: uuid.UUID) -> dict[str, str]:
    with sessions() as session:
        rows = session.scalars(
            select(models.ReportDelivery).where(models.ReportDelivery.execution_id == execution_id)
        ).all()
    return {row.recipient_value: row.status for row in rows}


def test_each_recipient_gets_the_report_once(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    tenancy: Tenancy,
    delivering: Deliverer,
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    schedule = create(client, admin, recipients=[
        {"type": "email", "address": "ann@example.com"},
        {"type": "email", "address": "bob@example.com"},
    ])  # fmt: skip
    with sessions() as session:
        tenant = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "acme"))
    assert tenant is not None
    token = links.unsubscribe_token(runtime.settings.resolved_secret_key, tenant, "bob@example.com")
    assert client.post(f"/api/v1/unsubscribe/{token}").status_code == 200
    execution = fire_schedule(sessions, runtime, schedule)
    assert statuses(sessions, execution.id) == {
        "ann@example.com": "pending", "bob@example.com": "skipped"}  # fmt: skip
    assert deliveries.advance(runtime) == 1
    assert deliveries.advance(runtime) == 0  # nothing more is due
    received = inbox.only()
    assert received.rcpt_tos == ["ann@example.com"]
    (attachment,) = list(received.message.iter_attachments())
    artifact = runtime.storage.local_path(execution.file_url or "").read_bytes()
    assert attachment.get_content() == artifact.decode("utf-8")  # the export, as made
    assert attachment.get_filename() == "usage-summary_2024-05-06_1400.csv"
    assert received.message["List-Unsubscribe"].startswith("<http")
    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    by_recipient = {d["recipient"]: d for d in shown["deliveries"]}
    assert by_recipient["ann@example.com"]["status"] == "sent"
    assert by_recipient["ann@example.com"]["attempts"] == 1
    assert by_recipient["bob@example.com"]["status"] == "skipped"
    assert by_recipient["bob@example.com"]["error"] == "the address unsubscribed"
    audit = client.get("/api/v1/audit?action=delivery.sent", headers=admin.headers).json()
    assert [(a["details"]["recipient"], a["details"]["outcome"]) for a in audit] == [
        ("ann@example.com", "sent")
    ]
    assert audit[0]["actor"] == {"type": "system", "id": None}
    assert client.get("/api/v1/audit?action=delivery.failed", headers=admin.headers).json() == []


def test_a_dropped_connection_is_retried_without_resending_to_the_others(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    inbox = DroppingFirstData()
    runtime = delivering(inbox)
    execution = fire(client, admin, sessions, runtime, [
        {"type": "email", "address": "ann@example.com"},
        {"type": "email", "address": "bob@example.com"},
        {"type": "email", "address": "cy@example.com"},
    ])  # fmt: skip
    assert deliveries.advance(runtime) == 3
    after_first = statuses(sessions, execution.id)
    assert sorted(after_first.values()) == ["pending", "sent", "sent"]
    assert inbox.dropped == 1 and len(inbox.received) == 2
    time.sleep(0.1)  # the backoff (base 0.01 s) passes
    assert deliveries.advance(runtime) == 1  # only the one that failed
    assert set(statuses(sessions, execution.id).values()) == {"sent"}
    got = sorted(r for message in inbox.received for r in message.rcpt_tos)
    assert got == ["ann@example.com", "bob@example.com", "cy@example.com"]  # each once
    with sessions() as session:
        retried = session.scalar(
            select(models.ReportDelivery).where(models.ReportDelivery.attempts == 2)
        )
    assert retried is not None and retried.status == "sent"


def test_a_final_failure_is_told_to_the_owner(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    inbox = RefusingOne()
    runtime = delivering(inbox)
    execution = fire(client, admin, sessions, runtime, [
        {"type": "email", "address": "nobody@example.com"},
        {"type": "email", "address": "ann@example.com"},
    ])  # fmt: skip
    assert deliveries.advance(runtime) == 2
    # 550 will not change: failed at once, never retried.
    assert statuses(sessions, execution.id) == {
        "nobody@example.com": "failed", "ann@example.com": "sent"}  # fmt: skip
    time.sleep(0.1)
    assert deliveries.advance(runtime) == 0
    assert notices.advance(runtime) == 1
    assert notices.advance(runtime) == 0  # told once
    notice = inbox.received[-1]
    assert notice.rcpt_tos == [OWNER]
    assert "was not delivered to nobody@example.com" in notice.message["Subject"]
    assert "550" in notice.message.get_content()
    told = client.get("/api/v1/audit?action=owner.notified", headers=admin.headers).json()
    assert len(told) == 1 and told[0]["details"]["to"] == OWNER


def test_a_failed_execution_is_told_to_the_owner(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    schedule = create(client, admin, recipients=[{"type": "email", "address": "ann@example.com"}])
    with sessions.begin() as session:  # the data source breaks after the schedule is made
        report = session.get(models.ReportDefinition, uuid.UUID(schedule["reportId"]))
        assert report is not None
        report.query = "SELECT * FROM table_that_went_away"
    started = client.post(f"/api/v1/schedules/{schedule['id']}/run", headers=admin.headers)
    assert settle(runtime, sessions, uuid.UUID(started.json()["id"])) == "failed"
    assert deliveries.advance(runtime) == 0  # nothing to deliver
    assert notices.advance(runtime) == 1
    (notice,) = inbox.received
    assert notice.rcpt_tos == [OWNER] and "failed" in notice.message["Subject"]
    assert "table_that_went_away" in notice.message.get_content()


def test_a_large_artifact_goes_as_a_signed_link(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    runtime = Runtime.build(
        runtime.settings.model_copy(update={"attachment_max_bytes": 10}), runtime.engine
    )
    execution = fire(
        client, admin, sessions, runtime, [{"type": "email", "address": "ann@example.com"}]
    )
    assert deliveries.advance(runtime) == 1
    message = inbox.only().message
    assert list(message.iter_attachments()) == []
    body = message.get_body(("plain",))
    assert body is not None
    link = next(w for w in body.get_content().split() if "/api/v1/artifacts/" in w)
    path = link[link.index("/api/v1/artifacts/") :].rstrip(".,)>")
    downloaded = client.get(path)
    assert downloaded.status_code == 200
    assert downloaded.content == runtime.storage.local_path(execution.file_url or "").read_bytes()


def test_webhooks_are_signed_retried_after_a_500_and_not_after_a_404(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    """A real HTTP receiver on loopback (allowed here by the two settings that are off by
    default): /flaky answers 500 once, then 200; /gone answers 404."""
    runtime = delivering(Inbox(), webhook_allow_private=True, webhook_allow_http=True)
    answered: dict[str, int] = {}

    def respond(request: Recorded) -> Reply:
        answered[request.path] = answered.get(request.path, 0) + 1
        if request.path == "/gone":
            return Reply(404)
        return Reply(500 if answered[request.path] == 1 else 204)

    with RecordingServer(respond) as receiver:
        execution = fire(client, admin, sessions, runtime, [
            {"type": "webhook", "address": f"{receiver.url}/flaky"},
            {"type": "webhook", "address": f"{receiver.url}/gone"},
        ])  # fmt: skip
        assert deliveries.advance(runtime) == 2
        flaky, gone = f"{receiver.url}/flaky", f"{receiver.url}/gone"
        assert statuses(sessions, execution.id) == {flaky: "pending", gone: "failed"}
        time.sleep(0.1)
        assert deliveries.advance(runtime) == 1  # the 404 is not tried again
        time.sleep(0.1)
        assert deliveries.advance(runtime) == 0
        requests = list(receiver.requests)
    assert statuses(sessions, execution.id) == {flaky: "sent", gone: "failed"}
    assert [r.path for r in requests].count("/flaky") == 2
    assert [r.path for r in requests].count("/gone") == 1
    secret = client.get("/api/v1/tenant", headers=admin.headers).json()["webhookSecret"]
    for request in requests:
        msg_id, stamp = request.headers["webhook-id"], int(request.headers["webhook-timestamp"])
        assert request.headers["webhook-signature"] == sign(secret, msg_id, stamp, request.body)
    first, second = (r for r in requests if r.path == "/flaky")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # one delivery, one id
    body = second.json()
    assert body["execution"]["id"] == str(execution.id)
    assert (
        body["artifact"]["url"].startswith("http")
        and "/api/v1/artifacts/" in body["artifact"]["url"]
    )
    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    errors = {d["recipient"]: d["error"] for d in shown["deliveries"]}
    assert errors[flaky] is None and "404" in errors[gone]


@pytest.mark.parametrize("fmt", ["excel", "pdf"])
def test_the_attached_workbook_or_pdf_holds_the_result(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    delivering: Deliverer,
    fmt: str,
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    schedule = create(client, admin, exportFormat=fmt,
                      recipients=[{"type": "email", "address": "ann@example.com"}])  # fmt: skip
    execution = fire_schedule(sessions, runtime, schedule)
    assert deliveries.advance(runtime) == 1
    (attachment,) = list(inbox.only().message.iter_attachments())
    content = attachment.get_content()
    assert isinstance(content, bytes)
    result = client.get(
        f"/api/v1/reports/results/{execution.result_id}", headers=admin.headers
    ).json()
    columns = [c["name"] for c in result["data"]["columns"]]
    rows = result["data"]["rows"]
    if fmt == "excel":
        sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True)["Data"]
        values = list(sheet.iter_rows(values_only=True))
        assert list(values[0]) == columns and len(values) - 1 == len(rows)
        for row, cells in zip(rows, values[1:], strict=True):
            assert [str(row[c]) for c in columns] == [str(v) for v in cells]
    else:
        with pdfplumber.open(io.BytesIO(content)) as pdf:
            text = "\n".join(page.extract_text() or "" for page in pdf.pages)
        assert "Usage Summary" in text
        assert all(column in text for column in columns[:3])


def test_a_delivery_whose_sender_died_is_taken_again_after_its_lease(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    execution = fire(client, admin, sessions, runtime, [
        {"type": "email", "address": "ann@example.com"},
        {"type": "email", "address": "bob@example.com"},
    ])  # fmt: skip
    # Two senders died mid-send: one on its first attempt, one on its last.
    lease_over = datetime.now(UTC) - timedelta(seconds=1)
    with sessions.begin() as session:
        for delivery in session.scalars(
            select(models.ReportDelivery).where(models.ReportDelivery.execution_id == execution.id)
        ):
            last = delivery.recipient_value == "bob@example.com"
            delivery.status, delivery.next_attempt_at = "sending", lease_over
            delivery.attempts = runtime.settings.delivery_max_attempts if last else 1
    assert deliveries.advance(runtime) == 1
    assert statuses(sessions, execution.id) == {
        "ann@example.com": "sent", "bob@example.com": "failed"}  # fmt: skip
    assert inbox.only().rcpt_tos == ["ann@example.com"]
    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    by_recipient = {d["recipient"]: d for d in shown["deliveries"]}
    assert by_recipient["ann@example.com"]["attempts"] == 2
    assert by_recipient["bob@example.com"]["error"] == "the sender stopped during the last attempt"
    audit = [
        entry
        for action in ("delivery.sent", "delivery.failed")
        for entry in client.get(f"/api/v1/audit?action={action}", headers=admin.headers).json()
    ]
    assert sorted((a["details"]["recipient"], a["details"]["outcome"]) for a in audit) == [
        ("ann@example.com", "sent"),
        ("bob@example.com", "failed"),
    ]


def test_a_delivery_past_a_lowered_attempt_limit_fails_instead_of_blocking(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    execution = fire(client, admin, sessions, runtime, [
        {"type": "email", "address": "ann@example.com"},
        {"type": "email", "address": "bob@example.com"},
    ])  # fmt: skip
    with sessions.begin() as session:  # ann waited for a retry when the limit was lowered to 3
        session.execute(
            update(models.ReportDelivery)
            .where(models.ReportDelivery.recipient_value == "ann@example.com")
            .values(attempts=4, next_attempt_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert deliveries.advance(runtime) == 1  # bob; ann is failed, not picked again and again
    assert statuses(sessions, execution.id) == {
        "ann@example.com": "failed", "bob@example.com": "sent"}  # fmt: skip
    assert deliveries.advance(runtime) == 0


def test_a_notice_that_could_not_be_mailed_is_tried_again(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    delivering: Deliverer,
    engine: Engine,
) -> None:
    inbox = RefusingOne()
    runtime = delivering(inbox)
    fire(client, admin, sessions, runtime, [{"type": "email", "address": "nobody@example.com"}])
    assert deliveries.advance(runtime) == 1  # refused for good: a notice is owed
    down = Runtime.build(runtime.settings.model_copy(update={"smtp_port": free_port()}), engine)
    assert notices.advance(down) == 0  # nobody listens there
    assert client.get("/api/v1/audit?action=owner.notified", headers=admin.headers).json() == []
    assert notices.advance(runtime) == 1  # handed back, so sent now
    assert inbox.received[-1].rcpt_tos == [OWNER]
    told = client.get("/api/v1/audit?action=owner.notified", headers=admin.headers).json()
    assert len(told) == 1


def test_two_schedulers_delivering_at_once_send_each_message_once(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    delivering: Deliverer,
    settings: Settings,
) -> None:
    """Two processes' delivery steps (each with its own engine) on the same due deliveries."""
    inbox = Inbox()
    runtime = delivering(inbox)
    addresses = [f"person{i}@example.com" for i in range(12)]
    fire(client, admin, sessions, runtime, [{"type": "email", "address": a} for a in addresses])
    others = [Runtime.build(runtime.settings, make_engine(settings.resolved_database_url))
              for _ in range(2)]  # fmt: skip
    together = threading.Barrier(2)
    attempted: list[int] = []

    def deliver(other: Runtime) -> None:
        together.wait(timeout=30)
        attempted.append(deliveries.advance(other))

    threads = [threading.Thread(target=deliver, args=(other,)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.engine.dispose()
    assert sum(attempted) == 12
    assert sorted(r for message in inbox.received for r in message.rcpt_tos) == sorted(addresses)


def test_a_notice_no_mail_server_takes_is_told_in_the_audit_log_only(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    inbox = RefusingOne()
    runtime = delivering(inbox)
    fire(client, admin, sessions, runtime, [{"type": "email", "address": "nobody@example.com"}])
    assert deliveries.advance(runtime) == 1
    with sessions.begin() as session:  # an owner whose address is local to some intranet
        session.execute(
            update(models.User).where(models.User.email == OWNER).values(email="owner@intranet")
        )
    assert notices.advance(runtime) == 0
    assert notices.advance(runtime) == 0  # given up on, not retried every tick
    (told,) = client.get("/api/v1/audit?action=owner.notified", headers=admin.headers).json()
    assert told["details"]["to"] == "owner@intranet" and "not an email address" in told[
        "details"]["error"]  # fmt: skip
    assert [r.rcpt_tos for r in inbox.received] == []


def test_a_recipient_with_its_own_parameters_gets_nothing_rather_than_everything(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], delivering: Deliverer
) -> None:
    """Its own slice is not made yet; the whole report could show it rows not meant for it."""
    inbox = Inbox()
    runtime = delivering(inbox)
    execution = fire(client, admin, sessions, runtime, [
        {"type": "email", "address": "ann@example.com",
         "parameters": {"startDate": "{{today().minusDays(7)}}"}},  # the schedule's own
        {"type": "email", "address": "eu@example.com", "parameters": {"startDate": "2020-01-01"}},
    ])  # fmt: skip
    assert deliveries.advance(runtime) == 1
    assert inbox.only().rcpt_tos == ["ann@example.com"]
    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    skipped = {d["recipient"]: d for d in shown["deliveries"]}["eu@example.com"]
    assert skipped["status"] == "skipped" and "own parameters" in skipped["error"]


def _advance_in_a_process_that_dies_building(runtime: Runtime) -> int:
    """``advance`` in a forked process that is killed (SIGKILL) while it builds the parcel,
    as a native crash or the OOM killer would; returns the process's exit code."""
    import multiprocessing
    import os
    import signal

    def die(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    def child() -> None:
        parcels.build = die
        deliveries.advance(Runtime.build(runtime.settings))

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(60)
    return int(process.exitcode or 0)


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_an_attempt_whose_process_died_counts_and_the_last_one_fails(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    delivering: Deliverer,
    max_attempts: int,
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox, delivery_max_attempts=max_attempts)
    execution = fire(client, admin, sessions, runtime, [
        {"type": "email", "address": "ann@example.com"},
        {"type": "email", "address": "bob@example.com"},
    ])  # fmt: skip
    assert _advance_in_a_process_that_dies_building(runtime) == -9
    with sessions.begin() as session:
        rows = session.scalars(
            select(models.ReportDelivery).where(models.ReportDelivery.execution_id == execution.id)
        ).all()
        # The attempt that died is counted: the build belongs to the first one claimed.
        assert sorted((row.status, row.attempts) for row in rows) == [
            ("pending", 0), ("sending", 1)]  # fmt: skip
        (died,) = [row.recipient_value for row in rows if row.attempts]
        for row in rows:  # its lease runs out
            row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
    deliveries.advance(runtime)
    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    by_recipient = {d["recipient"]: d for d in shown["deliveries"]}
    if max_attempts == 1:
        assert by_recipient[died]["status"] == "failed"
        assert by_recipient[died]["error"] == "the sender stopped during the last attempt"
        assert [r.rcpt_tos for r in inbox.received] == [
            [r for r in ("ann@example.com", "bob@example.com") if r != died]]  # fmt: skip
    else:
        assert by_recipient[died] | {"status": "sent", "attempts": 2} == by_recipient[died]
        assert len(inbox.received) == 2


def test_a_claim_whose_lease_ran_out_during_the_build_is_left_to_the_sender_that_took_it(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    delivering: Deliverer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    execution = fire(client, admin, sessions, runtime, [
        {"type": "email", "address": "ann@example.com"},
        {"type": "email", "address": "bob@example.com"},
    ])  # fmt: skip
    build = parcels.build
    taken: list[str] = []

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        """As if the build outlasted the first claim's lease and another scheduler, finding it
        expired, claimed that delivery (its own attempt) meanwhile."""
        with sessions.begin() as session:
            (first,) = session.scalars(
                select(models.ReportDelivery).where(models.ReportDelivery.status == "sending")
            ).all()
            first.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
            taken.append(first.recipient_value)
        with sessions() as session:
            row = session.get(models.ReportDelivery, first.id)
            assert row is not None
            session.expunge(row)
        assert deliveries._claim(runtime, row)  # the other sender's claim
        return build(*args, **kwargs)

    monkeypatch.setattr(parcels, "build", slow_build)
    assert deliveries.advance(runtime) == 1  # only the one it still held
    (lost,) = taken
    assert [r.rcpt_tos for r in inbox.received] == [
        [r for r in ("ann@example.com", "bob@example.com") if r != lost]]  # fmt: skip
    assert statuses(sessions, execution.id)[lost] == "sending"  # the other sender's now
