"""Cron cadences: DST transitions to the minute in zones that move by an hour, by 30 minutes and
across a whole day; a brute-force walk of UTC minutes as the oracle; cronsim as the oracle for
which wall times match; business days and holidays; and every error with its field."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from broadsheet.schedules import cron
from broadsheet.schedules.cron import Cadence, CronError, next_fire, next_fires

MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fires(
    expression: str,
    zone: str,
    after: datetime,
    count: int,
    *,
    business_days_only: bool = False,
    holiday_calendar: str | None = None,
) -> list[datetime]:
    cadence = Cadence.parse(
        expression, zone, business_days_only=business_days_only, holiday_calendar=holiday_calendar
    )
    return next_fires(cadence, after, count)


# --- DST, to the minute ---------------------------------------------------------------------

NEW_YORK, LONDON, LORD_HOWE = "America/New_York", "Europe/London", "Australia/Lord_Howe"

DST_CASES = [
    # New York, 2024-03-10: 02:00 EST → 03:00 EDT at 07:00Z; 02:xx does not exist.
    (NEW_YORK, "30 2 * * *", utc(2024, 3, 9, 12), [utc(2024, 3, 10, 7), utc(2024, 3, 11, 6, 30)]),
    (NEW_YORK, "30 1 * * *", utc(2024, 3, 9, 12),
     [utc(2024, 3, 10, 6, 30), utc(2024, 3, 11, 5, 30)]),
    (NEW_YORK, "0 * * * *", utc(2024, 3, 10, 5), [utc(2024, 3, 10, h) for h in (6, 7, 8)]),
    (NEW_YORK, "*/15 * * * *", utc(2024, 3, 10, 6, 30),
     [utc(2024, 3, 10, 6, 45), utc(2024, 3, 10, 7), utc(2024, 3, 10, 7, 15)]),
    (NEW_YORK, "*/15 2 * * *", utc(2024, 3, 9, 12),
     [utc(2024, 3, 10, 7), utc(2024, 3, 11, 6), utc(2024, 3, 11, 6, 15)]),
    (NEW_YORK, "30 */2 * * *", utc(2024, 3, 10, 5),
     [utc(2024, 3, 10, 5, 30), utc(2024, 3, 10, 7), utc(2024, 3, 10, 8, 30)]),
    # New York, 2024-11-03: 01:xx EDT (05:xxZ), then 01:xx EST (06:xxZ) again.
    (NEW_YORK, "30 1 * * *", utc(2024, 11, 2, 12),
     [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]),
    (NEW_YORK, "30 1 * * *", utc(2024, 11, 3, 6, 15), [utc(2024, 11, 4, 6, 30)]),  # from 01:15 EST
    (NEW_YORK, "30 2 * * *", utc(2024, 11, 2, 12), [utc(2024, 11, 3, 7, 30)]),
    (NEW_YORK, "0 * * * *", utc(2024, 11, 3, 4, 30), [utc(2024, 11, 3, h) for h in (5, 7, 8)]),
    (NEW_YORK, "*/15 * * * *", utc(2024, 11, 3, 5, 30),
     [utc(2024, 11, 3, 5, 45), utc(2024, 11, 3, 7), utc(2024, 11, 3, 7, 15)]),
    (NEW_YORK, "*/15 * * * *", utc(2024, 11, 3, 6, 20),
     [utc(2024, 11, 3, 7), utc(2024, 11, 3, 7, 15)]),
    # London, 2024-03-31: 01:00 GMT → 02:00 BST at 01:00Z; 01:xx does not exist.
    (LONDON, "30 1 * * *", utc(2024, 3, 30, 12), [utc(2024, 3, 31, 1), utc(2024, 4, 1, 0, 30)]),
    (LONDON, "30 2 * * *", utc(2024, 3, 30, 12), [utc(2024, 3, 31, 1, 30)]),
    (LONDON, "0 * * * *", utc(2024, 3, 31, 0), [utc(2024, 3, 31, 1), utc(2024, 3, 31, 2)]),
    (LONDON, "*/15 * * * *", utc(2024, 3, 31, 0, 30),
     [utc(2024, 3, 31, 0, 45), utc(2024, 3, 31, 1), utc(2024, 3, 31, 1, 15)]),
    # London, 2024-10-27: 01:xx BST (00:xxZ), then 01:xx GMT (01:xxZ) again.
    (LONDON, "30 1 * * *", utc(2024, 10, 26, 12),
     [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]),
    (LONDON, "0 2 * * *", utc(2024, 10, 26, 12), [utc(2024, 10, 27, 2)]),
    (LONDON, "0 * * * *", utc(2024, 10, 26, 23, 30), [utc(2024, 10, 27, 0), utc(2024, 10, 27, 2)]),
    (LONDON, "*/15 * * * *", utc(2024, 10, 27, 0, 30),
     [utc(2024, 10, 27, 0, 45), utc(2024, 10, 27, 2)]),
    # Lord Howe, 2024-04-07: 02:00 +11 → 01:30 +10:30 at 15:00Z Apr 6; 01:30-01:59 twice.
    (LORD_HOWE, "30 1 * * *", utc(2024, 4, 6), [utc(2024, 4, 6, 14, 30), utc(2024, 4, 7, 15)]),
    (LORD_HOWE, "0 2 * * *", utc(2024, 4, 6), [utc(2024, 4, 6, 15, 30)]),
    (LORD_HOWE, "0 * * * *", utc(2024, 4, 6, 13, 30),
     [utc(2024, 4, 6, 14), utc(2024, 4, 6, 15, 30), utc(2024, 4, 6, 16, 30)]),
    (LORD_HOWE, "*/15 * * * *", utc(2024, 4, 6, 14, 20),
     [utc(2024, 4, 6, 14, 30), utc(2024, 4, 6, 14, 45), utc(2024, 4, 6, 15, 30)]),
    # Lord Howe, 2024-10-06: 02:00 +10:30 → 02:30 +11 at 15:30Z Oct 5; 02:00-02:29 do not exist.
    (LORD_HOWE, "0 2 * * *", utc(2024, 10, 5), [utc(2024, 10, 5, 15, 30), utc(2024, 10, 6, 15)]),
    (LORD_HOWE, "15 2 * * *", utc(2024, 10, 5),
     [utc(2024, 10, 5, 15, 30), utc(2024, 10, 6, 15, 15)]),
    (LORD_HOWE, "30 2 * * *", utc(2024, 10, 5),
     [utc(2024, 10, 5, 15, 30), utc(2024, 10, 6, 15, 30)]),
    (LORD_HOWE, "30 1 * * *", utc(2024, 10, 5), [utc(2024, 10, 5, 15), utc(2024, 10, 6, 14, 30)]),
    (LORD_HOWE, "0 * * * *", utc(2024, 10, 5, 14),
     [utc(2024, 10, 5, 14, 30), utc(2024, 10, 5, 15, 30), utc(2024, 10, 5, 16)]),
    (LORD_HOWE, "*/15 * * * *", utc(2024, 10, 5, 14, 50),
     [utc(2024, 10, 5, 15), utc(2024, 10, 5, 15, 15),
      utc(2024, 10, 5, 15, 30), utc(2024, 10, 5, 15, 45)]),
    # No DST: every wall time once.
    ("Asia/Tokyo", "30 2 * * *", utc(2024, 3, 9),
     [utc(2024, 3, 9, 17, 30), utc(2024, 3, 10, 17, 30)]),
    ("Asia/Tokyo", "0 * * * *", utc(2024, 3, 9, 16, 30),
     [utc(2024, 3, 9, h) for h in (17, 18, 19)]),
    ("Asia/Tokyo", "*/15 * * * *", utc(2024, 3, 9, 17),
     [utc(2024, 3, 9, 17, 15), utc(2024, 3, 9, 17, 30), utc(2024, 3, 9, 17, 45)]),
    ("UTC", "30 2 * * *", utc(2024, 3, 31), [utc(2024, 3, 31, 2, 30), utc(2024, 4, 1, 2, 30)]),
    # Samoa skipped 2011-12-30 entirely: its noon fires at the first instant of Dec 31.
    ("Pacific/Apia", "0 12 * * *", utc(2011, 12, 29, 12),
     [utc(2011, 12, 29, 22), utc(2011, 12, 30, 10), utc(2011, 12, 30, 22)]),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "expression", "after", "expected"), DST_CASES)
def test_dst_transitions(
    zone: str, expression: str, after: datetime, expected: list[datetime]
) -> None:
    got = fires(expression, zone, after, len(expected))
    assert got == expected
    assert all(instant.tzinfo is UTC for instant in got)


def test_the_transitions_are_where_the_cases_say() -> None:
    """The expectations above rest on these offsets; tzdata agrees."""

    def offset(zone: str, instant: datetime) -> timedelta | None:
        return instant.astimezone(ZoneInfo(zone)).utcoffset()

    second = timedelta(seconds=1)
    for zone, moment, before, after in [
        (NEW_YORK, utc(2024, 3, 10, 7), -5, -4),
        (NEW_YORK, utc(2024, 11, 3, 6), -4, -5),
        (LONDON, utc(2024, 3, 31, 1), 0, 1),
        (LONDON, utc(2024, 10, 27, 1), 1, 0),
        (LORD_HOWE, utc(2024, 4, 6, 15), 11, 10.5),
        (LORD_HOWE, utc(2024, 10, 5, 15, 30), 10.5, 11),
        ("Pacific/Apia", utc(2011, 12, 30, 10), -10, 14),
    ]:
        assert offset(zone, moment - second) == timedelta(hours=before)
        assert offset(zone, moment) == timedelta(hours=after)


def test_a_fire_in_a_gap_shows_the_first_wall_time_after_it() -> None:
    fire = next_fire(Cadence.parse("30 2 * * *", NEW_YORK), utc(2024, 3, 9, 12))
    assert fire is not None
    assert fire.astimezone(ZoneInfo(NEW_YORK)).isoformat() == "2024-03-10T03:00:00-04:00"


def test_resuming_from_each_fire_gives_the_same_fires() -> None:
    cadence = Cadence.parse("*/20 0-3 * * *", NEW_YORK)
    listed = next_fires(cadence, utc(2024, 11, 2, 12), 30)
    chained, at = [], utc(2024, 11, 2, 12)
    for _ in range(30):
        following = next_fire(cadence, at)
        assert following is not None
        chained.append(following)
        at = following
    assert listed == chained
    assert listed == sorted(set(listed))


# --- the brute-force oracle -----------------------------------------------------------------

DST_ZONES = [
    NEW_YORK,
    LONDON,
    LORD_HOWE,
    "America/Santiago",  # moves at midnight
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -3:30 / -2:30
    "Africa/Casablanca",  # +1 most of the year, 0 in Ramadan
    "Europe/Dublin",  # tzdata's negative DST
]

ALL_MINUTES, ALL_HOURS, ALL_DAYS = set(range(60)), set(range(24)), set(range(7))
MINUTE_FIELDS = [
    ("0", {0}), ("30", {30}), ("45", {45}), ("*/15", {0, 15, 30, 45}), ("*", ALL_MINUTES),
    ("5,35", {5, 35}), ("0-10/5", {0, 5, 10}), ("59", {59}),
]  # fmt: skip
HOUR_FIELDS = [
    ("*", ALL_HOURS), ("0", {0}), ("1", {1}), ("2", {2}), ("3", {3}), ("23", {23}),
    ("1-3", {1, 2, 3}), ("*/2", set(range(0, 24, 2))), ("0,2", {0, 2}),
]  # fmt: skip
WEEKDAY_FIELDS = [  # Python's weekday(): Monday 0
    ("*", ALL_DAYS), ("MON-FRI", {0, 1, 2, 3, 4}), ("SUN", {6}), ("SAT,SUN", {5, 6}), ("1", {0}),
]  # fmt: skip


@lru_cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """The instants (to the hour) at which a zone's offset changed in 2023-2025."""
    zone, found = ZoneInfo(zone_name), []
    instant, end = utc(2023, 1, 1), utc(2026, 1, 1)
    offset = instant.astimezone(zone).utcoffset()
    while instant < end:
        instant += timedelta(hours=1)
        if (now := instant.astimezone(zone).utcoffset()) != offset:
            found.append(instant)
            offset = now
    return tuple(found)


