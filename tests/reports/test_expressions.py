"""The date expression language: every method's value, DST and odd offsets, every error with
its position, hostile input, and properties over arbitrary text."""

from __future__ import annotations

import calendar
import contextlib
import pickle
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadsheet.reports import expressions
from broadsheet.reports.expressions import (
    ExpressionError,
    evaluate,
    is_expression,
    is_single_expression,
    render,
    validate,
    validate_template,
)

ZULU = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HAVANA = ZoneInfo("America/Havana")
APIA = ZoneInfo("Pacific/Apia")
# Sunday 31 March 2024, 15:00 UTC: a leap year, a month end, a quarter end and a week end.
REFERENCE = datetime(2024, 3, 31, 15, tzinfo=UTC)

NO_ARGUMENT = {
    "startOfDay",
    "startOfWeek",
    "endOfWeek",
    "startOfMonth",
    "endOfMonth",
    "startOfQuarter",
    "endOfQuarter",
    "startOfYear",
    "endOfYear",
    "toDate",
}
ONE_ARGUMENT = {
    f"{sign}{unit}"
    for sign in ("plus", "minus")
    for unit in ("Days", "Weeks", "Months", "Quarters", "Years", "Hours", "Minutes")
}


def at(instant: str) -> datetime:
    return datetime.fromisoformat(instant)


def iso(text: str, reference: datetime = REFERENCE, tz: ZoneInfo = ZULU) -> str:
    """The value as ISO text, after checking it is of the kind the text says."""
    value = evaluate(text, reference, tz)
    if isinstance(value, datetime):
        assert value.tzinfo is tz
    else:
        assert type(value) is date
    return value.isoformat()


def error(text: str) -> ExpressionError:
    return error_at(text, REFERENCE, ZULU)


def error_at(text: str, reference: datetime, tz: ZoneInfo) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, reference, tz)
    return caught.value


