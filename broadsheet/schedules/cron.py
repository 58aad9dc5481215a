"""Cron cadences in a time zone: checked with messages that name the problem, and their next
fire instants by DESIGN.md's rules for daylight saving time.

cronsim reads the expression and decides which minutes, months and days match (see ``_Cron``);
the matching *naive local wall times* are then turned into instants:

- a wall time that happens once is that instant;
- a wall time that happens twice (fall back) fires once, at its first occurrence. That holds for
  schedules that fire every hour or minute too: ``*/15 * * * *`` is silent through the repeated
  hour (New York, 2024-11-03: 01:45 EDT, then 02:00 EST), since each of those wall times has
  already fired once, and a second run would be a second report for the same local time;
- a wall time that does not exist (spring forward) fires at the first instant after the gap,
  once however many wall times fell into it: ``30 2 * * *`` and ``*/15 2 * * *`` both fire at
  03:00 EDT on 2024-03-10 in New York.

cronsim has DST handling of its own, but not these rules: it only applies to expressions with
a fixed minute and hour (``*/15 2 * * *`` skips the spring-forward day; ``30 */2 * * *`` loses
its 02:30; hourly schedules fire twice in the repeated hour), and from an instant in the second
occurrence of a repeated hour it can answer the first occurrence, which is in the past. Under
these rules wall time to instant never goes backwards, so the fires after an instant are the
resolved matches of the wall times after its own wall time.

``business_days_only`` skips Saturdays and Sundays; ``holiday_calendar`` skips a country's
public holidays (the ``holidays`` package, observed days included: ``US``, ``GB``, ``US-NY``).
Both are judged by the local date of the fire. A search that finds no fire for ``HORIZON``
gives up: :func:`next_fires` returns the fires it found and never loops forever.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_left
from calendar import monthrange
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

import holidays
from cronsim import CronSim, CronSimError

MAX_LENGTH = 200
HORIZON = timedelta(days=30 * 366)
"""The longest a search goes on past the previous fire (or the start) before it gives up:
long enough for ``0 9 * 2 MON#5`` (every 28 years), short enough that a cadence which can
never fire, such as New Year's Day on business days, answers in milliseconds."""

