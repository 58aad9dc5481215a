"""The webhook channel against a real HTTP server on 127.0.0.1: body, signature, answers; the
signature checked by hand, from the spec, and by the spec's own library (``standardwebhooks``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from broadsheet.deliveries.channels import webhook
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.channels.webhook import WebhookChannel, sign
from broadsheet.deliveries.recipients import Recipient, RecipientType
from broadsheet.kit import webhook_secrets
from tests.deliveries.httpserver import (
    ARTIFACT_BYTES,
    RecordingServer,
    Reply,
    loopback_settings,
    make_parcel,
)

RECIPIENT_SECRET = "recipient-secret-0123456789"
TENANT_SECRET = "tenant-webhook-secret-abcdef"
KEY = bytes(range(24))  # the spec's smallest key
WHSEC = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def recipient(url: str, secret: str | None = RECIPIENT_SECRET) -> Recipient:
    return Recipient(type=RecipientType.webhook, address=url, secret=secret)


def failure_of(channel: WebhookChannel, url: str, tmp_path: Path) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        channel.send(make_parcel(tmp_path), recipient(url))
    return caught.value


def expected_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """The signature as a receiver computes it, from the spec rather than from our sign()."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_posts_the_event(tmp_path: Path, server: RecordingServer) -> None:
    channel = WebhookChannel(loopback_settings(tmp_path))
    details = channel.send(make_parcel(tmp_path), recipient(f"{server.url}/hooks/abc?token=t"))

    assert details == {"status": 200}
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/hooks/abc?token=t")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Broadsheet"
    assert request.json() == {
        "type": "report.delivered",
        "deliveryId": "0d6f3a52-9b1e-4c7a-8f2d-5e4b3a291c10",
        "execution": {
            "id": "2f8b5c74-bd30-4e9c-a13f-70d65c4b3e32",
            "scheduledFor": "2024-03-04T07:00:00Z",
        },
        "schedule": {
            "id": "3a9c6d85-ce41-4fad-b240-81e76d5c4f43",
            "name": "Monday morning",
            "timezone": "Europe/Berlin",
        },
        "report": {"id": "4bad7e96-df52-40be-8351-92f87e6d5a54", "name": "Weekly sales"},
        "result": {
            "id": "5cbe8fa7-e063-41cf-9462-a3098f7e6b65",
            "rowCount": 2,
            "url": "https://reports.example.com/results/5cbe8fa7",
        },
        "artifact": {
            "url": "https://reports.example.com/a/5cbe8fa7.csv?expires=1710000000&sig=abc123",
            "filename": "weekly-sales.csv",
            "format": "csv",
            "mediaType": "text/csv",
            "size": len(ARTIFACT_BYTES),
        },
        "parameters": {"region": ["North", "South"], "since": "2024-02-26"},
        "summary": [
            {"label": "Revenue", "value": "€2,180.50"},
            {"label": "Orders", "value": "42"},
        ],
    }


def test_signed_with_the_recipients_secret(tmp_path: Path, server: RecordingServer) -> None:
    parcel = make_parcel(tmp_path, extra={"webhook_secret": TENANT_SECRET})
    WebhookChannel(loopback_settings(tmp_path)).send(parcel, recipient(f"{server.url}/hook"))

    [request] = server.requests
    headers = request.headers
    assert headers["webhook-id"] == str(parcel.delivery_id)
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"] == expected_signature(
        RECIPIENT_SECRET, headers, request.body
    )


def test_signed_with_the_tenants_secret_without_one_of_its_own(
    tmp_path: Path, server: RecordingServer
) -> None:
    parcel = make_parcel(tmp_path, extra={"webhook_secret": TENANT_SECRET})
    WebhookChannel(loopback_settings(tmp_path)).send(
        parcel, recipient(f"{server.url}/hook", secret=None)
    )

    [request] = server.requests
    signature = expected_signature(TENANT_SECRET, request.headers, request.body)
    assert request.headers["webhook-signature"] == signature


def test_sign_matches_a_receivers_computation() -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000"}
    body = b'{"type":"report.delivered"}'
    assert sign(TENANT_SECRET, "msg_1", 1700000000, body) == expected_signature(
        TENANT_SECRET, headers, body
    )