def brute_force(
    fields: tuple[set[int], set[int], set[int]],
    zone: ZoneInfo,
    after: datetime,
    business_days_only: bool,
    wanted: int,
    end: datetime,
) -> list[datetime]:
    """DESIGN.md's rules applied literally, one UTC minute at a time: a wall time fires if it
    matches, at its first occurrence only; wall times a gap skips fire once, at the first
    instant after the gap; business days are judged by the local date of the fire."""
    minutes, hours, weekdays = fields

    def matches(wall: datetime) -> bool:
        return wall.minute in minutes and wall.hour in hours and wall.weekday() in weekdays

    found: list[datetime] = []
    instant = after.replace(second=0, microsecond=0) + MINUTE
    previous = (instant - MINUTE).astimezone(zone).replace(tzinfo=None)
    while instant <= end and len(found) < wanted:
        local = instant.astimezone(zone)
        wall = local.replace(tzinfo=None, fold=0)
        skipped = [previous + MINUTE * k for k in range(1, (wall - previous) // MINUTE)]
        candidates = skipped + ([] if local.fold else [wall])
        if any(map(matches, candidates)) and not (business_days_only and local.weekday() >= 5):
            found.append(instant)
        previous, instant = wall, instant + MINUTE
    return found


@settings(max_examples=150, deadline=None)
@given(
    minute=st.sampled_from(MINUTE_FIELDS),
    hour=st.sampled_from(HOUR_FIELDS),
    weekday=st.sampled_from(WEEKDAY_FIELDS),
    zone_name=st.sampled_from(DST_ZONES),
    which=st.integers(0, 5),
    shift=st.integers(-36 * 60, 12 * 60),
    second=st.integers(0, 59),
    business_days_only=st.booleans(),
)
def test_next_fires_agree_with_a_minute_by_minute_walk(
    minute: tuple[str, set[int]],
    hour: tuple[str, set[int]],
    weekday: tuple[str, set[int]],
    zone_name: str,
    which: int,
    shift: int,
    second: int,
    business_days_only: bool,
) -> None:
    moments = transitions(zone_name)
    after = moments[which % len(moments)] + timedelta(minutes=shift, seconds=second)
    expression = f"{minute[0]} {hour[0]} * * {weekday[0]}"
    cadence = Cadence(expression, zone_name, business_days_only)  # unparsed: SAT,SUN may pass
    end = after + timedelta(days=3)
    fields = (minute[1], hour[1], weekday[1])
    expected = brute_force(fields, ZoneInfo(zone_name), after, business_days_only, 6, end)
    got = next_fires(cadence, after, 6)
    if len(expected) == 6:
        assert got == expected
    else:
        assert [instant for instant in got if instant <= end] == expected


# --- cronsim as the oracle for which wall times match ---------------------------------------


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    single = number.map(str) | st.sampled_from(names) if names else number.map(str)
    span = st.tuples(number, number).map(lambda pair: f"{min(pair)}-{max(pair)}")
    base = st.just("*") | single | span
    stepped = st.tuples(base, st.integers(1, high + 1)).map(lambda pair: f"{pair[0]}/{pair[1]}")
    return st.just("*") | single | span | stepped


DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_OF_MONTH = _field(1, 31) | st.sampled_from(["L", "LW"])
DAY_OF_WEEK = (
    _field(0, 7, DAYS)
    | st.integers(0, 7).map(lambda day: f"{day}L")
    | st.tuples(st.sampled_from(DAYS), st.integers(1, 5)).map(lambda p: f"{p[0]}#{p[1]}")
)


def _list(field: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(field, min_size=1, max_size=3).map(",".join)


EXPRESSIONS = st.tuples(
    _list(_field(0, 59)),
    _list(_field(0, 23)),
    st.just("*") | _list(DAY_OF_MONTH),
    st.just("*") | _list(_field(1, 12, MONTHS)),
    st.just("*") | _list(DAY_OF_WEEK),
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(
    expression=EXPRESSIONS,
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31)),
)
def test_matching_wall_times_are_cronsims(expression: str, start: datetime) -> None:
    """The tables cron.py looks wall times up in give what cronsim's iterator gives."""
    try:
        compiled = cron._compile(expression)
    except CronError:
        assume(False)
        return
    reference = CronSim(compiled.expression, start)
    wall = start
    for _ in range(4):
        expected = next(reference)
        got = compiled.next_after(wall, datetime.max)
        assert got == expected, (expression, wall)
        wall = expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" */-,#@0123456789LWMONFRIJAaydilt\t", max_size=30) | EXPRESSIONS)
