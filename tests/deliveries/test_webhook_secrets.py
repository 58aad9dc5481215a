"""Webhook secrets as the Standard Webhooks spec writes them (``whsec_`` + base64): the tenant's
is made in that form, a recipient's may be given in it, both sign with the decoded bytes — so a
receiver verifies real deliveries with the spec's own library (``standardwebhooks``) and the
secret exactly as Broadsheet shows or was given it — and a bad one is refused when saved. A
tenant secret made before that form signs with its UTF-8 bytes until it is rotated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook, WebhookVerificationError

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.deliveries import service as deliveries
from broadsheet.deliveries.channels import webhook
from broadsheet.kit import webhook_secrets
from broadsheet.kit.crypto import Cipher
from tests.deliveries.httpserver import Recorded, RecordingServer
from tests.deliveries.test_delivery_api import _body
from tests.deliveries.test_delivery_flow import (  # noqa: F401
    Deliverer,
    admin,
    delivering,
    fire,
    fire_schedule,
)
from tests.deliveries.test_email import Inbox, serve  # noqa: F401
from tests.factories import Caller
from tests.schedules.test_ticker import create

SCHEDULES = "/api/v1/schedules"
TENANT = "/api/v1/tenant"


def whsec(key: bytes, *, padded: bool = True) -> str:
    encoded = base64.b64encode(key).decode()
    return "whsec_" + (encoded if padded else encoded.rstrip("="))


def by_path(requests: list[Recorded]) -> dict[str, Recorded]:
    return {request.path: request for request in requests}


# The secrets themselves


def test_a_new_secret_is_whsec_and_base64_of_32_random_bytes() -> None:
    made = webhook_secrets.new_secret()
    assert made.startswith("whsec_") and made != webhook_secrets.new_secret()
    key = base64.b64decode(made.removeprefix("whsec_"), validate=True)
    assert len(key) == 32 and webhook_secrets.signing_key(made) == key


@pytest.mark.parametrize("size", [24, 25, 26, 32, 64])
@pytest.mark.parametrize("padded", [True, False])
def test_the_key_is_the_one_the_reference_library_decodes(size: int, padded: bool) -> None:
    secret = whsec(os.urandom(size), padded=padded)
    key = webhook_secrets.signing_key(secret)
    assert len(key) == size
    at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    assert webhook.sign(secret, "msg_1", int(at.timestamp()), b"{}") == (
        Webhook(secret).sign("msg_1", at, b"{}")
    )


def test_any_other_secret_is_its_utf8_bytes() -> None:
    assert webhook_secrets.signing_key("plain-secret-ünïcode") == "plain-secret-ünïcode".encode()


# Through the API and the scheduler, to a real receiver


def test_the_reference_library_verifies_deliveries_with_the_secrets_as_shown(
    client: TestClient,
    admin: Caller,  # noqa: F811
    sessions: sessionmaker[Session],
    delivering: Deliverer,  # noqa: F811
) -> None:
    runtime = delivering(Inbox(), webhook_allow_private=True, webhook_allow_http=True)
    shown = client.get(TENANT, headers=admin.headers).json()["webhookSecret"]
    assert shown.startswith("whsec_")
    assert len(base64.b64decode(shown.removeprefix("whsec_"), validate=True)) == 32
    own = whsec(os.urandom(24))
    with RecordingServer() as receiver:
        fire(client, admin, sessions, runtime, [
            {"type": "webhook", "address": f"{receiver.url}/tenant"},
            {"type": "webhook", "address": f"{receiver.url}/own", "secret": own},
        ])  # fmt: skip
        assert deliveries.advance(runtime) == 2
        requests = by_path(receiver.requests)

    for path, secret, other in [("/tenant", shown, own), ("/own", own, shown)]:
        request = requests[path]
        event = Webhook(secret).verify(request.body, request.headers)
        assert event == request.json() and event["type"] == "report.delivered"
        changed = request.body.replace(b'"rowCount":', b'"rowCount":1')
        assert changed != request.body
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(secret).verify(changed, request.headers)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(other).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(secret.encode()).verify(request.body, request.headers)  # not its text

    rotated = client.post(f"{TENANT}/webhook-secret", headers=admin.headers).json()
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(rotated["webhookSecret"]).verify(
            requests["/tenant"].body, requests["/tenant"].headers
        )


def test_a_delivery_signed_long_ago_is_refused(
    client: TestClient,
    admin: Caller,  # noqa: F811
    sessions: sessionmaker[Session],
    delivering: Deliverer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The channel's clock set ten minutes back: the request is signed right for its timestamp,
    and refused for being older than the library's five minutes (a replay, say)."""
    runtime = delivering(Inbox(), webhook_allow_private=True, webhook_allow_http=True)
    secret = client.get(TENANT, headers=admin.headers).json()["webhookSecret"]
    sent_at = time.time() - 600
    monkeypatch.setattr(webhook, "time", SimpleNamespace(time=lambda: sent_at))
    with RecordingServer() as receiver:
        fire(client, admin, sessions, runtime, [{"type": "webhook", "address": receiver.url}])
        assert deliveries.advance(runtime) == 1
        [request] = receiver.requests
    assert request.headers["webhook-timestamp"] == str(int(sent_at))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(request.body, request.headers)


