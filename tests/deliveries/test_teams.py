"""The Teams channel against a real HTTP server on 127.0.0.1: the Adaptive Card it posts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.channels.teams import TeamsChannel
from broadsheet.deliveries.recipients import Recipient, RecipientType
from tests.deliveries.httpserver import RecordingServer, Reply, loopback_settings, make_parcel

ARTIFACT_URL = "https://reports.example.com/a/5cbe8fa7.csv?expires=1710000000&sig=abc123"
RESULT_URL = "https://reports.example.com/results/5cbe8fa7"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    # Workflows answers 202 Accepted.
    with RecordingServer(lambda _request: Reply(202)) as running:
        yield running


def recipient(url: str) -> Recipient:
    return Recipient(type=RecipientType.teams, address=url)


def test_posts_one_adaptive_card(tmp_path: Path, server: RecordingServer) -> None:
    url = f"{server.url}/workflows/triggers/manual/paths/invoke?sig=s3cr3t"
    details = TeamsChannel(loopback_settings(tmp_path)).send(make_parcel(tmp_path), recipient(url))

    assert details == {"status": 202}
    [request] = server.requests
    assert request.path == "/workflows/triggers/manual/paths/invoke?sig=s3cr3t"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "Weekly sales",
                            "size": "Large",
                            "weight": "Bolder",
                            "wrap": True,
                        },
                        {
                            "type": "TextBlock",
                            "text": "Monday morning · 2024-03-04 08:00 CET",
                            "isSubtle": True,
                            "spacing": "None",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "region", "value": "North, South"},
                                {"title": "since", "value": "2024-02-26"},
                            ],
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Revenue", "value": "€2,180.50"},
                                {"title": "Orders", "value": "42"},
                            ],
                        },
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Download CSV", "url": ARTIFACT_URL},
                        {"type": "Action.OpenUrl", "title": "Open result", "url": RESULT_URL},
                    ],
                },
            }
        ],
    }


def test_a_card_without_parameters_or_summary_has_no_empty_fact_sets(
    tmp_path: Path, server: RecordingServer
) -> None:
    parcel = make_parcel(tmp_path, parameters={}, summary=[])
    TeamsChannel(loopback_settings(tmp_path)).send(parcel, recipient(f"{server.url}/hook"))

    card = server.requests[0].json()["attachments"][0]["content"]
    assert [block["type"] for block in card["body"]] == ["TextBlock", "TextBlock"]


def test_a_gone_webhook_is_permanent(tmp_path: Path, server: RecordingServer) -> None:
    server.respond = lambda _request: Reply(410, b"Gone")
    with pytest.raises(DeliveryFailed) as caught:
        TeamsChannel(loopback_settings(tmp_path)).send(
            make_parcel(tmp_path), recipient(f"{server.url}/hook")
        )
    assert caught.value.permanent


def test_guarded_like_a_webhook(tmp_path: Path, server: RecordingServer) -> None:
    settings = loopback_settings(tmp_path, webhook_allow_private=False)
    with pytest.raises(DeliveryFailed) as caught:
        TeamsChannel(settings).send(make_parcel(tmp_path), recipient(f"{server.url}/hook"))
    assert caught.value.permanent
    assert "loopback" in caught.value.message
    assert server.requests == []
