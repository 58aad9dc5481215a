"""Resolve the parameters a caller submits against a report's declared parameters, before any
job is queued: every declared parameter gets a value typed for binding into SQL (or None), and
every problem is reported at once so a caller can fix them all in one go.

``declared`` are the stored camelCase dicts of ``ReportParameter`` (name, label, type,
required, defaultValue, options). Date values and defaults may be expressions such as
``today().minusDays(7)`` or ``{{ now().startOfMonth() }}`` (see ``expressions``); other types
take literals only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from broadsheet.reports import expressions

if TYPE_CHECKING:
    from broadsheet.models import ReportDefinition

MAX_STRING = 10_000
MAX_LISTED_OPTIONS = 20
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what every supported database binds as an integer

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


@dataclass(frozen=True)
class ParameterProblem:
    name: str
    message: str


class ParameterErrors(ValueError):
    """Every problem with a set of submitted parameters, not just the first."""

    def __init__(self, problems: list[ParameterProblem]) -> None:
        super().__init__(problems)  # in args, so the error survives pickling
        self.problems = list(problems)

    def __str__(self) -> str:
        return "invalid parameters: " + "; ".join(f"{p.name}: {p.message}" for p in self.problems)


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Context:
    reference: datetime
    tz: ZoneInfo
    options: tuple[str, ...]


def _show(value: Any) -> str:
    """A value for a message, cut short: a submitted string may be 10,000 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- one converter per type -----------------------------------------------------------------


def _to_string(value: Any, context: _Context) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected text, got {_kind(value)}")
    if "\x00" in value:  # no database stores it in text, and PostgreSQL's JSONB refuses it
        raise _Invalid("text may not contain a NUL character")
    return value


def _to_number(value: Any, context: _Context) -> int | float:
    return _number(value)


def _number(value: Any) -> int | float:
    """An int for an integral literal, a float for a decimal one: ``:x / 2`` divides as the
    caller wrote it (an integer division in PostgreSQL for an int)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid(f"expected a number, got {_kind(value)}")
    number: int | float
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            # Python refuses to read very long digit strings; those are out of range anyway.
            significant = text.lstrip("+-").lstrip("0")
            number = int(text) if len(significant) <= 19 else INT_MAX + 1
        elif _DECIMAL.fullmatch(text):
            number = float(text)
        else:
            raise _Invalid(f"{_show(value)} is not a number")
    else:
        number = value
    if isinstance(number, float) and not math.isfinite(number):
        raise _Invalid(f"{_show(value)} is not a finite number")
    if isinstance(number, int) and not INT_MIN <= number <= INT_MAX:
        raise _Invalid(f"{_show(value)} is out of range (a 64-bit integer at most)")
    return number


def _date_from_text(value: str, context: _Context) -> date:
    if expressions.is_expression(value):
        try:
            rendered = expressions.render(value, context.reference, context.tz)
        except expressions.ExpressionError as exc:
            raise _Invalid(f"{_show(value)}: {exc}") from None
        if isinstance(rendered, str):
            raise _Invalid(f"{_show(value)} is text around a template, not a date")
        return _date_from_date(rendered, context)
    text = value.strip()
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if _ISO_DATETIME.match(text):
            return _date_from_date(datetime.fromisoformat(text), context)
    except (ValueError, OverflowError):
        raise _Invalid(f"{_show(value)} is not a valid date") from None
    raise _Invalid(
        f"{_show(value)} is not a date: expected YYYY-MM-DD, an ISO datetime "
        "or an expression such as today()"
    )


def _date_from_date(value: date, context: _Context) -> date:
    """The local date in the report's zone of an aware datetime; the date of anything else."""
    if isinstance(value, datetime):
        if value.utcoffset() is not None:
            value = value.astimezone(context.tz)
        return value.date()
    return value


def _to_date(value: Any, context: _Context) -> date:
    if isinstance(value, str):
        return _date_from_text(value, context)
    if isinstance(value, date):
        try:
            return _date_from_date(value, context)
        except (ValueError, OverflowError):
            raise _Invalid(f"{_show(value)} is out of range in {context.tz}") from None
    raise _Invalid(f"expected a date, got {_kind(value)}")


def _to_boolean(value: Any, context: _Context) -> bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise _Invalid(f"expected true or false, got {_kind(value)}")
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _Invalid(f"{_show(value)} is not true or false (nor 1 or 0)")


def _to_enum(value: Any, context: _Context) -> str:
    if isinstance(value, str) and value in context.options:
        return value
    listed = ", ".join(context.options[:MAX_LISTED_OPTIONS]) or "none declared"
    more = len(context.options) - MAX_LISTED_OPTIONS
    if more > 0:
        listed += f" (and {more} more)"
    raise _Invalid(f"{_show(value)} is not one of the options: {listed}")


_CONVERTERS: dict[str, Callable[[Any, _Context], Any]] = {
    "string": _to_string,
    "number": _to_number,
    "date": _to_date,
    "boolean": _to_boolean,
    "enum": _to_enum,
}


def _convert(kind: str, value: Any, context: _Context) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise _Invalid(f"is longer than {MAX_STRING} characters")
    return _CONVERTERS[kind](value, context)


def _options(param: dict[str, Any]) -> tuple[str, ...]:
    return tuple(o["value"] for o in param.get("options") or () if isinstance(o, dict))