def test_any_text_is_a_cadence_or_a_cron_error(text: str) -> None:
    try:
        cadence = Cadence.parse(text)
    except CronError as exc:
        problem = exc
    else:
        next_fires(cadence, utc(2024, 1, 1), 3)
        return
    assert problem.field == "schedule"
    assert str(problem)


# --- the syntax -------------------------------------------------------------------------------

AFTER = utc(2024, 1, 1)  # a Monday


@pytest.mark.parametrize(
    ("macro", "expression"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        (" @DAILY ", "0 0 * * *"),
    ],
)
def test_macros(macro: str, expression: str) -> None:
    assert fires(macro, "Europe/Berlin", AFTER, 5) == fires(expression, "Europe/Berlin", AFTER, 5)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 9 * * MON-FRI", [utc(2024, 1, d, 9) for d in (1, 2, 3, 4, 5, 8)]),
        ("0 9 * * mon-fri", [utc(2024, 1, d, 9) for d in (1, 2, 3, 4, 5, 8)]),
        ("0 9 * * 1-5", [utc(2024, 1, d, 9) for d in (1, 2, 3, 4, 5, 8)]),
        ("0 9 * * SUN", [utc(2024, 1, d, 9) for d in (7, 14)]),
        ("0 9 * * 7", [utc(2024, 1, d, 9) for d in (7, 14)]),
        ("0 9 * * 0", [utc(2024, 1, d, 9) for d in (7, 14)]),
        ("0 0 1 JAN,JUL *", [utc(2024, 1, 1), utc(2024, 7, 1), utc(2025, 1, 1)]),
        ("0 0 1 FEB-APR/2 *", [utc(2024, 2, 1), utc(2024, 4, 1), utc(2025, 2, 1)]),
        ("*/20 * * * *", [utc(2024, 1, 1, 0, m) for m in (0, 20, 40)] + [utc(2024, 1, 1, 1)]),
        ("5-50/15 0 * * *", [utc(2024, 1, 1, 0, m) for m in (5, 20, 35, 50)]),
        ("10/25 0 * * *", [utc(2024, 1, 1, 0, 10), utc(2024, 1, 1, 0, 35)]),
        ("0,30 1,2 * * *", [utc(2024, 1, 1, h, m) for h in (1, 2) for m in (0, 30)]),
        ("0 0 L * *", [utc(2024, 1, 31), utc(2024, 2, 29), utc(2024, 3, 31)]),
        ("0 0 LW * *", [utc(2024, 1, 31), utc(2024, 2, 29), utc(2024, 3, 29)]),
        ("0 0 * * FRI#2", [utc(2024, 1, 12), utc(2024, 2, 9)]),
        ("0 0 * * 5L", [utc(2024, 1, 26), utc(2024, 2, 23)]),
        # Both day fields restricted: either matches (cronsim and Debian cron).
        ("0 0 13 * FRI", [utc(2024, 1, 5), utc(2024, 1, 12), utc(2024, 1, 13), utc(2024, 1, 19)]),
        # One starts with *: both must.
        ("0 0 */2 * FRI", [utc(2024, 1, 5), utc(2024, 1, 19), utc(2024, 2, 9)]),
    ],
)
def test_fields(expression: str, expected: list[datetime]) -> None:
    assert fires(expression, "UTC", AFTER - MINUTE, len(expected)) == expected