def test_a_whsec_secret_signs_with_its_decoded_bytes(
    tmp_path: Path, server: RecordingServer
) -> None:
    WebhookChannel(loopback_settings(tmp_path)).send(
        make_parcel(tmp_path), recipient(f"{server.url}/hook", secret=WHSEC)
    )

    [request] = server.requests
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}."
    mac = hmac.new(KEY, signed.encode() + request.body, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    assert Webhook(WHSEC).verify(request.body, request.headers) == request.json()
    with pytest.raises(WebhookVerificationError):  # the text's own bytes are not the key
        Webhook(WHSEC.encode()).verify(request.body, request.headers)


@pytest.mark.parametrize("secret", [WHSEC, RECIPIENT_SECRET])
def test_the_reference_library_verifies_what_the_channel_sends(
    tmp_path: Path, server: RecordingServer, secret: str
) -> None:
    """A receiver gives the library a whsec_ secret as it is, any other as its bytes; a changed
    body or another secret is refused."""
    WebhookChannel(loopback_settings(tmp_path)).send(
        make_parcel(tmp_path), recipient(f"{server.url}/hook", secret=secret)
    )

    [request] = server.requests
    receiver = Webhook(secret if secret.startswith("whsec_") else secret.encode())
    assert receiver.verify(request.body, request.headers) == request.json()
    changed = request.body.replace(b"Weekly sales", b"Weekly sale$")
    assert changed != request.body
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver.verify(changed, request.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(webhook_secrets.new_secret()).verify(request.body, request.headers)


def test_the_reference_library_refuses_an_old_timestamp(
    tmp_path: Path, server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request signed ten minutes ago (a replay, say) fails the library's five-minute window,
    though its signature is right for that timestamp."""
    sent_at = time.time() - 600
    monkeypatch.setattr(webhook, "time", SimpleNamespace(time=lambda: sent_at))
    WebhookChannel(loopback_settings(tmp_path)).send(
        make_parcel(tmp_path), recipient(f"{server.url}/hook", secret=WHSEC)
    )

    [request] = server.requests
    headers = request.headers
    assert headers["webhook-timestamp"] == str(int(sent_at))
    stamp = datetime.fromtimestamp(int(sent_at), UTC)
    assert (
        Webhook(WHSEC).sign(headers["webhook-id"], stamp, request.body)
        == (headers["webhook-signature"])
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(WHSEC).verify(request.body, headers)


def test_no_secret_at_all_is_permanent(tmp_path: Path, server: RecordingServer) -> None:
    channel = WebhookChannel(loopback_settings(tmp_path))
    with pytest.raises(DeliveryFailed) as caught:
        channel.send(make_parcel(tmp_path), recipient(f"{server.url}/hook", secret=None))
    assert caught.value.permanent
    assert server.requests == []


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (500, False),
        (503, False),
        (429, False),
        (408, False),
        (425, False),
        (404, True),
        (400, True),
        (401, True),
        (403, True),
        (410, True),
    ],
)
def test_answers_sort_into_retry_or_give_up(
    tmp_path: Path, server: RecordingServer, status: int, permanent: bool
) -> None:
    server.respond = lambda _request: Reply(status, b"nope")
    failure = failure_of(
        WebhookChannel(loopback_settings(tmp_path)), server.url + "/s3cr3t", tmp_path
    )
    assert failure.permanent is permanent
    assert f"answered {status}" in failure.message
    assert "127.0.0.1" in failure.message
    assert "s3cr3t" not in failure.message


def test_a_redirect_is_permanent_and_not_followed(tmp_path: Path, server: RecordingServer) -> None:
    server.respond = lambda request: (
        Reply(302, headers={"Location": f"{server.url}/elsewhere"})
        if request.path == "/hook"
        else Reply()
    )
    failure = failure_of(
        WebhookChannel(loopback_settings(tmp_path)), f"{server.url}/hook", tmp_path
    )
    assert failure.permanent
    assert "answered 302" in failure.message
    assert server.paths == ["/hook"]


def test_nobody_listening_is_transient(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    # The port is closed now: connecting is refused.
    url = f"http://127.0.0.1:{port}/hook"
    failure = failure_of(WebhookChannel(loopback_settings(tmp_path)), url, tmp_path)
    assert not failure.permanent
    assert "could not reach http://127.0.0.1/…" in failure.message


def test_a_timeout_is_transient(tmp_path: Path, server: RecordingServer) -> None:
    release = threading.Event()
    server.respond = lambda _request: Reply() if release.wait(5) else Reply(500)
    channel = WebhookChannel(loopback_settings(tmp_path, delivery_timeout_seconds=0.2))
    try:
        failure = failure_of(channel, f"{server.url}/hook", tmp_path)
    finally:
        release.set()
    assert not failure.permanent
    assert "could not reach" in failure.message