def _resolve_one(
    param: dict[str, Any], value: Any, reference: datetime, tz: ZoneInfo, defaults_tz: ZoneInfo
) -> Any:
    kind = param.get("type")
    if kind not in _CONVERTERS:
        raise _Invalid(f"is declared with an unknown type {kind!r}")
    options = _options(param)
    if value is not None:
        return _convert(kind, value, _Context(reference, tz, options))
    default = param.get("defaultValue")
    if default is not None:
        try:
            return _convert(kind, default, _Context(reference, defaults_tz, options))
        except _Invalid as exc:
            raise _Invalid(f"its declared defaultValue does not work: {exc.message}") from None
    if param.get("required"):
        raise _Invalid("is required")
    return None


# --- the public API -------------------------------------------------------------------------


def resolve(
    declared: list[dict[str, Any]],
    submitted: dict[str, Any],
    *,
    reference: datetime,
    tz: ZoneInfo,
    defaults_tz: ZoneInfo | None = None,
) -> dict[str, Any]:
    """One typed value per declared parameter, in declared order: the submitted value, else the
    default, else None when optional. Expressions are evaluated at ``reference``: submitted
    ones in ``tz``, defaults in ``defaults_tz`` (the report's zone, when a schedule in
    another zone supplies the values; ``tz`` when not given).
    Raises :class:`ParameterErrors` with every problem found."""
    if reference.utcoffset() is None:  # fail at once, not only when a default needs it
        raise ValueError("the reference must be a timezone-aware instant")
    problems: list[ParameterProblem] = []
    values: dict[str, Any] = {}
    for param in declared:
        name = str(param["name"])
        try:
            values[name] = _resolve_one(
                param, submitted.get(name), reference, tz, defaults_tz or tz
            )
        except _Invalid as exc:
            problems.append(ParameterProblem(name, exc.message))
    names = [str(param["name"]) for param in declared]
    for name in submitted:
        if name not in names:
            known = ", ".join(names) or "none"
            problems.append(ParameterProblem(str(name), f"unknown parameter; declared: {known}"))
    if problems:
        raise ParameterErrors(problems)
    return values


def normalized(values: dict[str, Any]) -> dict[str, Any]:
    """A JSON-able copy with sorted keys — dates and datetimes as ISO 8601 text — to store on a
    job and to build a cache key from."""
    return {name: _jsonable(values[name]) for name in sorted(values)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):  # a datetime is a date too; both have isoformat()
        return value.isoformat()
    return value


def check_default(param_type: str, default: str, options: list[str] | None) -> None:
    """Raise ValueError when a declared default can never resolve, so a report is not saved
    with one: called when a definition is saved, before any reference instant exists."""
    if param_type == "date":
        _check_date_default(default)
    elif param_type == "enum":
        if default not in (options or []):
            listed = ", ".join((options or [])[:MAX_LISTED_OPTIONS]) or "none declared"
            raise ValueError(f"defaultValue {default!r} is not one of the options: {listed}")
    elif param_type == "boolean":
        if default.strip().lower() not in ("true", "false"):
            raise ValueError(f"defaultValue {default!r} is not true or false")
    elif param_type == "number":
        try:
            _number(default)
        except _Invalid as exc:
            raise ValueError(f"defaultValue {exc.message}") from None
    elif param_type != "string":
        raise ValueError(f"unknown parameter type {param_type!r}")


def _check_date_default(default: str) -> None:
    if expressions.is_expression(default):
        try:
            expressions.validate_template(default)
        except expressions.ExpressionError as exc:
            raise ValueError(f"defaultValue {default!r} is not a valid expression: {exc}") from None
        if not expressions.is_single_expression(default):
            raise ValueError(
                f"defaultValue {default!r} has text around its template; a date default "
                "must be one expression"
            )
        return
    text = default.strip()
    if _ISO_DATE.fullmatch(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"defaultValue {default!r} is not a valid date") from None
        return
    raise ValueError(
        f"defaultValue {default!r} is not a date (YYYY-MM-DD) or an expression such as today()"
    )


def resolve_templated(
    report: ReportDefinition,
    values: dict[str, Any],
    instant: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The values a run at ``instant`` uses, normalised as a job stores them, from values
    that may be templates (``{{today().minusDays(7)}}``).

    The one way a schedule's fire (its preview, the ticker, run-now, a first attempt) and a
    dashboard's widget work out their parameters. The given values, templates included, are
    evaluated in ``zone`` (the schedule's, the dashboard's); a parameter they leave out takes
    the report's default, evaluated in the report's own zone. Raises :class:`ParameterErrors`
    naming each parameter that does not work, templates that cannot be evaluated included.
    """
    rendered: dict[str, Any] = {}
    problems: list[ParameterProblem] = []
    for name, value in values.items():
        try:
            rendered[name] = (
                expressions.render(value, instant, zone) if isinstance(value, str) else value
            )
        except expressions.ExpressionError as exc:
            problems.append(ParameterProblem(name, str(exc)))
    if problems:
        raise ParameterErrors(problems)
    resolved = resolve(
        report.parameters or [],
        rendered,
        reference=instant,
        tz=zone,
        defaults_tz=ZoneInfo(report.timezone),
    )
    return normalized(resolved)