def test_rare_cadences_are_found_decades_ahead() -> None:
    assert fires("0 9 * 2 MON#5", "UTC", utc(2017, 1, 1), 2) == [
        utc(2044, 2, 29, 9),
        utc(2072, 2, 29, 9),
    ]
    assert fires("0 0 29 2 *", "UTC", utc(2097, 1, 1), 2) == [utc(2104, 2, 29), utc(2108, 2, 29)]


def test_parse_keeps_the_text_and_normalizes_the_calendar() -> None:
    cadence = Cadence.parse("  0  9 * *   mon ", NEW_YORK, holiday_calendar="us-ny")
    assert cadence == Cadence("0 9 * * mon", NEW_YORK, False, "US-NY")
    assert Cadence.parse("@daily", holiday_calendar="UK").holiday_calendar == "GB"
    assert Cadence.parse("@daily", holiday_calendar="").holiday_calendar is None


def test_after_must_be_aware_and_results_are_utc() -> None:
    cadence = Cadence.parse("0 9 * * *", "Asia/Kolkata")
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fires(cadence, datetime(2024, 1, 1), 1)
    assert next_fires(cadence, AFTER, 0) == []
    from_kolkata = AFTER.astimezone(ZoneInfo("Asia/Kolkata"))
    assert next_fires(cadence, from_kolkata, 3) == next_fires(cadence, AFTER, 3)
    assert next_fire(cadence, AFTER) == utc(2024, 1, 1, 3, 30)