_SECOND = timedelta(seconds=1)
_ONE_MINUTE = timedelta(minutes=1)
_ONE_DAY = timedelta(days=1)
_CYCLE_START = datetime(2000, 1, 1)  # 2000-2027: every weekday and leap-year combination
_CYCLE_END = datetime(2028, 1, 1)
_MONTHS_KEPT = 1200
_NUMBER = re.compile(r"[0-9]+")
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class CronError(ValueError):
    """A cadence that cannot be used. ``field`` is what is wrong: ``schedule``, ``timezone`` or
    ``holidayCalendar`` here, ``scheduleConfig.<key>`` from :mod:`.cadence`."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)  # both in args, so the error survives pickling
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


# --- checking an expression ---------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name: int = 0  # the number names[0] stands for

    def fail(self, problem: str) -> CronError:
        return CronError(f"{self.name} field: {problem}", "schedule")

    def value(self, token: str) -> int:
        if token in self.names:
            return self.names.index(token) + self.first_name
        if not _NUMBER.fullmatch(token):
            known = f" or a name ({self.names[0]}-{self.names[-1]})" if self.names else ""
            what = f"'{token}' is" if token else "an empty item is"
            raise self.fail(f"{what} not a number{known}")
        if not self.low <= int(token) <= self.high:
            raise self.fail(f"{token} is out of range {self.low}-{self.high}")
        return int(token)


_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day-of-month", 1, 31)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH = _Field("month", 1, 12, _MONTHS, first_name=1)
_WEEKDAY = _Field("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
_FIELDS = (_MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY)


def _check_term(field: _Field, term: str) -> None:
    """One comma-separated item: ``*``, ``5``, ``MON``, ``1-5``, any of those ``/step``; ``L``
    and ``LW`` (last day, last weekday) in day-of-month; ``5L`` (last Friday) and ``MON#2``
    (second Monday) in day-of-week — what cronsim reads, with a message for what it does not."""
    if (field is _DAY and term in ("L", "LW")) or (field is _WEEKDAY and _special_weekday(term)):
        return
    base, slash, step = term.partition("/")
    if slash and not (_NUMBER.fullmatch(step) and int(step) >= 1):
        raise field.fail(f"step '{step}' in '{term}' is not a whole number of at least 1")
    if base == "*":
        return
    first, dash, last = base.partition("-")
    low = field.value(first)
    if dash and field.value(last) < low:
        raise field.fail(f"range {base} runs backwards; list it as two ranges")


def _special_weekday(term: str) -> bool:
    if term.endswith("L") and term != "L":
        if not _NUMBER.fullmatch(term[:-1]):  # cronsim takes no name here
            raise _WEEKDAY.fail(f"'{term}' needs a day number before L, e.g. 5L")
        _WEEKDAY.value(term[:-1])
        return True
    if "#" in term:
        day, _, nth = term.partition("#")
        _WEEKDAY.value(day)
        if nth not in ("1", "2", "3", "4", "5"):
            raise _WEEKDAY.fail(f"'{term}': the week after # must be 1 to 5")
        return True
    return False


def _normalize(expression: str) -> str:
    """The five fields in upper case with single spaces, macros expanded; or a CronError."""
    text = " ".join(expression.split())
    if not text:
        raise CronError("schedule is empty; give a cron expression such as '0 9 * * 1'", "schedule")
    if len(text) > MAX_LENGTH:
        raise CronError(f"schedule is longer than {MAX_LENGTH} characters", "schedule")
    if text.startswith("@"):
        return _macro(text)
    parts = text.upper().split(" ")
    if len(parts) != len(_FIELDS):
        raise CronError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
            + ("; seconds are not supported" if len(parts) == 6 else ""),
            "schedule",
        )
    for field, part in zip(_FIELDS, parts, strict=True):
        for term in part.split(","):
            _check_term(field, term)
    return text.upper()


def _macro(text: str) -> str:
    name = text.lower()
    if name in _MACROS:
        return _MACROS[name]
    known = ", ".join(_MACROS)
    if name == "@reboot":
        raise CronError(f"@reboot is not a time, so it cannot be scheduled; use one of {known}",
                        "schedule")  # fmt: skip
    raise CronError(f"unknown macro '{text}'; use one of {known}", "schedule")


class _Cron:
    """An expression as tables cronsim fills in once: the minutes of the day that match, the
    months, and each month's matching days (on demand, kept), so that the next wall time after
    another is a bisect. Iterating cronsim itself ticks an hour at a time and scans day by day
    for every fire: the next fire of 100,000 cadences took 5 s that way. Days are cronsim's
    ``match_day`` (day-of-month, day-of-week, ``L``, ``LW``, ``#``, and its rule that both
    restricted day fields match either), one call per day rather than an iteration per day.
    """

    def __init__(self, expression: str) -> None:
        minute, hour, day, month, weekday = expression.split(" ")
        self.expression = expression
        clock = _between(f"{minute} {hour} * * *", _CYCLE_START, _CYCLE_START + _ONE_DAY)
        self.clock = tuple(moment.hour * 60 + moment.minute for moment in clock)
        months = _between(f"0 0 1 {month} *", _CYCLE_START, _CYCLE_START.replace(year=2001))
        self.months = frozenset(moment.month for moment in months)
        self._match_day = CronSim(f"0 0 {day} * {weekday}", _CYCLE_START).match_day
        self._days: dict[tuple[int, int], tuple[int, ...]] = {}
        self.weekdays = self._cycle_weekdays()

    def _cycle_weekdays(self) -> frozenset[int]:
        """The weekdays (Monday 0) its days fall on over 2000-2027, a whole cycle of weekdays
        and leap years; it stops at the first Monday to Friday, which is all parse needs."""
        found: set[int] = set()
        day = _CYCLE_START.date()
        while day < _CYCLE_END.date():
            if day.month in self.months and self._match_day(day):
                found.add(day.weekday())
                if day.weekday() < 5:
                    break
            day += _ONE_DAY
        return frozenset(found)

    def days(self, year: int, month: int) -> tuple[int, ...]:
        """The days of a month that match, ascending."""
        if month not in self.months:
            return ()
        days = self._days.get((year, month))
        if days is None:
            every = (date(year, month, day) for day in range(1, monthrange(year, month)[1] + 1))
            days = tuple(day.day for day in every if self._match_day(day))
            if len(self._days) >= _MONTHS_KEPT:
                self._days.clear()
            self._days[year, month] = days
        return days

    def next_after(self, wall: datetime, limit: datetime) -> datetime | None:
        """The first matching wall time strictly after ``wall``; None past ``limit``'s month."""
        start = wall.replace(second=0, microsecond=0) + _ONE_MINUTE
        year, month = start.year, start.month
        days = self.days(year, month)
        index = bisect_left(days, start.day)
        if index < len(days) and days[index] == start.day:
            at = bisect_left(self.clock, start.hour * 60 + start.minute)
            if at < len(self.clock):
                return _wall(year, month, start.day, self.clock[at])
            index += 1
        while index == len(days):
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            if (year, month) > (limit.year, limit.month):
                return None
            days, index = self.days(year, month), 0
        return _wall(year, month, days[index], self.clock[0])


