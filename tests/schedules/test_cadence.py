"""Seed 004's friendly scheduleConfig ↔ cron: what each form becomes, round trips both ways, and
every error with its scheduleConfig field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadsheet.schedules.cadence import from_cron, to_cron
from broadsheet.schedules.cron import Cadence, CronError, next_fires


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"cadence": "daily", "time": "09:00"}, ("0 9 * * *", "UTC")),
        ({"cadence": "daily", "time": "9:05", "timezone": "Asia/Tokyo"},
         ("5 9 * * *", "Asia/Tokyo")),
        ({"cadence": "daily", "time": "23:59"}, ("59 23 * * *", "UTC")),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": 1}, ("0 9 * * 1", "UTC")),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": 7}, ("0 9 * * 0", "UTC")),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": "sat"}, ("0 9 * * 6", "UTC")),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": "Sunday"}, ("0 9 * * 0", "UTC")),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": "3"}, ("0 9 * * 3", "UTC")),
        ({"cadence": "monthly", "time": "00:00", "dayOfMonth": 1}, ("0 0 1 * *", "UTC")),
        ({"cadence": "monthly", "time": "06:30", "dayOfMonth": 31}, ("30 6 31 * *", "UTC")),
        ({"cadence": "monthly", "time": "06:30", "dayOfMonth": "L"}, ("30 6 L * *", "UTC")),
        ({"cadence": "monthly", "time": "06:30", "dayOfMonth": "last"}, ("30 6 L * *", "UTC")),
        ({"cadence": "cron", "cronExpression": " */15  9-17 * * 1-5 "},
         ("*/15 9-17 * * 1-5", "UTC")),
        ({"cadence": "cron", "cronExpression": "@daily", "timezone": "Europe/London"},
         ("@daily", "Europe/London")),
        # None is absent, as a form with every key would send it.
        ({"cadence": "daily", "time": "09:00", "dayOfWeek": None, "dayOfMonth": None,
          "cronExpression": None, "timezone": None}, ("0 9 * * *", "UTC")),
    ],
)  # fmt: skip
def test_to_cron(config: dict[str, Any], expected: tuple[str, str]) -> None:
    assert to_cron(config) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 9 * * *", {"cadence": "daily", "time": "09:00"}),
        ("59 23 * * *", {"cadence": "daily", "time": "23:59"}),
        ("0 9 * * 1", {"cadence": "weekly", "time": "09:00", "dayOfWeek": 1}),
        ("0 9 * * 0", {"cadence": "weekly", "time": "09:00", "dayOfWeek": 7}),
        ("0 0 1 * *", {"cadence": "monthly", "time": "00:00", "dayOfMonth": 1}),
        ("30 6 L * *", {"cadence": "monthly", "time": "06:30", "dayOfMonth": "L"}),
        # Anything to_cron does not write stays cron, as given.
        ("0 9 * * 7", {"cadence": "cron", "cronExpression": "0 9 * * 7"}),
        ("00 9 * * *", {"cadence": "cron", "cronExpression": "00 9 * * *"}),
        ("0 9 * * MON", {"cadence": "cron", "cronExpression": "0 9 * * MON"}),
        ("0 9 1 * 1", {"cadence": "cron", "cronExpression": "0 9 1 * 1"}),
        ("0 9 * 1 *", {"cadence": "cron", "cronExpression": "0 9 * 1 *"}),
        ("*/15 * * * *", {"cadence": "cron", "cronExpression": "*/15 * * * *"}),
        ("@daily", {"cadence": "cron", "cronExpression": "@daily"}),
    ],
)
def test_from_cron(expression: str, expected: dict[str, Any]) -> None:
    assert from_cron(expression, "America/New_York") == {**expected, "timezone": "America/New_York"}


def test_monthly_on_the_31st_skips_shorter_months_and_l_is_the_last_day() -> None:
    after = datetime(2024, 1, 1, tzinfo=UTC)
    on_31 = Cadence.parse(*to_cron({"cadence": "monthly", "time": "00:00", "dayOfMonth": 31}))
    assert [fire.month for fire in next_fires(on_31, after, 4)] == [1, 3, 5, 7]
    last = Cadence.parse(*to_cron({"cadence": "monthly", "time": "00:00", "dayOfMonth": "L"}))
    assert [fire.day for fire in next_fires(last, after, 4)] == [31, 29, 31, 30]


FRIENDLY = st.fixed_dictionaries(
    {
        "time": st.tuples(st.integers(0, 23), st.integers(0, 59)).map(
            lambda hm: f"{hm[0]:02}:{hm[1]:02}"
        ),
        "timezone": st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe"]),
    }
).flatmap(
    lambda base: st.one_of(
        st.just({"cadence": "daily", **base}),
        st.integers(1, 7).map(lambda day: {"cadence": "weekly", "dayOfWeek": day, **base}),
        (st.integers(1, 31) | st.just("L")).map(
            lambda day: {"cadence": "monthly", "dayOfMonth": day, **base}
        ),
    )
)


@given(FRIENDLY)
def test_friendly_forms_round_trip(config: dict[str, Any]) -> None:
    assert from_cron(*to_cron(config)) == config


@given(
    st.tuples(
        st.sampled_from(["0", "30", "*/15", "5,35", "*"]),
        st.sampled_from(["9", "*", "0-6", "23"]),
        st.sampled_from(["*", "1", "15", "L", "31"]),
        st.sampled_from(["*", "JAN", "1-6"]),
        st.sampled_from(["*", "1", "0", "MON-FRI", "7"]),
    ).map(" ".join),
    st.sampled_from(["UTC", "Europe/Berlin"]),
)
def test_expressions_round_trip(expression: str, timezone: str) -> None:
    assert to_cron(from_cron(expression, timezone)) == (expression, timezone)


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({}, "cadence", "missing; use one of daily, weekly, monthly, cron"),
        ({"cadence": "hourly"}, "cadence", "'hourly' is not one; use one of daily"),
        ({"cadence": "daily"}, "time", "required for a daily cadence"),
        ({"cadence": "weekly", "time": "09:00"}, "dayOfWeek", "required for a weekly cadence"),
        ({"cadence": "monthly", "time": "09:00"}, "dayOfMonth", "required for a monthly cadence"),
        ({"cadence": "cron"}, "cronExpression", "required for a cron cadence"),
        ({"cadence": "cron", "cronExpression": "0 9 * * *", "time": "09:00"}, "time",
         "only for a daily or weekly or monthly cadence, not cron"),
        ({"cadence": "daily", "time": "09:00", "dayOfWeek": 1}, "dayOfWeek",
         "only for a weekly cadence, not daily"),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": 1, "dayOfMonth": 1}, "dayOfMonth",
         "only for a monthly cadence, not weekly"),
        ({"cadence": "daily", "time": "09:00", "cron_expression": "x"}, "cron_expression",
         "unknown field"),
        ({"cadence": "daily", "time": "24:00"}, "time", "'24:00' is not a 24-hour time HH:MM"),
        ({"cadence": "daily", "time": "09:60"}, "time", "is not a 24-hour time"),
        ({"cadence": "daily", "time": "9am"}, "time", "is not a 24-hour time"),
        ({"cadence": "daily", "time": 900}, "time", "900 is not a 24-hour time"),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": 0}, "dayOfWeek",
         "0 is not a day: 1 (Monday) to 7 (Sunday), or MON to SUN"),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": 8}, "dayOfWeek", "8 is not a day"),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": True}, "dayOfWeek",
         "True is not a day"),
        ({"cadence": "weekly", "time": "09:00", "dayOfWeek": "Funday"}, "dayOfWeek",
         "'Funday' is not a day"),
        ({"cadence": "monthly", "time": "09:00", "dayOfMonth": 0}, "dayOfMonth",
         "0 is not a day of the month: 1 to 31, or 'L' (last)"),
        ({"cadence": "monthly", "time": "09:00", "dayOfMonth": 32}, "dayOfMonth",
         "32 is not a day of the month"),
        ({"cadence": "monthly", "time": "09:00", "dayOfMonth": 1.5}, "dayOfMonth",
         "1.5 is not a day of the month"),
        ({"cadence": "cron", "cronExpression": "61 * * * *"}, "cronExpression",
         "minute field: 61 is out of range 0-59"),
        ({"cadence": "cron", "cronExpression": "@reboot"}, "cronExpression", "@reboot"),
        ({"cadence": "cron", "cronExpression": 5}, "cronExpression", "must be a cron expression"),
        ({"cadence": "daily", "time": "09:00", "timezone": "Mars/Olympus"}, "timezone",
         "unknown time zone 'Mars/Olympus'"),
        ({"cadence": "daily", "time": "09:00", "timezone": 3}, "timezone",
         "must be an IANA time zone name"),
    ],
)  # fmt: skip
def test_errors_name_the_schedule_config_field(
    config: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(CronError) as caught:
        to_cron(config)
    assert caught.value.field == f"scheduleConfig.{field}"
    assert message in str(caught.value)