def test_the_methods_are_the_documented_ones() -> None:
    assert set(expressions.METHODS) == NO_ARGUMENT | ONE_ARGUMENT
    assert len(expressions.METHODS) == 24


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today()", "2024-03-31"),
        ("today().startOfDay()", "2024-03-31"),
        ("today().startOfWeek()", "2024-03-25"),
        ("today().endOfWeek()", "2024-03-31"),
        ("today().minusDays(1).startOfWeek()", "2024-03-25"),
        ("today().plusDays(1).startOfWeek()", "2024-04-01"),
        ("today().plusDays(1).endOfWeek()", "2024-04-07"),
        ("today().startOfMonth()", "2024-03-01"),
        ("today().endOfMonth()", "2024-03-31"),
        ("today().minusMonths(1).endOfMonth()", "2024-02-29"),
        ("today().minusMonths(13).endOfMonth()", "2023-02-28"),
        ("today().plusMonths(1).startOfMonth()", "2024-04-01"),
        ("today().startOfQuarter()", "2024-01-01"),
        ("today().endOfQuarter()", "2024-03-31"),
        ("today().plusDays(1).startOfQuarter()", "2024-04-01"),
        ("today().plusDays(1).endOfQuarter()", "2024-06-30"),
        ("today().plusMonths(6).endOfQuarter()", "2024-09-30"),
        ("today().plusMonths(8).startOfQuarter()", "2024-10-01"),
        ("today().plusMonths(8).endOfQuarter()", "2024-12-31"),
        ("today().startOfYear()", "2024-01-01"),
        ("today().endOfYear()", "2024-12-31"),
        ("today().plusDays(1)", "2024-04-01"),
        ("today().plusDays(0)", "2024-03-31"),
        ("today().plusDays(-1)", "2024-03-30"),
        ("today().minusDays(31)", "2024-02-29"),
        ("today().minusDays(-1)", "2024-04-01"),
        ("today().plusDays(100000)", "2298-01-14"),
        ("today().minusDays(366)", "2023-03-31"),
        ("today().plusWeeks(1)", "2024-04-07"),
        ("today().minusWeeks(2)", "2024-03-17"),
        ("today().plusMonths(1)", "2024-04-30"),
        ("today().minusMonths(1)", "2024-02-29"),
        ("today().plusMonths(-1)", "2024-02-29"),
        ("today().minusMonths(13)", "2023-02-28"),
        ("today().minusMonths(25)", "2022-02-28"),
        ("today().minusMonths(12)", "2023-03-31"),
        ("today().plusMonths(9)", "2024-12-31"),
        ("today().plusMonths(10)", "2025-01-31"),
        ("today().plusMonths(11)", "2025-02-28"),
        ("today().minusMonths(1).plusMonths(1)", "2024-03-29"),
        ("today().plusQuarters(1)", "2024-06-30"),
        ("today().minusQuarters(1)", "2023-12-31"),
        ("today().plusQuarters(-4)", "2023-03-31"),
        ("today().plusYears(1)", "2025-03-31"),
        ("today().minusYears(24)", "2000-03-31"),
        ("today().minusMonths(1).plusYears(1)", "2025-02-28"),
        ("today().minusMonths(1).plusYears(4)", "2028-02-29"),
        ("today().minusMonths(1).minusYears(24)", "2000-02-29"),
        ("today().minusMonths(1).minusYears(124)", "1900-02-28"),
        ("today().minusMonths(1).plusYears(76)", "2100-02-28"),
        ("today().toDate()", "2024-03-31"),
        ("now().toDate()", "2024-03-31"),
        ("now().startOfMonth().toDate().minusDays(1)", "2024-02-29"),
        (" today ( ) . minusDays ( 7 ) ", "2024-03-24"),
        ("today()\n\t.startOfMonth()\r\n", "2024-03-01"),
        ("today().plusDays(007)", "2024-04-07"),
    ],
)
def test_date_values(text: str, expected: str) -> None:
    assert iso(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now()", "2024-03-31T15:00:00+00:00"),
        ("now().startOfDay()", "2024-03-31T00:00:00+00:00"),
        ("now().startOfWeek()", "2024-03-25T00:00:00+00:00"),
        ("now().endOfWeek()", "2024-03-31T23:59:59.999999+00:00"),
        ("now().startOfMonth()", "2024-03-01T00:00:00+00:00"),
        ("now().endOfMonth()", "2024-03-31T23:59:59.999999+00:00"),
        ("now().startOfQuarter()", "2024-01-01T00:00:00+00:00"),
        ("now().endOfQuarter()", "2024-03-31T23:59:59.999999+00:00"),
        ("now().startOfYear()", "2024-01-01T00:00:00+00:00"),
        ("now().endOfYear()", "2024-12-31T23:59:59.999999+00:00"),
        ("now().startOfMonth().minusMonths(1)", "2024-02-01T00:00:00+00:00"),
        ("now().minusMonths(1).endOfMonth()", "2024-02-29T23:59:59.999999+00:00"),
        ("now().plusDays(1)", "2024-04-01T15:00:00+00:00"),
        ("now().minusDays(1)", "2024-03-30T15:00:00+00:00"),
        ("now().plusWeeks(1)", "2024-04-07T15:00:00+00:00"),
        ("now().minusWeeks(1)", "2024-03-24T15:00:00+00:00"),
        ("now().minusMonths(1)", "2024-02-29T15:00:00+00:00"),
        ("now().plusMonths(1)", "2024-04-30T15:00:00+00:00"),
        ("now().plusQuarters(1)", "2024-06-30T15:00:00+00:00"),
        ("now().minusQuarters(1)", "2023-12-31T15:00:00+00:00"),
        ("now().minusYears(1)", "2023-03-31T15:00:00+00:00"),
        ("now().plusYears(1)", "2025-03-31T15:00:00+00:00"),
        ("now().plusHours(10)", "2024-04-01T01:00:00+00:00"),
        ("now().minusHours(15)", "2024-03-31T00:00:00+00:00"),
        ("now().plusHours(-1)", "2024-03-31T14:00:00+00:00"),
        ("now().plusMinutes(90)", "2024-03-31T16:30:00+00:00"),
        ("now().minusMinutes(-30)", "2024-03-31T15:30:00+00:00"),
        ("now().minusMinutes(100000)", "2024-01-22T04:20:00+00:00"),
        ("now().startOfDay().plusHours(9).plusMinutes(30)", "2024-03-31T09:30:00+00:00"),
    ],
)
def test_datetime_values(text: str, expected: str) -> None:
    assert iso(text) == expected


