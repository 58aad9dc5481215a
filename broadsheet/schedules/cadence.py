"""Seed 004's friendly ``scheduleConfig`` and the cron expression a schedule stores, both ways.

    {"cadence": "daily", "time": "09:00"}                       "0 9 * * *"
    {"cadence": "weekly", "time": "09:00", "dayOfWeek": 1}      "0 9 * * 1"
    {"cadence": "monthly", "time": "09:00", "dayOfMonth": 15}   "0 9 15 * *"
    {"cadence": "monthly", "time": "09:00", "dayOfMonth": "L"}  "0 9 L * *"
    {"cadence": "cron", "cronExpression": "*/15 9-17 * * 1-5"}  as given

each with ``timezone`` (IANA, default ``UTC``). ``time`` is ``HH:MM`` on a 24-hour clock.
``dayOfWeek`` counts as ISO 8601 does, Monday 1 to Sunday 7 (not cron's Sunday 0), or is a
name: ``MON`` … ``SUN`` or ``Monday`` … ``Sunday``. ``dayOfMonth`` 29, 30 or 31 fires only in
months that have that day, as cron does, rather than moving to a shorter month's last day:
"the 31st" stays one meaning, and a clamped 30 cannot be written as one cron expression.
``"L"`` (or ``"last"``) is the last day of every month.

Every error is a :class:`~broadsheet.schedules.cron.CronError` whose field is
``scheduleConfig.<key>``. ``None`` counts as absent; a key another cadence uses is refused
rather than ignored, so a ``dayOfWeek`` sent with a daily cadence is not silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

from broadsheet.schedules.cron import Cadence, CronError

_CADENCES = ("daily", "weekly", "monthly", "cron")
_NEEDS = {
    "daily": ("time",),
    "weekly": ("time", "dayOfWeek"),
    "monthly": ("time", "dayOfMonth"),
    "cron": ("cronExpression",),
}
_KEYS = ("cadence", "timezone", "time", "dayOfWeek", "dayOfMonth", "cronExpression")
_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_WEEKDAYS = {str(iso): iso for iso in range(1, 8)} | {
    name: iso for iso, day in enumerate(_DAYS, 1) for name in (day, day[:3])
}
_MONTH_DAYS = {str(day): str(day) for day in range(1, 32)} | {"L": "L", "LAST": "L"}
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
# Exactly what to_cron writes: numbers without leading zeros, Sunday as 0.
_FRIENDLY = re.compile(
    r"(?P<minute>[1-5]?[0-9]) (?P<hour>1?[0-9]|2[0-3]) "
    r"(?P<day>[1-9]|[12][0-9]|3[01]|L|\*) \* (?P<weekday>[0-6]|\*)"
)


def _error(key: str, message: str) -> CronError:
    return CronError(message, f"scheduleConfig.{key}")


def to_cron(config: dict[str, Any]) -> tuple[str, str]:
    """(cron expression, time zone) for a ``scheduleConfig``; raises CronError."""
    given = {key: value for key, value in config.items() if value is not None}
    cadence = _check_keys(given)
    timezone = _timezone(given.get("timezone", "UTC"))
    if cadence == "cron":
        return _cron_expression(given["cronExpression"], timezone), timezone
    minute, hour = _time(given["time"])
    day = _day_of_month(given["dayOfMonth"]) if cadence == "monthly" else "*"
    weekday = _day_of_week(given["dayOfWeek"]) if cadence == "weekly" else "*"
    return f"{minute} {hour} {day} * {weekday}", timezone


def from_cron(expression: str, timezone: str) -> dict[str, Any]:
    """The friendly form of an expression :func:`to_cron` writes (daily, weekly, monthly);
    any other expression comes back as ``{"cadence": "cron", "cronExpression": …}``."""
    text = " ".join(expression.split())
    match = _FRIENDLY.fullmatch(text)
    if match is None or (match["day"] != "*" and match["weekday"] != "*"):
        return {"cadence": "cron", "cronExpression": text, "timezone": timezone}
    config: dict[str, Any] = {
        "cadence": "daily",
        "time": f"{match['hour']:0>2}:{match['minute']:0>2}",
    }
    if match["weekday"] != "*":
        config.update(cadence="weekly", dayOfWeek=int(match["weekday"]) or 7)
    elif match["day"] != "*":
        day = match["day"]
        config.update(cadence="monthly", dayOfMonth=day if day == "L" else int(day))
    config["timezone"] = timezone
    return config


def _check_keys(given: dict[str, Any]) -> str:
    """The cadence, once every key is known, needed and present."""
    for key in given:
        if key not in _KEYS:
            raise _error(key, f"unknown field; scheduleConfig has {', '.join(_KEYS)}")
    cadence = given.get("cadence")
    if cadence not in _CADENCES:
        shown = "missing" if cadence is None else f"{cadence!r} is not one"
        raise _error("cadence", f"{shown}; use one of {', '.join(_CADENCES)}")
    for key in _KEYS[2:]:
        users = [name for name, needs in _NEEDS.items() if key in needs]
        if key in given and cadence not in users:
            raise _error(key, f"only for a {' or '.join(users)} cadence, not {cadence}")
        if key not in given and cadence in users:
            raise _error(key, f"required for a {cadence} cadence")
    return str(cadence)


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise _error("timezone", "must be an IANA time zone name such as 'Europe/London'")
    try:
        Cadence.parse("0 0 * * *", value)
    except CronError as exc:
        raise _error("timezone", exc.message) from None
    return value


def _cron_expression(value: Any, timezone: str) -> str:
    if not isinstance(value, str):
        raise _error("cronExpression", "must be a cron expression such as '0 9 * * 1'")
    try:
        return Cadence.parse(value, timezone).expression
    except CronError as exc:
        raise _error("cronExpression", exc.message) from None


def _time(value: Any) -> tuple[int, int]:
    """(minute, hour) of ``HH:MM``."""
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise _error("time", f"{value!r} is not a 24-hour time HH:MM (00:00 to 23:59)")
    return int(match[2]), int(match[1])


def _day_of_week(value: Any) -> int:
    """Cron's day of week (Sunday 0) for ISO 1-7 or a day's name."""
    iso = _WEEKDAYS.get(_token(value))
    if iso is None:
        raise _error(
            "dayOfWeek", f"{value!r} is not a day: 1 (Monday) to 7 (Sunday), or MON to SUN"
        )
    return iso % 7


def _day_of_month(value: Any) -> str:
    day = _MONTH_DAYS.get(_token(value))
    if day is None:
        raise _error("dayOfMonth", f"{value!r} is not a day of the month: 1 to 31, or 'L' (last)")
    return day


def _token(value: Any) -> str:
    """An int (not a bool) or a string, as a lookup key."""
    if isinstance(value, str):
        return value.strip().upper()
    return str(value) if type(value) is int else ""