def _between(expression: str, start: datetime, stop: datetime) -> Iterator[datetime]:
    """cronsim's matches of ``expression`` in [start, stop), naive."""
    for moment in CronSim(expression, start - _SECOND):
        if moment >= stop:
            return
        yield moment


def _wall(year: int, month: int, day: int, minute_of_day: int) -> datetime:
    return datetime(year, month, day, minute_of_day // 60, minute_of_day % 60)


@lru_cache(maxsize=4096)
def _compile(expression: str) -> _Cron:
    normal = _normalize(expression)
    day, month, weekday = normal.split(" ")[2:]
    try:
        CronSim(normal, _CYCLE_START)  # cronsim refuses days that never occur in the months
    except CronSimError:
        raise CronError(
            f"day-of-month field: day {day} never occurs in month {month}, so it never fires",
            "schedule",
        ) from None
    cron = _Cron(normal)
    if not cron.weekdays:
        raise CronError(
            f"no day is both day-of-month {day} and day-of-week {weekday} (in month {month}), "
            "so it never fires",
            "schedule",
        )
    return cron


# --- time zones and holiday calendars -----------------------------------------------------


def _unknown(what: str, name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"unknown {what} '{name}'" + (f"; did you mean '{close[0]}'?" if close else "")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # "localtime" is the server's own setting, not an IANA zone.
    return frozenset(available_timezones() - {"localtime"})


@cache
def _zone(name: str) -> ZoneInfo:
    if name not in _zone_names():
        raise CronError(_unknown("time zone", name, _zone_names()), "timezone")
    return ZoneInfo(name)


@lru_cache(maxsize=1)
def _countries() -> dict[str, list[str]]:
    return holidays.list_supported_countries(include_aliases=False)


@lru_cache(maxsize=1)
def _aliases() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries(include_aliases=True))


def _country(code: str) -> str:
    """ISO 3166 alpha-2 for an alias the holidays package knows (UK, USA, GBR), else as given."""
    if code in _countries() or code not in _aliases():
        return code
    return str(holidays.country_holidays(code).country)


@lru_cache(maxsize=1024)
def _calendar(code: str) -> str:
    """``us`` → ``US``, ``us-ny`` → ``US-NY``: a country the holidays package knows, and
    optionally one of its subdivisions."""
    country, dash, region = code.strip().partition("-")
    country = _country(country.upper())
    if country not in _countries():
        raise CronError(
            _unknown("holiday calendar", code, frozenset(_countries()))
            + " (use a country code such as US, GB or DE, or US-NY for a subdivision)",
            "holidayCalendar",
        )
    if not dash:
        return country
    regions = {name.casefold(): name for name in _countries()[country]}
    if region.casefold() not in regions:
        listed = ", ".join(_countries()[country]) or "none"
        raise CronError(
            f"holiday calendar {country} has no subdivision '{region}' (it has: {listed})",
            "holidayCalendar",
        )
    return f"{country}-{regions[region.casefold()]}"


@lru_cache(maxsize=4096)
def _holidays(calendar: str, year: int) -> frozenset[date]:
    country, _, region = calendar.partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=region or None, years=year))


def _closed_days(cadence: Cadence) -> Callable[[date], int] | None:
    """A function telling how many days to skip from a local date (0 when a fire may run on
    it), or None when every day is open."""
    calendar = _calendar(cadence.holiday_calendar) if cadence.holiday_calendar else None
    weekends = cadence.business_days_only
    if not weekends and calendar is None:
        return None

    def closed(day: date) -> int:
        weekday = day.weekday()
        if weekends and weekday >= 5:
            return 7 - weekday  # Saturday → Monday, Sunday → Monday
        return int(calendar is not None and day in _holidays(calendar, day.year))

    return closed


# --- wall times to instants ---------------------------------------------------------------