def test_now_is_the_reference_in_the_zone_and_today_its_local_date() -> None:
    tokyo, los_angeles = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles")
    assert iso("now()", tz=tokyo) == "2024-04-01T00:00:00+09:00"
    assert iso("today()", tz=tokyo) == "2024-04-01"
    assert iso("now()", tz=los_angeles) == "2024-03-31T08:00:00-07:00"
    assert iso("today()", tz=los_angeles) == "2024-03-31"
    # The reference may come in any offset: only the instant matters.
    plus_two = datetime(2024, 3, 31, 17, tzinfo=timezone(timedelta(hours=2)))
    assert iso("now()", plus_two, tokyo) == "2024-04-01T00:00:00+09:00"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (
            "2024-02-29T12:00:00+00:00",
            {"plusYears(1)": "2025-02-28", "minusYears(4)": "2020-02-29"},
        ),
        (
            "2024-02-29T12:00:00+00:00",
            {"plusMonths(12)": "2025-02-28", "plusDays(365)": "2025-02-28"},
        ),
        (
            "2024-02-29T12:00:00+00:00",
            {"minusYears(1)": "2023-02-28", "plusYears(96)": "2120-02-29"},
        ),
        (
            "2024-03-01T12:00:00+00:00",
            {"minusDays(1)": "2024-02-29", "minusMonths(1)": "2024-02-01"},
        ),
        ("2023-03-01T12:00:00+00:00", {"minusDays(1)": "2023-02-28"}),
        ("2000-03-01T12:00:00+00:00", {"minusDays(1)": "2000-02-29"}),
        ("1900-03-01T12:00:00+00:00", {"minusDays(1)": "1900-02-28"}),
        (
            "2023-01-31T12:00:00+00:00",
            {"plusMonths(1)": "2023-02-28", "endOfQuarter()": "2023-03-31"},
        ),
        (
            "2024-01-31T12:00:00+00:00",
            {"plusMonths(1)": "2024-02-29", "plusQuarters(1)": "2024-04-30"},
        ),
    ],
)
def test_leap_years(reference: str, expected: dict[str, str]) -> None:
    for method, value in expected.items():
        assert iso(f"today().{method}", at(reference)) == value, method


# --- daylight saving time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "text", "expected"),
    [
        # 2024-03-10: 02:00 EST jumps to 03:00 EDT.
        ("2024-03-10T12:00:00+00:00", "now()", "2024-03-10T08:00:00-04:00"),
        ("2024-03-10T12:00:00+00:00", "now().startOfDay()", "2024-03-10T00:00:00-05:00"),
        (
            "2024-03-10T12:00:00+00:00",
            "now().startOfDay().plusHours(2)",
            "2024-03-10T03:00:00-04:00",
        ),
        (
            "2024-03-10T12:00:00+00:00",
            "now().startOfDay().plusHours(3)",
            "2024-03-10T04:00:00-04:00",
        ),
        ("2024-03-10T06:30:00+00:00", "now().plusHours(1)", "2024-03-10T03:30:00-04:00"),
        ("2024-03-10T06:30:00+00:00", "now().plusMinutes(30)", "2024-03-10T03:00:00-04:00"),
        ("2024-03-10T07:30:00+00:00", "now().minusHours(1)", "2024-03-10T01:30:00-05:00"),
        ("2024-03-09T15:00:00+00:00", "now().plusDays(1)", "2024-03-10T10:00:00-04:00"),
        ("2024-03-11T14:00:00+00:00", "now().minusDays(2)", "2024-03-09T10:00:00-05:00"),
        ("2024-03-03T15:00:00+00:00", "now().plusWeeks(1)", "2024-03-10T10:00:00-04:00"),
        ("2024-02-10T15:00:00+00:00", "now().plusMonths(1)", "2024-03-10T10:00:00-04:00"),
        # 02:30 does not exist on 2024-03-10: the first instant after the gap.
        ("2024-03-09T07:30:00+00:00", "now().plusDays(1)", "2024-03-10T03:00:00-04:00"),
        ("2024-03-09T07:30:00+00:00", "now().plusDays(2)", "2024-03-11T02:30:00-04:00"),
        ("2024-03-12T12:00:00+00:00", "now().startOfWeek()", "2024-03-11T00:00:00-04:00"),
        ("2024-03-10T12:00:00+00:00", "now().startOfWeek()", "2024-03-04T00:00:00-05:00"),
        ("2024-03-10T12:00:00+00:00", "now().endOfWeek()", "2024-03-10T23:59:59.999999-04:00"),
        ("2024-03-15T12:00:00+00:00", "now().startOfMonth()", "2024-03-01T00:00:00-05:00"),
        ("2024-03-10T03:00:00+00:00", "now().toDate()", "2024-03-09"),
        ("2024-03-10T03:00:00+00:00", "today()", "2024-03-09"),
        # 2024-11-03: 02:00 EDT falls back to 01:00 EST; 01:00-02:00 happens twice.
        ("2024-11-03T12:00:00+00:00", "now().startOfDay()", "2024-11-03T00:00:00-04:00"),
        (
            "2024-11-03T12:00:00+00:00",
            "now().startOfDay().plusHours(1)",
            "2024-11-03T01:00:00-04:00",
        ),
        (
            "2024-11-03T12:00:00+00:00",
            "now().startOfDay().plusHours(2)",
            "2024-11-03T01:00:00-05:00",
        ),
        (
            "2024-11-03T12:00:00+00:00",
            "now().startOfDay().plusHours(3)",
            "2024-11-03T02:00:00-05:00",
        ),
        ("2024-11-02T05:30:00+00:00", "now().plusDays(1)", "2024-11-03T01:30:00-04:00"),
        ("2024-11-03T05:30:00+00:00", "now().plusHours(1)", "2024-11-03T01:30:00-05:00"),
        ("2024-11-03T06:30:00+00:00", "now()", "2024-11-03T01:30:00-05:00"),
        ("2024-11-03T06:30:00+00:00", "now().plusDays(0)", "2024-11-03T01:30:00-05:00"),
        ("2024-11-03T06:30:00+00:00", "now().minusHours(1)", "2024-11-03T01:30:00-04:00"),
        ("2024-11-03T06:30:00+00:00", "now().plusDays(1)", "2024-11-04T01:30:00-05:00"),
        ("2024-11-15T12:00:00+00:00", "now().startOfMonth()", "2024-11-01T00:00:00-04:00"),
        ("2024-11-15T12:00:00+00:00", "now().endOfMonth()", "2024-11-30T23:59:59.999999-05:00"),
        ("2024-11-15T12:00:00+00:00", "now().endOfQuarter()", "2024-12-31T23:59:59.999999-05:00"),
    ],
)
def test_new_york_dst(reference: str, text: str, expected: str) -> None:
    assert iso(text, at(reference), NEW_YORK) == expected


