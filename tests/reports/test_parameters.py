"""Resolving submitted parameters against declared ones: every type's accepted and rejected
values, defaults, unknown names, all problems at once, and the normalized form."""

from __future__ import annotations

import json
import math
import pickle
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadsheet.reports.parameters import (
    ParameterErrors,
    ParameterProblem,
    check_default,
    normalized,
    resolve,
)

ZULU = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
REFERENCE = datetime(2024, 3, 31, 15, tzinfo=UTC)  # Sunday; 2024-04-01 already in Tokyo
STRATEGIES = [{"label": "Momentum", "value": "Momentum"}, {"label": "Value", "value": "Value"}]


def declare(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    """A declared parameter as stored: camelCase, every key present."""
    param: dict[str, Any] = {
        "name": name,
        "label": name.title(),
        "type": kind,
        "required": False,
        "defaultValue": None,
        "options": STRATEGIES if kind == "enum" else None,
    }
    return param | extra


def one(kind: str, value: Any, tz: ZoneInfo = ZULU, **extra: Any) -> Any:
    return resolve([declare("p", kind, **extra)], {"p": value}, reference=REFERENCE, tz=tz)["p"]


def problems(
    declared: list[dict[str, Any]], submitted: dict[str, Any], tz: ZoneInfo = ZULU
) -> list[tuple[str, str]]:
    with pytest.raises(ParameterErrors) as caught:
        resolve(declared, submitted, reference=REFERENCE, tz=tz)
    return [(p.name, p.message) for p in caught.value.problems]


def rejected(kind: str, value: Any, **extra: Any) -> str:
    [(name, message)] = problems([declare("p", kind, **extra)], {"p": value})
    assert name == "p"
    return message


# --- string -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["hello", "", " padded ", "x" * 10_000, "{{ today() }}", "now()", "ünïcødé"]
)
def test_string_accepts_text_as_is(value: str) -> None:
    assert one("string", value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 10_001, "is longer than 10000 characters"),
        (42, "expected text, got a number"),
        (True, "expected text, got a boolean"),
        (["a"], "expected text, got a list"),
        ({"a": 1}, "expected text, got an object"),
    ],
)
def test_string_rejects(value: Any, message: str) -> None:
    assert rejected("string", value) == message


# --- number -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, 42),
        (-7, -7),
        (0, 0),
        ("42", 42),
        (" 42 ", 42),
        ("-7", -7),
        ("+7", 7),
        ("007", 7),
        ("-0", 0),
        ("0000000000000000000000000001", 1),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        (3.5, 3.5),
        (42.0, 42.0),
        ("3.5", 3.5),
        ("42.0", 42.0),
        ("1e3", 1000.0),
        ("-2.5E-3", -0.0025),
        (".5", 0.5),
        ("5.", 5.0),
    ],
)
def test_number_accepts(value: Any, expected: float) -> None:
    result = one("number", value)
    assert result == expected
    assert type(result) is type(expected)  # an int stays an int, a decimal a float


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected a number, got a boolean"),
        (False, "expected a number, got a boolean"),
        ("abc", "'abc' is not a number"),
        ("", "'' is not a number"),
        ("nan", "'nan' is not a number"),
        ("NaN", "'NaN' is not a number"),
        ("inf", "'inf' is not a number"),
        ("-Infinity", "'-Infinity' is not a number"),
        ("1_000", "'1_000' is not a number"),
        ("0x10", "'0x10' is not a number"),
        ("4 2", "'4 2' is not a number"),
        ("\u0661\u0662", "'\u0661\u0662' is not a number"),  # Arabic-Indic digits
        ("1e999", "'1e999' is not a finite number"),
        (math.nan, "nan is not a finite number"),
        (math.inf, "inf is not a finite number"),
        (2**63, "9223372036854775808 is out of range (a 64-bit integer at most)"),
        (
            "-9223372036854775809",
            "'-9223372036854775809' is out of range (a 64-bit integer at most)",
        ),
        ("1" * 5000, "'" + "1" * 56 + "... is out of range (a 64-bit integer at most)"),
        ([1], "expected a number, got a list"),
    ],
)
def test_number_rejects(value: Any, message: str) -> None:
    assert rejected("number", value) == message


