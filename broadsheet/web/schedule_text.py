"""How the schedule pages say things: a cadence in words, and the lists the cadence form
offers (IANA time zones, holiday calendars).

Everything here is display only; what a schedule does is decided by ``broadsheet.schedules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import holidays
from holidays import registry

from broadsheet.schedules.cadence import from_cron

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def friendly(stored: Mapping[str, Any] | None, expression: str, zone: str) -> dict[str, Any]:
    """The ``scheduleConfig`` to show: a cron cadence as stored; any other in its canonical
    form, read from the expression (``dayOfWeek`` 1-7, where a client may have sent "MON")."""
    if stored and stored.get("cadence") == "cron":
        return dict(stored)
    return from_cron(expression, zone)


def cadence_words(
    config: Mapping[str, Any], *, business_days_only: bool = False, holiday_calendar: str | None
) -> str:
    """``Every Monday at 09:00, business days only, not on US holidays``."""
    cadence = config.get("cadence")
    time = config.get("time", "")
    if cadence == "daily":
        said = f"Every day at {time}"
    elif cadence == "weekly":
        day = config.get("dayOfWeek")
        name = WEEKDAYS[day - 1] if isinstance(day, int) and 1 <= day <= 7 else str(day)
        said = f"Every {name} at {time}"
    elif cadence == "monthly":
        day = config.get("dayOfMonth")
        which = f"the {_ordinal(int(str(day)))}" if str(day).isdigit() else "the last day"
        said = f"Monthly on {which} at {time}"
    else:
        said = f"Cron {config.get('cronExpression', '')}"
    if business_days_only:
        said += ", business days only"
    if holiday_calendar:
        said += f", not on {holiday_calendar} holidays"
    return said


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name the server knows ("localtime" is the server's own, not one)."""
    return tuple(sorted(available_timezones() - {"localtime"}))


@cache
def holiday_calendars() -> tuple[tuple[str, str], ...]:
    """(code, country name) of each country the holidays package has a calendar for."""
    supported = holidays.list_supported_countries(include_aliases=False)
    names = {entry[1]: key.replace("_", " ").title() for key, entry in registry.COUNTRIES.items()}
    return tuple(sorted((code, names.get(code, code)) for code in supported))