def test_a_dst_day_is_23_or_25_hours_of_elapsed_time() -> None:
    def hours(reference: str, text: str) -> float:
        start = evaluate("now()", at(reference), NEW_YORK)
        end = evaluate(text, at(reference), NEW_YORK)
        assert isinstance(start, datetime) and isinstance(end, datetime)
        return (end.astimezone(UTC) - start.astimezone(UTC)) / timedelta(hours=1)

    assert hours("2024-03-09T15:00:00+00:00", "now().plusDays(1)") == 23
    assert hours("2024-11-02T15:00:00+00:00", "now().plusDays(1)") == 25
    assert hours("2024-03-09T15:00:00+00:00", "now().plusHours(24)") == 24
    assert hours("2024-11-02T15:00:00+00:00", "now().plusMinutes(1440)") == 24


@pytest.mark.parametrize(
    ("reference", "text", "expected"),
    [
        # 2024-10-06: 02:00 +10:30 jumps to 02:30 +11:00 (a 30-minute shift).
        ("2024-10-05T15:00:00+00:00", "now()", "2024-10-06T01:30:00+10:30"),
        ("2024-10-05T15:00:00+00:00", "now().plusMinutes(29)", "2024-10-06T01:59:00+10:30"),
        ("2024-10-05T15:00:00+00:00", "now().plusMinutes(30)", "2024-10-06T02:30:00+11:00"),
        ("2024-10-05T15:00:00+00:00", "now().plusHours(1)", "2024-10-06T03:00:00+11:00"),
        ("2024-10-04T15:45:00+00:00", "now()", "2024-10-05T02:15:00+10:30"),
        ("2024-10-04T15:45:00+00:00", "now().plusDays(1)", "2024-10-06T02:30:00+11:00"),
        ("2024-10-06T00:00:00+00:00", "now().startOfDay()", "2024-10-06T00:00:00+10:30"),
        (
            "2024-10-06T00:00:00+00:00",
            "now().startOfDay().plusHours(3)",
            "2024-10-06T03:30:00+11:00",
        ),
        # 2024-04-07: 02:00 +11:00 falls back to 01:30 +10:30; 01:30-02:00 happens twice.
        ("2024-04-06T14:45:00+00:00", "now()", "2024-04-07T01:45:00+11:00"),
        ("2024-04-06T14:45:00+00:00", "now().plusMinutes(30)", "2024-04-07T01:45:00+10:30"),
        ("2024-04-06T15:15:00+00:00", "now().minusMinutes(30)", "2024-04-07T01:45:00+11:00"),
        ("2024-04-05T14:45:00+00:00", "now().plusDays(1)", "2024-04-07T01:45:00+11:00"),
        ("2024-04-07T12:00:00+00:00", "now().startOfDay()", "2024-04-07T00:00:00+11:00"),
        ("2024-04-07T12:00:00+00:00", "now().endOfWeek()", "2024-04-07T23:59:59.999999+10:30"),
    ],
)
def test_lord_howe_half_hour_shift(reference: str, text: str, expected: str) -> None:
    assert iso(text, at(reference), LORD_HOWE) == expected