def test_fires_are_strictly_after_even_within_the_second() -> None:
    cadence = Cadence.parse("0 9 * * *")
    at_nine = utc(2024, 1, 1, 9)
    assert next_fire(cadence, at_nine) == utc(2024, 1, 2, 9)
    assert next_fire(cadence, at_nine - timedelta(microseconds=1)) == at_nine
    assert next_fire(cadence, at_nine + timedelta(microseconds=1)) == utc(2024, 1, 2, 9)


def test_the_calendar_ends_without_an_error() -> None:
    got = fires("0 0 31 12 *", "UTC", utc(9997, 1, 1), 5)
    assert got == [utc(9997, 12, 31), utc(9998, 12, 31), utc(9999, 12, 31)]
    assert fires("59 23 31 12 *", "Pacific/Kiritimati", utc(9999, 6, 1), 5) == [
        utc(9999, 12, 31, 9, 59)
    ]


# --- business days and holidays -----------------------------------------------------------------


def test_business_days_skip_weekends_and_us_holidays() -> None:
    after = utc(2024, 7, 3, 14)  # Wednesday 10:00 EDT; Thursday the 4th is Independence Day
    nine = [utc(2024, 7, d, 13) for d in (5, 8, 9)]  # 09:00 EDT
    assert (
        fires("0 9 * * *", NEW_YORK, after, 3, business_days_only=True, holiday_calendar="US")
        == nine
    )
    weekends_too = [utc(2024, 7, d, 13) for d in (5, 6, 7)]
    assert fires("0 9 * * *", NEW_YORK, after, 3, holiday_calendar="US") == weekends_too
    assert fires("0 9 * * *", NEW_YORK, after, 2, business_days_only=True) == [
        utc(2024, 7, 4, 13),
        utc(2024, 7, 5, 13),
    ]


