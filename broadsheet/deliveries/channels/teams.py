"""The Microsoft Teams channel: one Adaptive Card posted to an incoming-webhook or Workflows URL.

The card shows the report's name, the schedule and its local fire time, the parameters and the
summary as facts, and buttons to download the export (the signed link) and to open the result.
Teams cannot take a file through a webhook, so the export always goes as the link. The URL is
a tenant's, so it goes through the outbound-address guard like a webhook.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import orjson

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import Parcel
from broadsheet.deliveries.http import post_json
from broadsheet.deliveries.recipients import Recipient
from broadsheet.kit.jsonvalues import jsonable

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# 1.4 is the newest version both the Teams clients and Workflows render.
CARD_VERSION = "1.4"
_FORMAT_LABELS = {"excel": "Excel", "parquet": "Parquet"}  # the rest read well upper-cased


class TeamsChannel:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, parcel: Parcel, recipient: Recipient) -> dict[str, Any]:
        body = orjson.dumps(_message(parcel))
        response = post_json(recipient.address, body, {}, self._settings)
        return {"status": response.status_code}


def _message(parcel: Parcel) -> dict[str, Any]:
    """The message Teams is sent: one Adaptive Card, as both webhook kinds take it."""
    card = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": _card_body(parcel),
        "actions": [
            _open_url(f"Download {_format_label(parcel.artifact.format)}", parcel.artifact_url),
            _open_url(
                "Open dashboard" if parcel.kind == "dashboard" else "Open result", parcel.result_url
            ),
        ],
    }
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return {"type": "message", "attachments": [attachment]}


def _card_body(parcel: Parcel) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": parcel.report_name,
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": f"{parcel.schedule_name} · {_local_time(parcel)}",
            "isSubtle": True,
            "spacing": "None",
            "wrap": True,
        },
    ]
    parameters = [(name, _show(value)) for name, value in parcel.parameters.items()]
    # An empty FactSet is not valid in every client, so a card without facts has none.
    body += [_fact_set(facts) for facts in (parameters, parcel.summary) if facts]
    return body


def _fact_set(facts: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]}


def _open_url(title: str, url: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_show(item) for item in value)
    return str(jsonable(value))


def _format_label(fmt: str) -> str:
    return _FORMAT_LABELS.get(fmt, fmt.upper())


def _local_time(parcel: Parcel) -> str:
    return parcel.scheduled_for.astimezone(ZoneInfo(parcel.timezone)).strftime("%Y-%m-%d %H:%M %Z")