def test_a_day_without_a_midnight_starts_after_the_gap() -> None:
    # Cuba moves 00:00 to 01:00 on 2024-03-10: that day begins at 01:00.
    assert iso("now().startOfDay()", at("2024-03-10T12:00:00+00:00"), HAVANA) == (
        "2024-03-10T01:00:00-04:00"
    )
    assert iso("today()", at("2024-03-10T12:00:00+00:00"), HAVANA) == "2024-03-10"


def test_a_skipped_day_lands_on_the_first_instant_after_it() -> None:
    # Samoa skipped 2011-12-30 entirely, moving from UTC-10 to UTC+14.
    reference = at("2011-12-29T12:00:00+00:00")
    assert iso("now()", reference, APIA) == "2011-12-29T02:00:00-10:00"
    assert iso("now().plusDays(1)", reference, APIA) == "2011-12-31T00:00:00+14:00"
    assert iso("now().plusDays(2)", reference, APIA) == "2011-12-31T02:00:00+14:00"
    assert iso("now().plusHours(24)", reference, APIA) == "2011-12-31T02:00:00+14:00"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("today().minusMonth(1)", "unknown method 'minusMonth' at 8; did you mean minusMonths?"),
        ("now().startofmonth()", "unknown method 'startofmonth' at 6; did you mean startOfMonth?"),
        ("now().plusday(1)", "unknown method 'plusday' at 6; did you mean plusDays?"),
        ("tody()", "unknown function 'tody' at 0; did you mean today()?"),
        ("Now()", "unknown function 'Now' at 0; did you mean now()?"),
        ("yesterday()", "unknown function 'yesterday' at 0; expected now() or today()"),
        ("", "expected now() or today() at 0; found the end of the expression"),
        ("   ", "expected now() or today() at 3; found the end of the expression"),
        ("now", "expected '(' after now at 3; found the end of the expression"),
        ("now(", "expected ')': now() takes no arguments at 4; found the end of the expression"),
        ("now(1)", "expected ')': now() takes no arguments at 4; found '1'"),
        ("now())", "expected '.' or the end of the expression at 5; found ')'"),
        ("now() today()", "expected '.' or the end of the expression at 6; found 't'"),
        ("now().", "expected a method name after '.' at 6; found the end of the expression"),
        ("now()..plusDays(1)", "expected a method name after '.' at 6; found '.'"),
        ("now().plusDays", "expected '(' after plusDays at 14; found the end of the expression"),
        (
            "now().plusDays()",
            "expected a whole number as the argument of plusDays() at 15; found ')'",
        ),
        (
            "now().plusDays(x)",
            "expected a whole number as the argument of plusDays() at 15; found 'x'",
        ),
        (
            "now().plusDays(+1)",
            "expected a whole number as the argument of plusDays() at 15; found '+'",
        ),
        (
            "now().plusDays(- 1)",
            "expected a whole number as the argument of plusDays() at 16; found ' '",
        ),
        ("now().plusDays(1.5)", "expected ')': plusDays() takes one whole number at 16; found '.'"),
        (
            "now().plusDays(1, 2)",
            "expected ')': plusDays() takes one whole number at 16; found ','",
        ),
        (
            "now().plusDays(100001)",
            "argument 100001 is out of range at 15; at most 100000 either way",
        ),
        (
            "now().plusDays(-100001)",
            "argument -100001 is out of range at 15; at most 100000 either way",
        ),
        ("now().startOfDay(1)", "expected ')': startOfDay() takes no arguments at 17; found '1'"),
        (
            "today().plusHours(1)",
            "plusHours() needs a datetime but is called on a date at 8; "
            "start from now() and call toDate() last",
        ),
        (
            "today().plusYears(100000)",
            "plusYears() at 8 goes beyond the supported dates (years 1 to 9999)",
        ),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    assert str(error(text)) == message


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("now().startOfMonth().minusMonth(1)", 21, "did you mean minusMonths?"),
        ("now().toDate().minusMinutes(5)", 15, "needs a datetime"),
        ("today().plusMinutes(5)", 8, "needs a datetime"),
        ("now().plusDays(99999999999999999999)", 15, "out of range"),
        ("now().plusDays(\uff11)", 15, "whole number"),  # a full-width digit
        ("now().plusDays(\u0663)", 15, "whole number"),  # an Arabic-Indic digit
        ("now().plus\u0414ays(1)", 6, "unknown method 'plus\u0414ays'"),  # a Cyrillic D
        ("now()\u00a0", 5, "expected '.'"),  # a no-break space is not whitespace here
        ("  now().plusWeeks(1).bogus()", 21, "unknown method 'bogus'"),
        ("today().minusDays(1).plusDays(100000).plusYears(8000)", 38, "goes beyond"),
    ],
)
def test_error_positions(text: str, position: int, fragment: str) -> None:
    problem = error(text)
    assert problem.position == position
    assert fragment in str(problem)
    assert f"at {position}" in str(problem)