def test_observed_holidays_and_subdivisions_are_skipped() -> None:
    # 2026-07-04 is a Saturday; Friday the 3rd is its observed day.
    got = fires("0 9 * * *", NEW_YORK, utc(2026, 7, 2, 14), 1, business_days_only=True,
                holiday_calendar="US")  # fmt: skip
    assert got == [utc(2026, 7, 6, 13)]
    # Lincoln's Birthday, Monday 2024-02-12, is a holiday in New York State only.
    after = utc(2024, 2, 9, 15)
    assert fires(
        "0 9 * * *", NEW_YORK, after, 1, business_days_only=True, holiday_calendar="US"
    ) == [utc(2024, 2, 12, 14)]
    assert fires("0 9 * * *", NEW_YORK, after, 1, business_days_only=True,
                 holiday_calendar="US-NY") == [utc(2024, 2, 13, 14)]  # fmt: skip


def test_business_days_are_judged_by_the_local_date() -> None:
    # Monday 08:00 in Auckland is Sunday 19:00 UTC; Saturday 08:00 there is Friday in UTC.
    got = fires("0 8 * * *", "Pacific/Auckland", utc(2024, 6, 6, 12), 3, business_days_only=True)
    assert got == [utc(2024, 6, 6, 20), utc(2024, 6, 9, 20), utc(2024, 6, 10, 20)]
    assert [fire.astimezone(ZoneInfo("Pacific/Auckland")).date() for fire in got] == [
        date(2024, 6, 7),
        date(2024, 6, 10),
        date(2024, 6, 11),
    ]


