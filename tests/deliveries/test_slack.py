"""The Slack channel against real HTTP servers on 127.0.0.1: an incoming webhook, and a small
emulation of the Web API methods the bot path calls (with the file upload URL it hands out)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.channels.slack import SlackChannel
from broadsheet.deliveries.recipients import Recipient, RecipientType
from tests.deliveries.httpserver import (
    ARTIFACT_BYTES,
    Recorded,
    RecordingServer,
    Reply,
    loopback_settings,
    make_parcel,
)

TOKEN = "xoxb-test-token"
ARTIFACT_URL = "https://reports.example.com/a/5cbe8fa7.csv?expires=1710000000&sig=abc123"
RESULT_URL = "https://reports.example.com/results/5cbe8fa7"
POSTED_TS = "1709535600.000100"
FILE_ID = "F0ARTIFACT1"

HEADING = {
    "type": "section",
    "text": {"type": "mrkdwn", "text": "*Weekly sales*\nMonday morning · 2024-03-04 08:00 CET"},
}
SUMMARY = {
    "type": "section",
    "fields": [
        {"type": "mrkdwn", "text": "*Revenue*\n€2,180.50"},
        {"type": "mrkdwn", "text": "*Orders*\n42"},
    ],
}
FALLBACK_TEXT = "Weekly sales — Monday morning, 2024-03-04 08:00 CET"


def links(*, download: bool) -> dict[str, Any]:
    text = f"<{RESULT_URL}|Open result>"
    if download:
        text = f"<{ARTIFACT_URL}|Download weekly-sales.csv> · " + text
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


class SlackApi:
    """Answers like slack.com/api for the methods the channel uses; ``failures`` maps a method
    to the reply it gets instead."""

    def __init__(self, failures: dict[str, Reply] | None = None) -> None:
        self.failures = failures or {}
        self.server = RecordingServer(self.respond)

    def respond(self, request: Recorded) -> Reply:
        method = request.path.removeprefix("/api/")
        if method in self.failures:
            return self.failures[method]
        if method == "conversations.list":
            return Reply.json(self._channels_page(request.form().get("cursor")))
        if method == "conversations.open":
            return Reply.json({"ok": True, "channel": {"id": "D0DIRECT01"}})
        if method == "chat.postMessage":
            channel = request.json()["channel"]
            return Reply.json({"ok": True, "channel": channel, "ts": POSTED_TS})
        if method == "files.getUploadURLExternal":
            upload_url = f"{self.server.url}/upload/{FILE_ID}"
            return Reply.json({"ok": True, "upload_url": upload_url, "file_id": FILE_ID})
        if request.path == f"/upload/{FILE_ID}":
            return Reply(200, f"OK - {len(request.body)}".encode())
        if method == "files.completeUploadExternal":
            files = json.loads(request.form()["files"])
            return Reply.json({"ok": True, "files": files})
        return Reply.json({"ok": False, "error": "unknown_method"}, status=404)

    @staticmethod
    def _channels_page(cursor: str | None) -> dict[str, Any]:
        # Two pages, so the lookup has to follow the cursor to find #reports.
        if cursor is None:
            return {
                "ok": True,
                "channels": [{"id": "C0GENERAL1", "name": "general"}],
                "response_metadata": {"next_cursor": "page-2"},
            }
        return {
            "ok": True,
            "channels": [{"id": "C0REPORTS1", "name": "reports"}],
            "response_metadata": {"next_cursor": ""},
        }


@pytest.fixture
def slack() -> Iterator[SlackApi]:
    api = SlackApi()
    with api.server:
        yield api


def bot_settings(tmp_path: Path, api: SlackApi, **overrides: Any) -> Settings:
    values = {"slack_bot_token": TOKEN, "slack_api_url": f"{api.server.url}/api", **overrides}
    return loopback_settings(tmp_path, **values)


def recipient(address: str) -> Recipient:
    if address.startswith("http://"):
        # Saved recipients must use https; the local server speaks plain http, which the
        # loopback settings let through the guard.
        return Recipient.model_construct(type=RecipientType.slack, address=address)
    return Recipient(type=RecipientType.slack, address=address)


def failure_of(
    channel: SlackChannel, tmp_path: Path, address: str = "#reports", *, attach: bool = True
) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        channel.send(make_parcel(tmp_path, attach=attach), recipient(address))
    return caught.value


def test_incoming_webhook_gets_the_message(tmp_path: Path) -> None:
    with RecordingServer(lambda _request: Reply(200, b"ok")) as server:
        url = f"{server.url}/services/T000/B000/s3cr3t"
        channel = SlackChannel(loopback_settings(tmp_path))
        details = channel.send(make_parcel(tmp_path), recipient(url))

    assert details == {"status": 200}
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/services/T000/B000/s3cr3t")
    assert request.json() == {
        "text": FALLBACK_TEXT,
        "blocks": [HEADING, SUMMARY, links(download=True)],
    }


def test_incoming_webhook_errors_are_classified(tmp_path: Path) -> None:
    with RecordingServer(lambda _request: Reply(404, b"channel_not_found")) as server:
        channel = SlackChannel(loopback_settings(tmp_path))
        failure = failure_of(channel, tmp_path, f"{server.url}/services/T000/B000/s3cr3t")
    assert failure.permanent
    assert "channel_not_found" in failure.message
    assert "s3cr3t" not in failure.message


COMMENT = "\n".join([
    "*Weekly sales*",
    "Monday morning · 2024-03-04 08:00 CET",
    "*Revenue*: €2,180.50",
    "*Orders*: 42",
    f"<{RESULT_URL}|Open result>",
])  # fmt: skip


def test_bot_uploads_the_file_with_the_summary(tmp_path: Path, slack: SlackApi) -> None:
    channel = SlackChannel(bot_settings(tmp_path, slack))
    details = channel.send(make_parcel(tmp_path), recipient("#reports"))

    assert details == {"channel": "C0REPORTS1", "fileId": FILE_ID}
    # One call posts (completeUploadExternal): a retry after a failed upload cannot post the
    # summary a second time.
    assert slack.server.paths == [
        "/api/conversations.list",
        "/api/conversations.list",
        "/api/files.getUploadURLExternal",
        f"/upload/{FILE_ID}",
        "/api/files.completeUploadExternal",
    ]
    first_page, second_page, get_url, upload, complete = slack.server.requests
    assert all(request.method == "POST" for request in slack.server.requests)
    for call in (first_page, second_page, get_url, complete):
        assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in upload.headers  # the upload URL is itself the credential

    listing = {"types": "public_channel,private_channel", "exclude_archived": "1", "limit": "1000"}
    assert first_page.form() == listing
    assert second_page.form() == {**listing, "cursor": "page-2"}
    assert get_url.form() == {"filename": "weekly-sales.csv", "length": str(len(ARTIFACT_BYTES))}
    assert upload.body == ARTIFACT_BYTES
    assert complete.form() == {
        "files": json.dumps([{"id": FILE_ID, "title": "weekly-sales.csv"}]),
        "channel_id": "C0REPORTS1",
        "initial_comment": COMMENT,
    }


def test_a_user_gets_it_in_a_direct_message(tmp_path: Path, slack: SlackApi) -> None:
    channel = SlackChannel(bot_settings(tmp_path, slack))
    details = channel.send(make_parcel(tmp_path), recipient("U0ANN00001"))
    assert details == {"channel": "D0DIRECT01", "fileId": FILE_ID}
    opened, *_, complete = slack.server.requests
    assert (opened.path, opened.form()) == ("/api/conversations.open", {"users": "U0ANN00001"})
    assert complete.form()["channel_id"] == "D0DIRECT01"


def test_a_failed_upload_posts_nothing(tmp_path: Path, slack: SlackApi) -> None:
    slack.failures["files.completeUploadExternal"] = Reply(503, b"busy")
    failure = failure_of(SlackChannel(bot_settings(tmp_path, slack)), tmp_path, "C0REPORTS1")
    assert not failure.permanent
    assert "/api/chat.postMessage" not in slack.server.paths


def test_bot_sends_the_link_when_the_file_is_too_large(tmp_path: Path, slack: SlackApi) -> None:
    channel = SlackChannel(bot_settings(tmp_path, slack))
    details = channel.send(make_parcel(tmp_path, attach=False), recipient("C0REPORTS1"))

    assert details == {"channel": "C0REPORTS1", "ts": POSTED_TS}
    # An id needs no lookup, and nothing is uploaded.
    assert slack.server.paths == ["/api/chat.postMessage"]
    assert slack.server.requests[0].json()["blocks"][-1] == links(download=True)


def test_the_retired_files_upload_is_never_called(tmp_path: Path, slack: SlackApi) -> None:
    SlackChannel(bot_settings(tmp_path, slack)).send(make_parcel(tmp_path), recipient("#reports"))
    assert "/api/files.upload" not in slack.server.paths


def test_an_unknown_channel_name_is_permanent(tmp_path: Path, slack: SlackApi) -> None:
    failure = failure_of(SlackChannel(bot_settings(tmp_path, slack)), tmp_path, "#nowhere")
    assert failure.permanent
    assert "#nowhere" in failure.message
    assert "/api/chat.postMessage" not in slack.server.paths


def test_channel_not_found_is_permanent(tmp_path: Path, slack: SlackApi) -> None:
    slack.failures["chat.postMessage"] = Reply.json({"ok": False, "error": "channel_not_found"})
    failure = failure_of(
        SlackChannel(bot_settings(tmp_path, slack)), tmp_path, "C0GONE0001", attach=False
    )
    assert failure.permanent
    assert "channel_not_found" in failure.message


def test_rate_limited_is_transient(tmp_path: Path, slack: SlackApi) -> None:
    slack.failures["chat.postMessage"] = Reply(
        429, b'{"ok":false,"error":"ratelimited"}', {"Retry-After": "30"}
    )
    failure = failure_of(
        SlackChannel(bot_settings(tmp_path, slack)), tmp_path, "C0REPORTS1", attach=False
    )
    assert not failure.permanent
    assert "ratelimited" in failure.message


def test_a_server_error_is_transient_and_tried_once(tmp_path: Path, slack: SlackApi) -> None:
    slack.failures["chat.postMessage"] = Reply(500, b"<html>Internal Server Error</html>")
    failure = failure_of(
        SlackChannel(bot_settings(tmp_path, slack)), tmp_path, "C0REPORTS1", attach=False
    )
    assert not failure.permanent
    assert "500" in failure.message
    # slack_sdk's own retries are off: the delivery service does the retrying.
    assert slack.server.paths == ["/api/chat.postMessage"]


def test_an_unreachable_api_is_transient(tmp_path: Path, slack: SlackApi) -> None:
    settings = bot_settings(tmp_path, slack, slack_api_url="http://127.0.0.1:9/api/")
    failure = failure_of(SlackChannel(settings), tmp_path, "C0REPORTS1")
    assert not failure.permanent


def test_a_missing_token_is_permanent(tmp_path: Path, slack: SlackApi) -> None:
    settings = bot_settings(tmp_path, slack, slack_bot_token="")
    failure = failure_of(SlackChannel(settings), tmp_path)
    assert failure.permanent
    assert failure.message == "BROADSHEET_SLACK_BOT_TOKEN is not set"
    assert slack.server.requests == []