def test_ranges_at_the_ends_of_the_calendar() -> None:
    last = datetime(9999, 12, 31, 12, tzinfo=UTC)  # a Friday
    assert iso("today().endOfYear()", last) == "9999-12-31"
    assert iso("now().endOfMonth()", last) == "9999-12-31T23:59:59.999999+00:00"
    assert error_at("today().endOfWeek()", last, ZULU).position == 8
    assert error_at("now().plusHours(12)", last, ZULU).position == 6
    first = datetime(1, 1, 1, 12, tzinfo=UTC)  # a Monday
    assert iso("today().startOfWeek()", first) == "0001-01-01"
    assert error_at("today().minusDays(1)", first, ZULU).position == 8
    assert error_at("now().minusMonths(1)", first, ZULU).position == 6
    # The reference itself cannot be shown in the zone.
    assert error_at("now()", datetime.max.replace(tzinfo=UTC), LORD_HOWE).position == 0
    assert error_at("  today()", datetime.min.replace(tzinfo=UTC), NEW_YORK).position == 2


def test_limits_on_length_and_calls() -> None:
    assert iso("today()" + " " * 493) == "2024-03-31"  # exactly 500 characters
    assert error("today()" + " " * 494).position == 500
    assert "longer than 500 characters" in str(error("today()" + " " * 494))
    fifty = "today()" + ".toDate()" * 50
    assert iso(fifty) == "2024-03-31"
    too_many = error(fifty + ".toDate()")
    assert too_many.position == len(fifty)
    assert "more than 50 chained calls" in str(too_many)


def test_a_naive_reference_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware") as caught:
        evaluate("now()", datetime(2024, 1, 1), ZULU)
    assert not isinstance(caught.value, ExpressionError)
    with pytest.raises(ValueError, match="timezone-aware"):
        render("{{ now() }}", datetime(2024, 1, 1), ZULU)


def test_expression_error_is_a_value_error_that_pickles() -> None:
    problem = error("today().minusMonth(1)")
    assert isinstance(problem, ValueError)
    copy = pickle.loads(pickle.dumps(problem))  # noqa: S301 - our own bytes
    assert isinstance(copy, ExpressionError)
    assert (str(copy), copy.position) == (str(problem), 8)


# --- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("__import__('os')", 0),
        ("__import__('os').system('touch /tmp/broadsheet-pwned')", 0),
        ("now().__class__", 6),
        ("now().__class__.__mro__", 6),
        ("now().__globals__", 6),
        ("now().__init__.__globals__['os']", 6),
        ("now().plusDays(__import__('os'))", 15),
        ("open('/etc/passwd').read()", 0),
        ("lambda: 0", 0),
        ("[c for c in ().__class__.__bases__]", 0),
        ("(" * 100 + "now()" + ")" * 100, 0),
        ("(" * 10_000 + "now()" + ")" * 10_000, 500),
        ("now()" + ".plusDays(1)" * 10_000, 500),
        ("x" * 1_000_000, 500),
        ("{{ now() }}", 0),
        ("now().plusDays(1); import os", 17),
        ("now().plusDays(1)\x00", 17),
    ],
)
def test_hostile_input_is_rejected(text: str, position: int) -> None:
    assert error(text).position == position
    with pytest.raises(ExpressionError):
        validate(text)


def test_hostile_templates_are_rejected_with_positions_in_the_whole_value() -> None:
    cases = {
        "{{ ''.__class__ }}": 3,
        "x {{ __import__('os') }}": 5,
        "{{" * 10_000: 0,
        "}}" * 10_000: 0,
        "{{ " + "(" * 10_000 + " }}": 502,
        "ok {{ now().plusDays(1" + ")" * 10_000 + " }}": 505,
        "ok {{ now().plusDays(1)) }}": 23,
    }
    for value, position in cases.items():
        with pytest.raises(ExpressionError) as caught:
            render(value, REFERENCE, ZULU)
        assert caught.value.position == position, value[:40]


def test_the_module_cannot_execute_text() -> None:
    # No dynamic evaluation anywhere in the language's implementation.
    source = Path(expressions.__file__).read_text()
    calls = re.findall(r"(?<![.\w])(?:eval|exec|compile|getattr|__import__)\s*\(", source)
    assert calls == []
    for banned in ("jinja", "import ast", "importlib"):
        assert banned not in source, banned