# --- date ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("2024-03-05", ZULU, date(2024, 3, 5)),
        (" 2024-03-05 ", ZULU, date(2024, 3, 5)),
        ("2024-02-29", ZULU, date(2024, 2, 29)),
        ("2024-03-05T10:00:00", ZULU, date(2024, 3, 5)),
        ("2024-03-05 10:00", NEW_YORK, date(2024, 3, 5)),  # naive: its own date
        ("2024-03-05T23:30:00-05:00", ZULU, date(2024, 3, 6)),  # aware: the date in the zone
        ("2024-03-05T23:30:00-05:00", NEW_YORK, date(2024, 3, 5)),
        ("2024-03-05T00:00:00Z", NEW_YORK, date(2024, 3, 4)),
        ("2024-03-04T23:00:00.000Z", ZoneInfo("Europe/Berlin"), date(2024, 3, 5)),
        ("today()", ZULU, date(2024, 3, 31)),
        ("today()", TOKYO, date(2024, 4, 1)),
        ("now()", ZULU, date(2024, 3, 31)),
        ("now()", TOKYO, date(2024, 4, 1)),
        ("today().minusMonths(1)", ZULU, date(2024, 2, 29)),
        ("{{ now().startOfMonth().minusMonths(1) }}", ZULU, date(2024, 2, 1)),
        ("{{today().minusDays(7)}}", ZULU, date(2024, 3, 24)),
        (date(2024, 1, 2), ZULU, date(2024, 1, 2)),
        (datetime(2024, 1, 2, 23, tzinfo=UTC), TOKYO, date(2024, 1, 3)),
        (datetime(2024, 1, 2, 23), TOKYO, date(2024, 1, 2)),
    ],
)
def test_date_accepts(value: Any, tz: ZoneInfo, expected: date) -> None:
    result = one("date", value, tz)
    assert type(result) is date
    assert result == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-02-30", "'2024-02-30' is not a valid date"),
        ("2023-02-29", "'2023-02-29' is not a valid date"),
        ("2024-03-05T25:00", "'2024-03-05T25:00' is not a valid date"),
        (
            "2024-3-5",
            "'2024-3-5' is not a date: expected YYYY-MM-DD, an ISO datetime "
            "or an expression such as today()",
        ),
        ("20240305", "'20240305' is not a date"),
        ("yesterday", "'yesterday' is not a date"),
        ("\u0662\u0660\u0662\u0664-01-01", "is not a date"),
        ("", "'' is not a date"),
        (
            "today().minusMonth(1)",
            "'today().minusMonth(1)': unknown method 'minusMonth' at 8; did you mean minusMonths?",
        ),
        ("Now()", "did you mean now()?"),
        ("{{ today()", "'{{ today()': '{{' at 0 is never closed by '}}'"),
        ("Report for {{ today() }}", "'Report for {{ today() }}' is text around a template"),
        ("today().plusYears(100000)", "plusYears() at 8 goes beyond the supported dates"),
        (20240305, "expected a date, got a number"),
        (True, "expected a date, got a boolean"),
        (["2024-01-01"], "expected a date, got a list"),
    ],
)
def test_date_rejects(value: Any, message: str) -> None:
    assert message in rejected("date", value)


# --- boolean ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        ("True", True),
        (" true ", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("0", False),
    ],
)
def test_boolean_accepts(value: Any, expected: bool) -> None:
    assert one("boolean", value) is expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "'yes' is not true or false (nor 1 or 0)"),
        ("t", "'t' is not true or false (nor 1 or 0)"),
        ("", "'' is not true or false (nor 1 or 0)"),
        ("2", "'2' is not true or false (nor 1 or 0)"),
        (1, "expected true or false, got a number"),
        (0, "expected true or false, got a number"),
        ([True], "expected true or false, got a list"),
    ],
)
def test_boolean_rejects(value: Any, message: str) -> None:
    assert rejected("boolean", value) == message


# --- enum ---------------------------------------------------------------------------------


def test_enum_accepts_an_option_value() -> None:
    assert one("enum", "Momentum") == "Momentum"
    assert one("enum", "Value") == "Value"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("momentum", "'momentum' is not one of the options: Momentum, Value"),
        (" Value", "' Value' is not one of the options: Momentum, Value"),
        ("", "'' is not one of the options: Momentum, Value"),
        (1, "1 is not one of the options: Momentum, Value"),
        (True, "True is not one of the options: Momentum, Value"),
    ],
)
def test_enum_rejects(value: Any, message: str) -> None:
    assert rejected("enum", value) == message


