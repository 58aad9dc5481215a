"""How numbers and times print for people: one set of rules for the PDF's data table and the
table chart, so the same value reads the same in both."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any


def decimals(values: Sequence[Any], cap: int) -> int:
    """The fewest decimals (up to ``cap``) that show every value of a float column as it is,
    so a column reads 5.50, 19.99 and not 5.5, 19.99 — nor 0.30000000000000004."""
    finite = [abs(v) for v in values if isinstance(v, float) and math.isfinite(v)]
    for places in range(cap + 1):
        if all(abs(round(v, places) - v) <= 1e-9 * max(1.0, v) for v in finite):
            return places
    return cap


def float_text(value: float, places: int) -> str:
    """Thousands separators, ``places`` decimals, hyphen-minus; NaN and ∞ by name."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value and (abs(value) >= 1e16 or abs(value) < 0.5 * 10.0**-places):
        return f"{value:.4g}"  # too large for exact digits, or too small for the decimals
    shown = f"{value + 0.0:,.{places}f}"
    return shown[1:] if shown.startswith("-") and not shown.strip("-0.,") else shown


def decimal_text(value: Decimal, scale: int) -> str:
    return f"{value:,.{scale}f}" if value.is_finite() else str(value)


def clock(value: datetime, seconds: bool) -> str:
    """The date and wall-clock time, with seconds only when asked (some values have them)."""
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
