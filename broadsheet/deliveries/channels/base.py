"""What every channel is given, and how it says a send failed.

A channel sends one :class:`Parcel` to one recipient and returns details worth keeping on the
delivery record (a message id, an object key). It raises :class:`DeliveryFailed` when the send
did not happen: ``permanent`` when trying again cannot help (a bad address, a 404 webhook, a
revoked token), else the delivery is retried with backoff.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from broadsheet.deliveries.recipients import Recipient


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Artifact:
    """The export of the execution's result, in the schedule's format (a dashboard's: the
    PDF made for the execution)."""

    path: Path  # a local file holding it (storage.local_path)
    filename: str  # safe to show and to use as an attachment or object name
    media_type: str
    format: str  # csv, excel, pdf, json, ndjson, parquet
    size: int


@dataclass(frozen=True)
class Parcel:
    """One execution's report — or dashboard, when ``dashboard_id`` is set — as every
    recipient of it gets it."""

    delivery_id: uuid.UUID  # unique per (execution, recipient): idempotency keys, Message-IDs
    tenant_id: uuid.UUID
    execution_id: uuid.UUID
    schedule_id: uuid.UUID
    report_id: uuid.UUID | None  # None for a dashboard
    result_id: uuid.UUID | None  # None for a dashboard: its PDF is of many results
    report_name: str  # the report's name, or the dashboard's
    schedule_name: str
    scheduled_for: datetime  # the fire's instant, UTC
    timezone: str  # the schedule's IANA zone, to show times in
    parameters: dict[str, Any]  # the values the report ran with (a dashboard's: its filters')
    summary: list[tuple[str, str]]  # (label, formatted value) pairs, may be empty
    row_count: int | None  # None for a dashboard
    artifact: Artifact
    attach: bool  # False: the artifact is too large, send artifact_url instead
    artifact_url: str  # signed, expiring download link
    result_url: str  # the result (or the dashboard, with its filter values) in the API
    chart_png: bytes | None = None  # the report's first chart, for bodies that show images
    unsubscribe_url: str | None = None  # email: this recipient's one-click unsubscribe link
    extra: dict[str, Any] = field(default_factory=dict)
    dashboard_id: uuid.UUID | None = None  # set when the parcel is a dashboard's PDF

    @property
    def kind(self) -> str:
        """What is sent, for the words of a message: "report" or "dashboard"."""
        return "dashboard" if self.dashboard_id is not None else "report"


class Channel(Protocol):
    def send(self, parcel: Parcel, recipient: Recipient) -> dict[str, Any]:
        """Send, or raise DeliveryFailed. Returns details for the delivery record."""