def test_enum_message_lists_at_most_twenty_options() -> None:
    options = [{"label": f"O{i}", "value": f"o{i}"} for i in range(25)]
    message = rejected("enum", "nope", options=options)
    assert message.endswith("o18, o19 (and 5 more)")
    assert "o20" not in message
    assert rejected("enum", "x", options=[]).endswith("options: none declared")


# --- defaults, required, unknown ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "default", "tz", "expected"),
    [
        ("string", "hello", ZULU, "hello"),
        ("string", "now()", ZULU, "now()"),  # only dates read expressions
        ("number", "10", ZULU, 10),
        ("number", "2.5", ZULU, 2.5),
        ("date", "2024-01-15", ZULU, date(2024, 1, 15)),
        ("date", "now()", ZULU, date(2024, 3, 31)),
        ("date", "today()", TOKYO, date(2024, 4, 1)),
        ("date", "today().minusDays(7)", ZULU, date(2024, 3, 24)),
        ("date", "{{ now().startOfMonth().minusMonths(1) }}", ZULU, date(2024, 2, 1)),
        ("boolean", "false", ZULU, False),
        ("boolean", "TRUE", ZULU, True),
        ("enum", "Value", ZULU, "Value"),
    ],
)
def test_missing_or_null_values_take_the_default(
    kind: str, default: str, tz: ZoneInfo, expected: Any
) -> None:
    for required in (False, True):
        declared = [declare("p", kind, defaultValue=default, required=required)]
        for submitted in ({}, {"p": None}):
            values = resolve(declared, submitted, reference=REFERENCE, tz=tz)
            assert values == {"p": expected}
            assert type(values["p"]) is type(expected)


def test_a_submitted_value_wins_over_the_default() -> None:
    declared = [
        declare("start", "date", defaultValue="today().startOfMonth()"),
        declare("limit", "number", defaultValue="10"),
    ]
    values = resolve(declared, {"start": "2020-05-05", "limit": 3}, reference=REFERENCE, tz=ZULU)
    assert values == {"start": date(2020, 5, 5), "limit": 3}


def test_an_unusable_stored_default_is_a_problem() -> None:
    declared = [
        declare("n", "number", defaultValue="ten"),
        declare("d", "date", defaultValue="today().minusDay(1)"),
    ]
    assert problems(declared, {}) == [
        ("n", "its declared defaultValue does not work: 'ten' is not a number"),
        (
            "d",
            "its declared defaultValue does not work: 'today().minusDay(1)': unknown method "
            "'minusDay' at 8; did you mean minusDays?",
        ),
    ]
    # A submitted value means the default is never needed.
    values = resolve(declared, {"n": 1, "d": "2024-01-01"}, reference=REFERENCE, tz=ZULU)
    assert values == {"n": 1, "d": date(2024, 1, 1)}


def test_required_and_optional_without_default() -> None:
    declared = [declare("must", "string", required=True), declare("may", "number")]
    assert problems(declared, {}) == [("must", "is required")]
    assert problems(declared, {"must": None, "may": None}) == [("must", "is required")]
    assert resolve(declared, {"must": ""}, reference=REFERENCE, tz=ZULU) == {
        "must": "",
        "may": None,
    }
    assert resolve(declared, {"must": "x", "may": None}, reference=REFERENCE, tz=ZULU) == {
        "must": "x",
        "may": None,
    }


def test_unknown_parameters_are_named_with_the_declared_ones() -> None:
    declared = [declare("strategy", "enum"), declare("start", "date")]
    assert problems(declared, {"strategy": "Value", "extra": 1, "Start": "2024-01-01"}) == [
        ("extra", "unknown parameter; declared: strategy, start"),
        ("Start", "unknown parameter; declared: strategy, start"),
    ]
    assert problems([], {"x": 1}) == [("x", "unknown parameter; declared: none")]


def test_an_unknown_declared_type_is_a_problem() -> None:
    assert rejected("money", "1") == "is declared with an unknown type 'money'"