# --- templates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{now().startOfMonth().minusMonths(1)}}", datetime(2024, 2, 1, tzinfo=ZULU)),
        ("{{ today().minusDays(7) }}", date(2024, 3, 24)),
        ("  {{ today() }}\n", date(2024, 3, 31)),
        ("now()", datetime(2024, 3, 31, 15, tzinfo=ZULU)),
        ("  today().minusDays(1)  ", date(2024, 3, 30)),
    ],
)
def test_render_gives_a_typed_value_for_one_expression(
    value: str, expected: date | datetime
) -> None:
    result = render(value, REFERENCE, ZULU)
    assert type(result) is type(expected)
    assert result == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Report for {{ today().minusDays(1) }}", "Report for 2024-03-30"),
        ("{{ today() }} to {{ now().startOfDay() }}", "2024-03-31 to 2024-03-31T00:00:00+00:00"),
        ("{{ today() }}{{ today().plusDays(1) }}", "2024-03-312024-04-01"),
        ("since {{now().minusHours(1)}}!", "since 2024-03-31T14:00:00+00:00!"),
        ("plain text", "plain text"),
        ("", ""),
        ("today is sunny", "today is sunny"),
        ("{ today() }", "{ today() }"),
        ("a { b } c", "a { b } c"),
        ("now() and {{ today() }}", "now() and 2024-03-31"),
    ],
)
def test_render_substitutes_templates_inside_text(value: str, expected: str) -> None:
    assert render(value, REFERENCE, ZULU) == expected


def test_render_uses_the_zone() -> None:
    value = render("{{ now().startOfDay() }}", at("2024-03-10T12:00:00+00:00"), NEW_YORK)
    assert isinstance(value, datetime)
    assert value.isoformat() == "2024-03-10T00:00:00-05:00"
    text = render("day {{ now().startOfDay() }}", at("2024-03-10T12:00:00+00:00"), NEW_YORK)
    assert text == "day 2024-03-10T00:00:00-05:00"


@pytest.mark.parametrize(
    ("value", "position", "fragment"),
    [
        ("a }} b", 2, "'}}' without a matching '{{' at 2"),
        ("{{ today()", 0, "'{{' at 0 is never closed by '}}'"),
        ("{{ today() }} }}", 14, "without a matching"),
        ("{{ {{ today() }} }}", 3, "'{{' inside a template at 3"),
        ("x {{ }}", 5, "expected now() or today() at 5"),
        ("Report for {{ today().minusDay(1) }}", 22, "did you mean minusDays?"),
        ("today().nope()", 8, "unknown method 'nope'"),
        ("{{ today() }} and {{ now().plusHours(1) }} {{ today().plusHours(1) }}", 54, "datetime"),
        ("{{ today()" + " " * 500 + " }}", 502, "longer than 500"),
    ],
)
def test_template_errors(value: str, position: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        render(value, REFERENCE, ZULU)
    assert caught.value.position == position
    assert fragment in str(caught.value)
    with pytest.raises(ExpressionError) as again:
        validate_template(value)
    assert again.value.position == position


def test_validate_parses_without_evaluating() -> None:
    for text in ("now()", "today().minusMonths(1)", "now().startOfMonth().plusHours(3).toDate()"):
        validate(text)
    # Structurally sound; only evaluation finds it leaves the calendar.
    validate("today().plusYears(100000)")
    with pytest.raises(ExpressionError, match="needs a datetime"):
        validate("now().toDate().plusHours(1)")
    with pytest.raises(ExpressionError) as caught:
        validate("today().minusMonth(1)")
    assert caught.value.position == 8
    validate_template("Report for {{ today() }} at {{ now() }}")
    validate_template("no template")
    validate_template("today()")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now()", True),
        ("  today().minusDays(1)", True),
        ("today ()", True),
        ("Now()", True),  # so the misspelling is reported, not taken as a literal
        ("{{ today() }}", True),
        ("a {{ today() }} b", True),
        ("{{ unclosed", True),
        ("stray }}", True),
        ("", False),
        ("2024-01-01", False),
        ("now", False),
        ("nowhere()", False),
        ("snow()", False),
        ("today is sunny", False),
        ("{ today() }", False),
    ],
)
def test_is_expression(text: str, expected: bool) -> None:
    assert is_expression(text) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("now()", True),
        (" {{ today() }} ", True),
        ("{{ anything }}", True),  # the shape only
        ("a {{ today() }}", False),
        ("{{ today() }}{{ now() }}", False),
        ("plain", False),
        ("{{ unclosed", False),
        ("", False),
    ],
)
def test_is_single_expression(value: str, expected: bool) -> None:
    assert is_single_expression(value) is expected


# --- properties -----------------------------------------------------------------------------