def test_a_tenant_secret_made_before_the_whsec_form_signs_until_rotated(
    client: TestClient,
    admin: Caller,  # noqa: F811
    sessions: sessionmaker[Session],
    settings: Settings,
    delivering: Deliverer,  # noqa: F811
) -> None:
    legacy = "Zq3x-legacy_token-urlsafe-43-characters-ok"  # as secrets.token_urlsafe(32) made
    with sessions.begin() as session:
        tenant = session.scalars(select(models.Tenant).where(models.Tenant.slug == "acme")).one()
        tenant.webhook_secret = Cipher(settings.resolved_secret_key, "webhook-secrets").encrypt(
            legacy
        )
    assert client.get(TENANT, headers=admin.headers).json()["webhookSecret"] == legacy
    runtime = delivering(Inbox(), webhook_allow_private=True, webhook_allow_http=True)
    with RecordingServer() as receiver:
        fire(client, admin, sessions, runtime, [{"type": "webhook", "address": receiver.url}])
        assert deliveries.advance(runtime) == 1
        [before] = receiver.requests
        headers = before.headers
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + before.body
        mac = hmac.new(legacy.encode("utf-8"), signed, hashlib.sha256).digest()
        assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
        assert Webhook(legacy.encode()).verify(before.body, headers) == before.json()

        rotated = client.post(f"{TENANT}/webhook-secret", headers=admin.headers).json()
        secret = rotated["webhookSecret"]
        assert secret.startswith("whsec_")
        hook = {"type": "webhook", "address": f"{receiver.url}/new"}
        schedule = create(client, admin, name="After rotation", recipients=[hook])
        fire_schedule(sessions, runtime, schedule)
        assert deliveries.advance(runtime) == 1
        after = by_path(receiver.requests)["/new"]
    assert Webhook(secret).verify(after.body, after.headers) == after.json()
    with pytest.raises(WebhookVerificationError):
        Webhook(legacy.encode()).verify(after.body, after.headers)


# Refused when saved


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        (whsec(bytes(23)), "at least 24 bytes"),  # too short a key
        ("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), "valid base64"),
        ("whsec_" + "A" * 33, "valid base64"),  # a length no base64 has
        ("whsec_" + "QUFB=QUFB" * 4, "valid base64"),  # padding in the middle
        ("whsec_not base64 at all!!", "valid base64"),
    ],
)
def test_a_bad_whsec_secret_is_a_422_naming_it(
    client: TestClient,
    admin: Caller,  # noqa: F811
    secret: str,
    says: str,
) -> None:
    good = {
        "type": "webhook",
        "address": "https://hooks.example.com/in",
        "secret": whsec(bytes(24)),
    }
    bad = {**good, "secret": secret}
    refused = client.post(SCHEDULES, json=_body(client, admin, [bad]), headers=admin.headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    [error] = refused.json()["errors"]
    assert error["field"] == "recipients[0].secret" and says in error["message"]

    made = client.post(SCHEDULES, json=_body(client, admin, [good]), headers=admin.headers)
    assert made.status_code == 201, made.text
    body = _body(client, admin, [{**good, "address": "https://hooks.example.com/2"}, bad])
    changed = client.put(f"{SCHEDULES}/{made.json()['id']}", json=body, headers=admin.headers)
    assert changed.status_code == 422
    assert [e["field"] for e in changed.json()["errors"]] == ["recipients[1].secret"]


def test_a_whsec_secret_without_padding_is_accepted(
    client: TestClient,
    admin: Caller,  # noqa: F811
) -> None:
    hook = {"type": "webhook", "address": "https://hooks.example.com/in",
            "secret": whsec(bytes(25), padded=False)}  # fmt: skip
    made = client.post(SCHEDULES, json=_body(client, admin, [hook]), headers=admin.headers)
    assert made.status_code == 201, made.text


def test_a_saved_secret_that_no_longer_passes_fails_its_delivery_saying_why(
    client: TestClient,
    admin: Caller,  # noqa: F811
    sessions: sessionmaker[Session],
    settings: Settings,
    delivering: Deliverer,  # noqa: F811
) -> None:
    """A recipient saved before whsec_ secrets were checked, with one that is not base64: its
    delivery fails at once, and the error says what is wrong with it."""
    from broadsheet.deliveries import recipients

    runtime = delivering(Inbox(), webhook_allow_private=True, webhook_allow_http=True)
    with RecordingServer() as receiver:
        hook = {"type": "webhook", "address": receiver.url, "secret": "a-plain-secret-of-24-chars"}
        schedule = create(client, admin, name="Saved long ago", recipients=[hook])
        with sessions.begin() as session:
            row = session.get(models.ReportSchedule, uuid.UUID(schedule["id"]))
            assert row is not None
            old = recipients.secrets_cipher(settings).encrypt("whsec_saved before the check")
            row.recipients = [{**row.recipients[0], "secret": old}]
        execution = fire_schedule(sessions, runtime, schedule)
        assert deliveries.advance(runtime) == 1
        assert receiver.requests == []
    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    (delivery,) = shown["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["error"].startswith(
        "the recipient is no longer valid: secret: a whsec_ secret must be valid base64"
    ), delivery["error"]