def test_every_problem_is_reported_at_once() -> None:
    declared = [
        declare("a", "number", required=True),
        declare("b", "date"),
        declare("c", "enum"),
        declare("d", "boolean", required=True),
        declare("ok", "string"),
    ]
    submitted = {"b": "nope", "c": "Z", "ok": "fine", "e": 1}
    with pytest.raises(ParameterErrors) as caught:
        resolve(declared, submitted, reference=REFERENCE, tz=ZULU)
    assert [p.name for p in caught.value.problems] == ["a", "b", "c", "d", "e"]
    assert caught.value.problems[0] == ParameterProblem("a", "is required")
    assert caught.value.problems[3] == ParameterProblem("d", "is required")
    text = str(caught.value)
    assert text.startswith("invalid parameters: a: is required; b: 'nope' is not a date")
    assert "c: 'Z' is not one of the options: Momentum, Value" in text
    assert text.endswith("e: unknown parameter; declared: a, b, c, d, ok")
    assert isinstance(caught.value, ValueError)


def test_parameter_errors_pickle() -> None:
    errors = ParameterErrors([ParameterProblem("a", "is required")])
    copy = pickle.loads(pickle.dumps(errors))  # noqa: S301 - our own bytes
    assert copy.problems == errors.problems
    assert str(copy) == "invalid parameters: a: is required"


def test_resolve_returns_one_entry_per_declared_parameter_in_order() -> None:
    declared = [
        declare("strategy", "enum", required=True),
        declare("start", "date", defaultValue="today().startOfMonth().minusMonths(1)"),
        declare("end", "date", defaultValue="today().startOfMonth().minusDays(1)"),
        declare("limit", "number", defaultValue="100"),
        declare("closing", "boolean"),
        declare("note", "string"),
    ]
    values = resolve(
        declared, {"strategy": "Momentum", "closing": "1"}, reference=REFERENCE, tz=NEW_YORK
    )
    assert list(values) == ["strategy", "start", "end", "limit", "closing", "note"]
    assert values == {
        "strategy": "Momentum",
        "start": date(2024, 2, 1),
        "end": date(2024, 2, 29),
        "limit": 100,
        "closing": True,
        "note": None,
    }


def test_a_naive_reference_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware") as caught:
        resolve([declare("p", "string")], {"p": "x"}, reference=datetime(2024, 1, 1), tz=ZULU)
    assert not isinstance(caught.value, ParameterErrors)


def test_the_submitted_dict_is_not_changed() -> None:
    submitted = {"p": "2024-01-01"}
    resolve([declare("p", "date")], submitted, reference=REFERENCE, tz=ZULU)
    assert submitted == {"p": "2024-01-01"}


# --- normalized -----------------------------------------------------------------------------


def test_normalized_is_json_with_sorted_keys_and_iso_dates() -> None:
    values = {
        "z": None,
        "b": date(2024, 3, 1),
        "a": datetime(2024, 3, 1, 12, 30, tzinfo=NEW_YORK),
        "n": 1,
        "f": 2.5,
        "t": True,
        "s": "x",
    }
    result = normalized(values)
    assert list(result) == ["a", "b", "f", "n", "s", "t", "z"]
    assert result == {
        "a": "2024-03-01T12:30:00-05:00",
        "b": "2024-03-01",
        "f": 2.5,
        "n": 1,
        "s": "x",
        "t": True,
        "z": None,
    }
    assert json.loads(json.dumps(result)) == result
    assert values["b"] == date(2024, 3, 1)  # a copy: the input is untouched


