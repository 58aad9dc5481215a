"""Instants as pages show them: a wall-clock time a person reads, in a zone the page names,
and the exact UTC instant in ``<time datetime="…Z">`` for machines (templates:
``<time datetime="{{ m.iso }}">{{ m.text }}</time>``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

UTC_NAME = "UTC"


@dataclass(frozen=True)
class Moment:
    iso: str  # 2025-06-01T08:00:00Z
    text: str  # 2025-06-01 09:00 (Europe/London)


def moment(value: datetime, zone: str = UTC_NAME) -> Moment:
    """``value`` (aware) in ``zone``; an unknown zone name shows UTC rather than failing."""
    try:
        local = value.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        zone, local = UTC_NAME, value.astimezone(UTC)
    iso = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = local.strftime("%Y-%m-%d %H:%M")
    return Moment(iso, f"{stamp} UTC" if zone == UTC_NAME else f"{stamp} ({zone})")


def maybe_moment(value: datetime | None, zone: str = UTC_NAME) -> Moment | None:
    return None if value is None else moment(value, zone)
