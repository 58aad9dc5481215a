"""The filter values a dashboard schedule's fire runs with.

A dashboard's schedule gives values for the dashboard's shared filters, by filter name: JSON
values of each filter's type, and for text and date filters templates such as
``{{today().minusDays(7)}}``. A fire resolves them once, at its scheduled instant — the
schedule's values in the schedule's zone, the defaults of the filters it leaves out in the
dashboard's zone (as a report's defaults are evaluated in the report's) — and stores them on
the execution: every retry and recipient gets the PDF of the same values, and the PDF's
widgets read their reports with them locked.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from broadsheet import models
from broadsheet.dashboards import filters
from broadsheet.dashboards.schemas import FilterType
from broadsheet.reports import expressions
from broadsheet.reports.parameters import ParameterErrors, ParameterProblem


def fire_filters(
    dashboard: models.Dashboard,
    values: dict[str, Any],
    instant: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """Every filter's value for a fire at ``instant``, by name (filters with neither a value
    nor a default left out), templates evaluated. Raises :class:`ParameterErrors` naming each
    value that is not one of its filter's, unknown names included — the preview, the ticker,
    run-now and the save-time check alike."""
    definitions = {str(f["name"]): f for f in dashboard.parameters or []}
    problems: list[ParameterProblem] = []
    for name in values:
        if name not in definitions:
            problems.append(ParameterProblem(name, filters.no_such_filter(definitions)))
    resolved: dict[str, Any] = {}
    for name, flt in definitions.items():
        given = values.get(name) is not None  # null: no value of its own, as if left out
        value = values[name] if given else flt.get("defaultValue")
        try:
            value = _rendered(flt, value, instant, zone if given else ZoneInfo(dashboard.timezone))
            problem = filters.problem_of(flt, value)
        except ValueError as exc:
            problem = str(exc)
        if problem:
            # A default is the dashboard's to fix; the message says which it is.
            problems.append(ParameterProblem(name, problem if given else f"its default {problem}"))
        elif value is not None:
            resolved[name] = value
    if problems:
        raise ParameterErrors(problems)
    return resolved


def _rendered(flt: dict[str, Any], value: Any, instant: datetime, zone: ZoneInfo) -> Any:
    """``value`` with its templates evaluated: a date filter's as the local date in ``zone``,
    a text filter's as ISO 8601 text. Other values are returned as given."""
    if not isinstance(value, str) or "{{" not in value:
        return value
    try:
        rendered = expressions.render(value, instant, zone)
    except expressions.ExpressionError as exc:
        raise ValueError(str(exc)) from None
    if FilterType(flt["type"]) is FilterType.date:
        if not isinstance(rendered, date):
            raise ValueError("is text around a template, not a date")
        if isinstance(rendered, datetime):
            rendered = rendered.astimezone(zone).date()
        return rendered.isoformat()
    return rendered.isoformat() if isinstance(rendered, date) else rendered