def test_normalized_values_resolve_to_the_same_values() -> None:
    declared = [
        declare("strategy", "enum"),
        declare("start", "date", defaultValue="now()"),
        declare("limit", "number"),
        declare("ratio", "number"),
        declare("closing", "boolean"),
        declare("note", "string"),
    ]
    submitted = {"strategy": "Value", "limit": "5", "ratio": "0.5", "closing": "false"}
    values = resolve(declared, submitted, reference=REFERENCE, tz=ZULU)
    stored = json.loads(json.dumps(normalized(values)))
    assert stored == {
        "closing": False,
        "limit": 5,
        "note": None,
        "ratio": 0.5,
        "start": "2024-03-31",
        "strategy": "Value",
    }
    assert resolve(declared, stored, reference=REFERENCE, tz=ZULU) == values
    # The same request gives the same cache key, whatever order it came in.
    again = resolve(declared, dict(reversed(submitted.items())), reference=REFERENCE, tz=ZULU)
    assert json.dumps(normalized(again)) == json.dumps(normalized(values))


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    st.one_of(st.none(), st.dates()),
    st.one_of(st.none(), st.booleans()),
    # NUL is refused on the way in (no database stores it in text), so it never round-trips.
    st.one_of(st.none(), st.text(st.characters(blacklist_characters="\x00"), max_size=50)),
)
def test_normalized_round_trips_through_json_and_resolve(
    number: float | None, day: date | None, flag: bool | None, text: str | None
) -> None:
    declared = [
        declare("number", "number"),
        declare("day", "date"),
        declare("flag", "boolean"),
        declare("text", "string"),
    ]
    submitted = {"number": number, "day": day, "flag": flag, "text": text}
    values = resolve(declared, submitted, reference=REFERENCE, tz=ZULU)
    assert values == submitted
    stored = json.loads(json.dumps(normalized(values)))
    again = resolve(declared, stored, reference=REFERENCE, tz=ZULU)
    assert again == values
    assert all(type(again[k]) is type(values[k]) for k in values)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["string", "number", "date", "boolean", "enum"]),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=40),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_any_json_value_resolves_or_is_a_problem(kind: str, value: Any) -> None:
    try:
        resolve([declare("p", kind)], {"p": value}, reference=REFERENCE, tz=NEW_YORK)
    except ParameterErrors as exc:
        problem = exc
    else:
        return
    assert [p.name for p in problem.problems] == ["p"]


# --- check_default --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "default", "options"),
    [
        ("string", "anything at all", None),
        ("string", "now()", None),
        ("number", "10", None),
        ("number", "-2.5", None),
        ("number", "1e3", None),
        ("boolean", "true", None),
        ("boolean", "FALSE", None),
        ("enum", "a", ["a", "b"]),
        ("date", "2024-01-31", None),
        ("date", "2024-02-29", None),
        ("date", "now()", None),
        ("date", "today().minusDays(7)", None),
        ("date", "{{ now().startOfMonth() }}", None),
        ("date", "  {{today().minusMonths(1).endOfMonth()}} ", None),
    ],
)
def test_check_default_accepts(kind: str, default: str, options: list[str] | None) -> None:
    check_default(kind, default, options)


@pytest.mark.parametrize(
    ("kind", "default", "options", "message"),
    [
        ("number", "ten", None, "defaultValue 'ten' is not a number"),
        ("number", "nan", None, "defaultValue 'nan' is not a number"),
        ("number", "1e999", None, "defaultValue '1e999' is not a finite number"),
        ("number", "", None, "defaultValue '' is not a number"),
        ("boolean", "yes", None, "defaultValue 'yes' is not true or false"),
        ("boolean", "1", None, "defaultValue '1' is not true or false"),
        ("enum", "c", ["a", "b"], "defaultValue 'c' is not one of the options: a, b"),
        ("enum", "a", None, "defaultValue 'a' is not one of the options: none declared"),
        ("date", "2024-02-30", None, "defaultValue '2024-02-30' is not a valid date"),
        ("date", "yesterday", None, "defaultValue 'yesterday' is not a date (YYYY-MM-DD)"),
        ("date", "2024-01-31T10:00:00", None, "is not a date (YYYY-MM-DD)"),
        (
            "date",
            "today().minusDay(7)",
            None,
            "defaultValue 'today().minusDay(7)' is not a valid expression: unknown method "
            "'minusDay' at 8; did you mean minusDays?",
        ),
        ("date", "{{ today()", None, "'{{' at 0 is never closed"),
        ("date", "Report {{ today() }}", None, "has text around its template"),
        ("money", "1", None, "unknown parameter type 'money'"),
    ],
)
def test_check_default_rejects(
    kind: str, default: str, options: list[str] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=r"defaultValue|unknown") as caught:
        check_default(kind, default, options)
    assert message in str(caught.value)


def test_nul_characters_are_refused() -> None:
    declared = [{"name": "t", "label": "T", "type": "string"}]
    with pytest.raises(ParameterErrors, match="NUL"):
        resolve(declared, {"t": "a\x00b"}, reference=REFERENCE, tz=ZULU)
