"""A dashboard's shared filter values: read from a query string (``?p.region=south``) or
given as JSON (an embed token's locked values, a schedule's), checked against the filters'
types, and completed with the defaults.

Values are kept as JSON values of the filter's type — text for ``string``, ``enum`` and
``date`` (ISO ``YYYY-MM-DD``, or a template such as ``{{today().minusDays(7)}}`` that
:func:`in_use` evaluates) — so they can be echoed, signed into a token and stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from broadsheet.dashboards.schemas import FilterType
from broadsheet.errors import Forbidden, ValidationFailed
from broadsheet.reports import expressions, parameters

QUERY_PREFIX = "p."
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def from_query(query: Mapping[str, str]) -> dict[str, str]:
    """The ``p.<name>`` entries of a query string, by filter name."""
    return {k.removeprefix(QUERY_PREFIX): v for k, v in query.items() if k.startswith(QUERY_PREFIX)}


def parse(
    definitions: list[dict[str, Any]],
    raw: Mapping[str, str],
    *,
    locked: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Typed values of query-string text, or 422 naming each bad ``p.<name>``; 403 when one
    sets a filter the caller may not change (``locked``, an embed token's)."""
    by_name = {str(f["name"]): f for f in definitions}
    fixed = [name for name in raw if locked and name in locked]
    if fixed:
        raise Forbidden(f"the filter {fixed[0]!r} is fixed by this embed link")
    values: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name, text in raw.items():
        flt = by_name.get(name)
        if flt is None:
            errors.append(_error(QUERY_PREFIX, name, no_such_filter(by_name)))
            continue
        try:
            values[name] = _from_text(flt, text)
        except ValueError as exc:
            errors.append(_error(QUERY_PREFIX, name, str(exc)))
    _raise(errors)
    return values


def check(definitions: list[dict[str, Any]], given: Mapping[str, Any], prefix: str) -> None:
    """422 naming ``<prefix><name>`` for each JSON value that is not one of its filter's."""
    by_name = {str(f["name"]): f for f in definitions}
    errors: list[dict[str, str]] = []
    for name, value in given.items():
        flt = by_name.get(name)
        if flt is None:
            errors.append(_error(prefix, name, no_such_filter(by_name)))
            continue
        problem = problem_of(flt, value)
        if problem:
            errors.append(_error(prefix, name, problem))
    _raise(errors)


def no_such_filter(names: Iterable[str]) -> str:
    """What is said of a value for a filter the dashboard (with filters ``names``) lacks."""
    return f"no such filter; the dashboard has: {', '.join(names) or 'none'}"


def in_use(
    definitions: list[dict[str, Any]], given: Mapping[str, Any], now: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """Every filter's value for this read: the given one, else the default (None when the
    filter has none), templates evaluated at ``now`` in the dashboard's zone."""
    values: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for flt in definitions:
        name = str(flt["name"])
        value = given.get(name, flt.get("defaultValue"))
        if isinstance(value, str) and "{{" in value:
            try:
                rendered = expressions.render(value, now, zone)
            except expressions.ExpressionError as exc:
                errors.append(_error(QUERY_PREFIX, name, str(exc)))
                continue
            value = rendered.isoformat() if isinstance(rendered, date) else rendered
        values[name] = value
    _raise(errors)
    return values


class Fault(Enum):
    """Why a value is no JSON value of a filter's type, in the words a given value's problem
    is said in. A filter's saved ``defaultValue`` says some of them its own way
    (``dashboards.validation``)."""

    NOT_BOOLEAN = "must be true or false"
    NOT_NUMBER = "must be a number"
    NOT_WHOLE = "must be a whole number"
    NOT_FINITE = "must be a finite number"
    OUT_OF_RANGE = "is out of range (a 64-bit integer at most)"
    NOT_TEXT = "must be text"
    TOO_LONG = f"must be at most {parameters.MAX_STRING} characters, without NUL"


def fault_of(kind: FilterType, value: Any) -> Fault | None:
    """Why ``value`` is no JSON value of a ``kind`` filter, or None (also for None, no value).
    Text is checked for its type and length only: an enum's options and a date's form are the
    caller's to check."""
    if value is None:
        return None
    if kind is FilterType.boolean:
        return None if isinstance(value, bool) else Fault.NOT_BOOLEAN
    if kind in (FilterType.number, FilterType.integer):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Fault.NOT_NUMBER
        if kind is FilterType.integer and not isinstance(value, int):
            return Fault.NOT_WHOLE
        if isinstance(value, float) and not math.isfinite(value):
            return Fault.NOT_FINITE
        if isinstance(value, int) and not parameters.INT_MIN <= value <= parameters.INT_MAX:
            return Fault.OUT_OF_RANGE
        return None
    if not isinstance(value, str):
        return Fault.NOT_TEXT
    if len(value) > parameters.MAX_STRING or "\x00" in value:
        return Fault.TOO_LONG
    return None


def problem_of(flt: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` cannot be this filter's, or None."""
    kind = FilterType(flt["type"])
    fault = fault_of(kind, value)
    if fault is not None:
        return fault.value
    if not isinstance(value, str):  # None, or a boolean's or a number's
        return None
    if kind is FilterType.enum:
        offered = [str(o["value"]) for o in flt.get("options") or []]
        return None if value in offered else f"must be one of: {', '.join(offered)}"
    if kind is FilterType.date and "{{" not in value:
        try:
            date.fromisoformat(value)
        except ValueError:
            return "must be a date, YYYY-MM-DD"
    return None


def _from_text(flt: Mapping[str, Any], text: str) -> Any:
    kind = FilterType(flt["type"])
    value: Any = text
    if kind is FilterType.boolean:
        lowered = text.strip().lower()
        if lowered not in TRUE + FALSE:
            raise ValueError("must be true or false")
        value = lowered in TRUE
    elif kind is FilterType.integer:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
    elif kind is FilterType.number:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("must be a number") from None
        if value.is_integer() and abs(value) < 2**53:
            value = int(value)
    problem = problem_of(flt, value)
    if problem:
        raise ValueError(problem)
    return value


def _error(prefix: str, name: str, message: str) -> dict[str, str]:
    return {"field": f"{prefix}{name}", "message": message}


def _raise(errors: list[dict[str, str]]) -> None:
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:20])
        raise ValidationFailed(detail, errors=errors)
