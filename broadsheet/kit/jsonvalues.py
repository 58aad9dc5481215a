"""Values from result rows made JSON-safe without losing meaning."""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """ISO 8601 for dates and times; a decimal as a number when a float holds it exactly,
    else as a string (so 12345678901234567.89 is not silently rounded); NaN/∞ as null."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value.normalize() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