def _resolve(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instant a matching wall time fires at, and the wall time it shows then."""
    before = zone.utcoffset(wall)
    after = zone.utcoffset(wall.replace(fold=1))
    assert before is not None  # a ZoneInfo always has an offset
    assert after is not None
    if before >= after:  # once, or twice (fall back: fold=0 is the first occurrence)
        return (wall - before).replace(tzinfo=UTC), wall
    end = _gap_end(zone, wall - after, wall - before)
    return end.replace(tzinfo=UTC), end + after


def _gap_end(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The spring-forward transition between two naive UTC instants: the first second with
    the new offset (binary search; exact also for zones that move at odd minutes)."""
    old = _offset_at(zone, low)
    lo, hi = 0, int((high - low).total_seconds())
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if _offset_at(zone, low + timedelta(seconds=middle)) == old:
            lo = middle
        else:
            hi = middle
    return low + timedelta(seconds=hi)


def _offset_at(zone: ZoneInfo, utc: datetime) -> timedelta | None:
    return zone.fromutc(utc.replace(tzinfo=zone)).utcoffset()


# --- the API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cadence:
    """When a schedule fires: a five-field cron expression read in ``timezone``."""

    expression: str
    timezone: str = "UTC"
    business_days_only: bool = False
    holiday_calendar: str | None = None

    @classmethod
    def parse(
        cls,
        expression: str,
        timezone: str = "UTC",
        *,
        business_days_only: bool = False,
        holiday_calendar: str | None = None,
    ) -> Cadence:
        """A checked cadence, or a CronError naming the field and the problem.

        Accepts ``*``, numbers, ranges, lists, steps, month and day names (``JAN``, ``MON``;
        0 and 7 are Sunday), cronsim's ``L``, ``LW``, ``5L`` and ``MON#2``, and the macros
        ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight`` and
        ``@hourly``; ``@reboot`` is refused, as are seconds. Refused too: a day-of-month that
        never occurs in the months given (``0 0 30 2 *``), day fields that never match
        together, and a weekends-only expression with ``business_days_only``. As in cronsim
        (and Debian cron), when both day fields are restricted a day matches either; if one
        starts with ``*``, both must.

        Cheap after the first call for the same text: the checks are cached.
        """
        cron = _compile(expression)
        _zone(timezone)
        calendar = _calendar(holiday_calendar) if holiday_calendar else None
        if business_days_only and min(cron.weekdays) >= 5:
            raise CronError(
                "the schedule only fires on Saturdays and Sundays, which business days only "
                "skips, so it would never fire",
                "schedule",
            )
        return cls(" ".join(expression.split()), timezone, business_days_only, calendar)


def next_fires(cadence: Cadence, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire instants strictly after the aware instant ``after``, in UTC.

    Fewer (possibly none) when the cadence finds no fire for :data:`HORIZON`, or reaches the
    year 9999. Raises CronError for a cadence :meth:`Cadence.parse` would refuse.
    """
    if after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime")
    cron = _compile(cadence.expression)
    zone = _zone(cadence.timezone)
    closed = _closed_days(cadence)
    fires: list[datetime] = []
    if count < 1:
        return fires
    try:
        wall = after.astimezone(zone).replace(tzinfo=None, fold=0)
        _collect(cron, zone, closed, after.astimezone(UTC), wall, count, fires)
    except OverflowError:  # the calendar ends at 9999-12-31
        pass
    return fires


def _collect(
    cron: _Cron,
    zone: ZoneInfo,
    closed: Callable[[date], int] | None,
    last: datetime,
    wall: datetime,
    count: int,
    fires: list[datetime],
) -> None:
    """Append fires after the instant ``last``, whose local wall time is ``wall``."""
    limit = min(wall, datetime.max - HORIZON) + HORIZON
    while len(fires) < count:
        candidate = cron.next_after(wall, limit)
        if candidate is None or candidate > limit:
            return
        wall = candidate
        instant, shown = _resolve(candidate, zone)
        if instant <= last:  # a repeated hour's second run, or a gap that has fired
            continue
        skip = closed(shown.date()) if closed is not None else 0
        if skip:  # go on from the first minute of the next day that may be open
            wall = datetime.combine(shown.date() + timedelta(days=skip), time()) - _ONE_MINUTE
            continue
        fires.append(instant)
        last, limit = instant, min(candidate, datetime.max - HORIZON) + HORIZON


def next_fire(cadence: Cadence, after: datetime) -> datetime | None:
    """The first fire instant strictly after ``after`` (UTC), or None if it never fires."""
    fires = next_fires(cadence, after, 1)
    return fires[0] if fires else None