@pytest.mark.parametrize(
    "cadence",
    [
        Cadence("0 0 * * SAT", business_days_only=True),  # parse refuses it; the search copes
        Cadence("* * * * SAT,SUN", "Asia/Tokyo", business_days_only=True),
        Cadence("0 0 1 1 *", holiday_calendar="US"),  # New Year's Day is always a holiday
        Cadence("* * 25 12 *", "Europe/London", holiday_calendar="GB"),
    ],
)
def test_cadences_that_never_fire_return_nothing_quickly(cadence: Cadence) -> None:
    started = time.perf_counter()
    assert next_fires(cadence, utc(2024, 3, 1), 5) == []
    assert next_fire(cadence, utc(2024, 3, 1)) is None
    assert time.perf_counter() - started < 1.0


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        (("61 * * * *",), "schedule", "minute field: 61 is out of range 0-59"),
        (("0 24 * * *",), "schedule", "hour field: 24 is out of range 0-23"),
        (("0 0 0 * *",), "schedule", "day-of-month field: 0 is out of range 1-31"),
        (("0 0 * 13 *",), "schedule", "month field: 13 is out of range 1-12"),
        (("0 0 * * 8",), "schedule", "day-of-week field: 8 is out of range 0-7"),
        (("0 0 * FOO *",), "schedule", "month field: 'FOO' is not a number or a name (JAN-DEC)"),
        (("0 0 * * FRI-MON",), "schedule", "day-of-week field: range FRI-MON runs backwards"),
        (("*/0 * * * *",), "schedule", "minute field: step '0' in '*/0' is not a whole number"),
        (("1,,2 * * * *",), "schedule", "minute field: an empty item is not a number"),
        (("0 0 * * MON#6",), "schedule", "the week after # must be 1 to 5"),
        (("0 0 * * MONL",), "schedule", "needs a day number before L"),
        (("0 0 L/2 * *",), "schedule", "day-of-month field: 'L' is not a number"),
        (("0 0 * *",), "schedule", "expected 5 fields"),
        (("0 0 0 * * *",), "schedule", "got 6; seconds are not supported"),
        (("",), "schedule", "schedule is empty"),
        (("0 " * 150,), "schedule", "longer than 200 characters"),
        (("@reboot",), "schedule", "@reboot is not a time"),
        (("@fortnightly",), "schedule", "unknown macro '@fortnightly'; use one of @yearly"),
        (("0 0 30 2 *",), "schedule", "day 30 never occurs in month 2"),
        (("0 0 31 4,6,9,11 *",), "schedule", "day 31 never occurs in month 4,6,9,11"),
        (("0 0 */31 * 5L",), "schedule", "no day is both day-of-month */31 and day-of-week 5L"),
        (("0 0 * * *", "Mars/Olympus"), "timezone", "unknown time zone 'Mars/Olympus'"),
        (("0 0 * * *", "America/New_Yrok"), "timezone", "did you mean 'America/New_York'?"),
        (("0 0 * * *", "utc"), "timezone", "unknown time zone 'utc'"),
        (("0 0 * * *", "localtime"), "timezone", "unknown time zone 'localtime'"),
        (("0 0 * * *", "../../etc/passwd"), "timezone", "unknown time zone"),
    ],
)
def test_errors_name_the_field_and_the_problem(
    arguments: tuple[str, ...], field: str, message: str
) -> None:
    with pytest.raises(CronError) as caught:
        Cadence.parse(*arguments)
    assert caught.value.field == field
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ("XX", "unknown holiday calendar 'XX'"),
        ("US-ZZ", "holiday calendar US has no subdivision 'ZZ' (it has: AK, AL"),
    ],
)
def test_unknown_holiday_calendars(calendar: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        Cadence.parse("0 9 * * *", holiday_calendar=calendar)
    assert caught.value.field == "holidayCalendar"
    assert message in str(caught.value)


def test_weekends_only_with_business_days_is_refused() -> None:
    with pytest.raises(CronError, match="only fires on Saturdays and Sundays") as caught:
        Cadence.parse("0 9 * * SAT,SUN", business_days_only=True)
    assert caught.value.field == "schedule"
    assert Cadence.parse("0 9 * * SAT,SUN")  # fine without business days
    assert Cadence.parse("0 9 13 * SAT", business_days_only=True)  # the 13th may be a weekday


def test_an_unparsed_invalid_cadence_raises_when_used() -> None:
    with pytest.raises(CronError) as caught:
        next_fires(Cadence("0 0 * * *", "Nowhere/Special"), AFTER, 1)
    assert caught.value.field == "timezone"


def test_cron_errors_survive_pickling() -> None:
    error = pickle.loads(pickle.dumps(CronError("minute field: bad", "schedule")))  # noqa: S301
    assert (str(error), error.field) == ("minute field: bad", "schedule")