ZONES = [ZULU, NEW_YORK, LORD_HOWE, HAVANA, APIA] + [
    ZoneInfo(key)
    for key in ("Asia/Kathmandu", "Pacific/Chatham", "Europe/Dublin", "America/Santiago")
]
TOKENS = [
    *sorted(NO_ARGUMENT | ONE_ARGUMENT),
    *("now", "today", "(", ")", ".", "-", ",", " ", "0", "7", "100000", "100001"),
    *("{{", "}}", "__class__", "'", "\u00e9"),
]
references = st.datetimes(timezones=st.just(UTC))
in_range_references = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)
modern_references = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)
)
arguments = st.one_of(st.integers(-40, 40), st.integers(-100_000, 100_000))


@st.composite
def chains(draw: st.DrawFn, roots: tuple[str, ...] = ("now()", "today()")) -> str:
    text = draw(st.sampled_from(roots))
    for name in draw(st.lists(st.sampled_from(sorted(NO_ARGUMENT | ONE_ARGUMENT)), max_size=8)):
        text += f".{name}({draw(arguments) if name in ONE_ARGUMENT else ''})"
    return text


def outcome(text: str, reference: datetime, tz: ZoneInfo) -> date | datetime | None:
    """The value, or None for an ExpressionError; anything else is raised to fail the test."""
    try:
        return evaluate(text, reference, tz)
    except ExpressionError as exc:
        problem = exc
    assert 0 <= problem.position <= max(len(text), expressions.MAX_LENGTH)
    return None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), references, st.sampled_from(ZONES))
def test_arbitrary_text_only_raises_expression_error(
    text: str, reference: datetime, tz: ZoneInfo
) -> None:
    outcome(text, reference, tz)
    with contextlib.suppress(ExpressionError):
        render(text, reference, tz)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join), references, st.sampled_from(ZONES)
)
def test_token_soup_only_raises_expression_error(
    text: str, reference: datetime, tz: ZoneInfo
) -> None:
    outcome(text, reference, tz)


@settings(max_examples=300, deadline=None)
@given(chains(), references, st.sampled_from(ZONES))
def test_well_formed_chains_give_values_of_the_right_kind(
    text: str, reference: datetime, tz: ZoneInfo
) -> None:
    value = outcome(text, reference, tz)
    if value is None:
        return
    wants_datetime = text.startswith("now()") and "toDate" not in text
    assert isinstance(value, datetime) is wants_datetime
    if isinstance(value, datetime):
        assert value.tzinfo is tz
    assert render(f"{{{{ {text} }}}}", reference, tz) == value


@settings(max_examples=300, deadline=None)
@given(
    chains(roots=("now()",)),
    st.sampled_from(sorted(m for m in NO_ARGUMENT if m.startswith("start"))),
    in_range_references,
    st.sampled_from(ZONES),
)
def test_start_methods_give_the_first_instant_of_the_local_day(
    chain: str, method: str, reference: datetime, tz: ZoneInfo
) -> None:
    value = outcome(f"{chain}.{method}()", reference, tz)
    if not isinstance(value, datetime):
        return  # a toDate() in the chain, or out of range
    if value.date() <= date(1, 1, 2):
        return  # the instant before it is not representable
    before = (value.astimezone(UTC) - timedelta(microseconds=1)).astimezone(tz)
    assert before.date() < value.date()
    # Midnight, unless midnight was skipped: then the instant the clocks jumped.
    assert value.time() == time(0) or value.utcoffset() != before.utcoffset()


@settings(max_examples=300, deadline=None)
@given(modern_references, st.sampled_from(ZONES), st.integers(-1000, 1000))
def test_elapsed_and_calendar_arithmetic(reference: datetime, tz: ZoneInfo, n: int) -> None:
    now = evaluate("now()", reference, tz)
    assert isinstance(now, datetime)
    later = evaluate(f"now().plusHours({n})", reference, tz)
    assert isinstance(later, datetime)
    assert later.astimezone(UTC) - now.astimezone(UTC) == timedelta(hours=n)
    assert evaluate(f"today().plusDays({n}).minusDays({n})", reference, tz) == now.date()
    moved = evaluate(f"today().plusMonths({n})", reference, tz)
    assert (moved.year * 12 + moved.month) - (now.year * 12 + now.month) == n
    assert moved.day == min(now.day, calendar.monthrange(moved.year, moved.month)[1])
    # The same wall time n days on, unless that wall time was skipped by a transition.
    shifted = evaluate(f"now().plusDays({n})", reference, tz)
    assert isinstance(shifted, datetime)
    wall = datetime.combine(now.date() + timedelta(days=n), now.time())
    if shifted.replace(tzinfo=None) != wall:
        assert wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall
        assert shifted.replace(tzinfo=None) > wall
