"""The Slack channel: an incoming webhook, or the Web API with the operator's bot token.

- An http(s) address is an incoming webhook: one message with the summary and the signed link,
  POSTed through the outbound-address guard (plain http is refused there unless allowed).
- ``#name``, or a channel or user id (``C0123ABCD``, ``U0123ABCD``), goes through the Web API
  with ``BROADSHEET_SLACK_BOT_TOKEN``: a ``#name`` is looked up with ``conversations.list``, a
  user's direct-message channel opened with ``conversations.open``. An attached export is
  uploaded with ``files_upload_v2`` (``files.getUploadURLExternal``, the upload, then
  ``files.completeUploadExternal``; the retired ``files.upload`` is never called) with the
  summary as its comment: the completing call is the one that posts, so a retry after a
  failed upload never posts the summary twice. An export too large to attach goes as the
  signed link in a ``chat.postMessage``.

Slack errors that a retry cannot change (a missing channel, a revoked token, a missing scope)
are permanent; rate limits, Slack's 5xx answers and network errors are retried.
"""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import DeliveryFailed, Parcel
from broadsheet.deliveries.http import post_json
from broadsheet.deliveries.recipients import Recipient

# Slack's error codes that will answer the same however often the call is retried.
_PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "user_not_found",
        "invalid_arguments",
        "invalid_blocks",
        "msg_too_long",
    }
)
_FIELDS_PER_SECTION = 10  # Slack's limit on one section block's fields
_ERROR_MAX = 200


class SlackChannel:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, parcel: Parcel, recipient: Recipient) -> dict[str, Any]:
        if recipient.address.lower().startswith(("https://", "http://")):
            return self._send_to_webhook(parcel, recipient.address)
        return self._send_with_bot(parcel, recipient.address)

    def _send_to_webhook(self, parcel: Parcel, url: str) -> dict[str, Any]:
        body = orjson.dumps({"text": _text(parcel), "blocks": _blocks(parcel, link=True)})
        response = post_json(url, body, {}, self._settings)
        return {"status": response.status_code}

    def _send_with_bot(self, parcel: Parcel, address: str) -> dict[str, Any]:
        client = self._client()
        try:
            return _post_and_upload(client, parcel, address)
        except SlackApiError as exc:
            raise _api_failure(exc) from exc
        except SlackRequestError as exc:  # slack_sdk refused the arguments: no retry helps
            raise DeliveryFailed(f"Slack upload failed: {exc}", permanent=True) from exc
        except OSError as exc:  # urllib's connection errors and timeouts
            raise DeliveryFailed(f"could not reach Slack: {exc}", permanent=False) from exc

    def _client(self) -> WebClient:
        settings = self._settings
        if not settings.slack_bot_token:
            raise DeliveryFailed("BROADSHEET_SLACK_BOT_TOKEN is not set", permanent=True)
        return WebClient(
            token=settings.slack_bot_token,
            base_url=settings.slack_api_url.rstrip("/") + "/",
            # Whole seconds, and never 0, which urllib would take as "do not wait at all".
            timeout=max(1, math.ceil(settings.delivery_timeout_seconds)),
            # The delivery service retries with backoff and counts attempts; slack_sdk's own
            # retry of a dropped connection could post a message twice, and hides the attempt.
            retry_handlers=[],
        )


def _post_and_upload(client: WebClient, parcel: Parcel, address: str) -> dict[str, Any]:
    channel = _channel_id(client, address)
    if parcel.attach:
        return {"channel": channel, "fileId": _upload(client, parcel, channel)}
    posted = client.chat_postMessage(
        channel=channel, text=_text(parcel), blocks=_blocks(parcel, link=True)
    )
    return {"channel": posted["channel"], "ts": posted["ts"]}


def _channel_id(client: WebClient, address: str) -> str:
    """The conversation to post in: a ``#name`` among the channels the bot can see, a user's
    direct-message channel with the bot, or a channel id as is."""
    if address.startswith("U"):
        opened = client.conversations_open(users=address)
        return str(opened["channel"]["id"])
    if not address.startswith("#"):
        return address
    name = address[1:]
    # Iterating a SlackResponse fetches the following pages by their cursor.
    for page in client.conversations_list(
        types="public_channel,private_channel", exclude_archived=True, limit=1000
    ):
        for channel in page["channels"]:
            if channel["name"] == name:
                return str(channel["id"])
    raise DeliveryFailed(
        f"Slack channel {address} was not found among the public channels and the private "
        "ones the bot was invited to",
        permanent=True,
    )


def _upload(client: WebClient, parcel: Parcel, channel: str) -> str:
    artifact = parcel.artifact
    done = client.files_upload_v2(
        channel=channel,
        file=str(artifact.path),
        filename=artifact.filename,
        title=artifact.filename,
        initial_comment=_comment(parcel),
    )
    return str(done["file"]["id"])


def _comment(parcel: Parcel) -> str:
    """The message posted with the file (mrkdwn text: a file comment takes no blocks)."""
    lines = [f"*{_escape(parcel.report_name)}*",
             f"{_escape(parcel.schedule_name)} · {_local_time(parcel)}"]  # fmt: skip
    lines += [f"*{_escape(label)}*: {_escape(value)}" for label, value in parcel.summary]
    lines.append(_open_link(parcel))
    return "\n".join(lines)


def _api_failure(exc: SlackApiError) -> DeliveryFailed:
    response = exc.response
    status = response.status_code
    # slack_sdk puts a non-JSON answer (a proxy's error page) in "error": keep it short.
    error = str(response.get("error", "unknown error"))[:_ERROR_MAX]
    method = response.api_url.rsplit("/", 1)[-1]
    retryable = status == 429 or status >= 500
    message = f"Slack {method} failed: {error}"
    if status != 200:  # Slack answers its own errors with 200
        message += f" (HTTP {status})"
    return DeliveryFailed(message, permanent=not retryable and error in _PERMANENT_ERRORS)


def _text(parcel: Parcel) -> str:
    """The plain fallback Slack shows in notifications."""
    return _escape(f"{parcel.report_name} — {parcel.schedule_name}, {_local_time(parcel)}")


def _blocks(parcel: Parcel, *, link: bool) -> list[dict[str, Any]]:
    """The message: title and time, the summary as fields, and links (the export's when it
    is not attached)."""
    heading = f"*{_escape(parcel.report_name)}*\n{_escape(parcel.schedule_name)} · "
    blocks = [_section(heading + _local_time(parcel))]
    summary = [_mrkdwn(f"*{_escape(label)}*\n{_escape(value)}") for label, value in parcel.summary]
    blocks += [
        {"type": "section", "fields": summary[start : start + _FIELDS_PER_SECTION]}
        for start in range(0, len(summary), _FIELDS_PER_SECTION)
    ]
    links = [_open_link(parcel)]
    if link:
        links.insert(0, f"<{parcel.artifact_url}|Download {_escape(parcel.artifact.filename)}>")
    blocks.append(_section(" · ".join(links)))
    return blocks


def _open_link(parcel: Parcel) -> str:
    return f"<{parcel.result_url}|Open {'dashboard' if parcel.kind == 'dashboard' else 'result'}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _escape(text: str) -> str:
    """Slack's mrkdwn takes &, < and > as markup; these are the only escapes it defines."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _local_time(parcel: Parcel) -> str:
    return parcel.scheduled_for.astimezone(ZoneInfo(parcel.timezone)).strftime("%Y-%m-%d %H:%M %Z")
