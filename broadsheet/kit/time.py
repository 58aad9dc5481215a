from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current instant, timezone-aware in UTC: every stored instant is UTC."""
    return datetime.now(UTC)
