"""Checks of a dashboard definition, run when it is saved: what is saved can be shown.

Every problem found is reported at once, each naming its field by index in the body
(``widgets[2].position``, ``widgets[0].source.reportId``, ``parameters[0].targets[1]``):

- widgets: unique ids; inside the 12-column grid; no two overlapping; a ``source`` and
  ``options`` of the shape their ``type`` asks for; a report of the caller's tenant, and for a
  visualization widget one of that report's visualizations. A metric's ``column`` is accepted
  as given: reports do not store their columns, so it is checked when the widget's data is
  read.
- filters (``parameters``): unique names; ``options`` for an ``enum`` (only); a
  ``defaultValue`` of the filter's type; targets naming a widget of this dashboard with a
  report, and a parameter of that report of a compatible type.
- parameter values: each report widget's values — its own, with its filters' defaults in
  place of the parameters they target — resolve against the report's declarations the way a
  schedule's do (``reports.parameters.resolve_templated``: templates evaluated now, in the
  dashboard's time zone). So a required parameter without a default that neither the widget
  nor a filter supplies is refused here, not when the dashboard is first read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from broadsheet import models
from broadsheet.dashboards.filters import Fault, fault_of
from broadsheet.dashboards.schemas import (
    GRID_COLUMNS,
    OPTIONS,
    SOURCES,
    DashboardDefinitionWrite,
    DashboardFilter,
    FilterTarget,
    FilterType,
    WidgetType,
)
from broadsheet.errors import ValidationFailed
from broadsheet.problems import field_name
from broadsheet.reports import parameters

ReportLookup = Callable[[uuid.UUID], models.ReportDefinition | None]

# A default of the wrong type is said naming the filter's type; its other faults in the words
# of a filter value's.
_WRONG_TYPE = {
    Fault.NOT_BOOLEAN: "a boolean filter's defaultValue must be true or false",
    Fault.NOT_NUMBER: "a {kind} filter's defaultValue must be a number",
    Fault.NOT_WHOLE: "an integer filter's defaultValue must be a whole number",
    Fault.NOT_TEXT: "a {kind} filter's defaultValue must be text",
}

# The report parameter types each filter type may set.
COMPATIBLE: dict[FilterType, tuple[str, ...]] = {
    FilterType.string: ("string",),
    FilterType.number: ("number",),
    FilterType.integer: ("number",),
    FilterType.boolean: ("boolean",),
    FilterType.date: ("date",),
    FilterType.enum: ("string", "enum"),
}


@dataclass
class Checked:
    """The definition as it is stored: widgets and filters normalised to plain JSON."""

    widgets: list[dict[str, Any]]
    filters: list[dict[str, Any]]


@dataclass
class _Problems:
    errors: list[dict[str, str]] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.errors.append({"field": where, "message": message})

    def add_validation(self, prefix: str, exc: ValidationError) -> None:
        for error in exc.errors():
            where = field_name(("body", *error["loc"])) if error["loc"] else ""
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            self.add(f"{prefix}.{where}" if where else prefix, message)

    def raise_if_any(self) -> None:
        if self.errors:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in self.errors[:20])
            raise ValidationFailed(detail, errors=self.errors)


def check(body: DashboardDefinitionWrite, report_of: ReportLookup, now: datetime) -> Checked:
    """The definition normalised for storing, or :class:`ValidationFailed` with every
    problem. ``report_of`` finds a report of the caller's tenant (None for any other id)."""
    problems = _Problems()
    widgets: list[dict[str, Any]] = []
    reports: dict[str, models.ReportDefinition] = {}  # widget id -> its report, when valid
    seen: dict[str, int] = {}
    for i, widget in enumerate(body.widgets):
        where = f"widgets[{i}]"
        if widget.id in seen:
            problems.add(f"{where}.id", f"widgets[{seen[widget.id]}] has the id {widget.id!r}")
        else:
            seen[widget.id] = i
        if widget.position.x + widget.size.width > GRID_COLUMNS:
            problems.add(
                f"{where}.position",
                f"x + width is {widget.position.x + widget.size.width}: the grid has "
                f"{GRID_COLUMNS} columns",
            )
        stored: dict[str, Any] = {
            "id": widget.id,
            "type": widget.type.value,
            "title": widget.title,
            "position": widget.position.model_dump(),
            "size": widget.size.model_dump(),
        }
        try:
            source = SOURCES[widget.type].model_validate(widget.source)
            stored["source"] = source.model_dump(mode="json", by_alias=True, exclude_none=True)
        except ValidationError as exc:
            problems.add_validation(f"{where}.source", exc)
            source = None
        try:
            options = OPTIONS[widget.type].model_validate(widget.options or {})
            stored["options"] = options.model_dump(mode="json", by_alias=True, exclude_none=True)
        except ValidationError as exc:
            problems.add_validation(f"{where}.options", exc)
        widgets.append(stored)
        report_id = getattr(source, "report_id", None)
        if source is None or report_id is None:
            continue
        report = report_of(report_id)
        if report is None:
            problems.add(f"{where}.source.reportId", f"no report {report_id}")
            continue
        if widget.type is WidgetType.visualization:
            viz_id = source.visualization_id  # type: ignore[attr-defined]
            known = [str(v.get("id")) for v in report.visualizations or []]
            if viz_id not in known:
                problems.add(
                    f"{where}.source.visualizationId",
                    f"report {report.name!r} has no visualization {viz_id!r}; "
                    f"it has: {', '.join(known) or 'none'}",
                )
                continue
        reports[widget.id] = report
    _check_overlaps(body, problems)
    filters = _check_filters(body, reports, problems)
    problems.raise_if_any()
    _check_values(body, widgets, reports, now, problems)
    problems.raise_if_any()
    return Checked(widgets=widgets, filters=filters)


def _check_overlaps(body: DashboardDefinitionWrite, problems: _Problems) -> None:
    for j, b in enumerate(body.widgets):
        for i, a in enumerate(body.widgets[:j]):
            if (
                a.position.x < b.position.x + b.size.width
                and b.position.x < a.position.x + a.size.width
                and a.position.y < b.position.y + b.size.height
                and b.position.y < a.position.y + a.size.height
            ):
                problems.add(f"widgets[{j}].position", f"overlaps widgets[{i}] ({a.id!r})")
                break


def _check_filters(
    body: DashboardDefinitionWrite,
    reports: dict[str, models.ReportDefinition],
    problems: _Problems,
) -> list[dict[str, Any]]:
    names: dict[str, int] = {}
    targeted: dict[tuple[str, str], int] = {}
    for k, flt in enumerate(body.parameters):
        where = f"parameters[{k}]"
        if flt.name in names:
            problems.add(f"{where}.name", f"parameters[{names[flt.name]}] is named {flt.name!r}")
        else:
            names[flt.name] = k
        option_values = [o.value for o in flt.options or []]
        message = _options_problem(flt, option_values)
        if message:
            problems.add(f"{where}.options", message)
        if flt.default_value is not None:
            message = _default_problem(flt, option_values)
            if message:
                problems.add(f"{where}.defaultValue", message)
        for j, target in enumerate(flt.targets):
            key = (target.widget_id, target.parameter)
            if key in targeted:
                message = (
                    f"parameters[{targeted[key]}] already sets {target.parameter!r} of "
                    f"widget {target.widget_id!r}"
                )
            else:
                targeted[key] = k
                message = _target_problem(body, reports, flt, option_values, target)
            if message:
                problems.add(f"{where}.targets[{j}]", message)
    return [flt.model_dump(mode="json", by_alias=True) for flt in body.parameters]


def _options_problem(flt: DashboardFilter, option_values: list[str]) -> str | None:
    if flt.type is not FilterType.enum:
        return "options are only for enum filters" if flt.options is not None else None
    if not option_values:
        return "an enum filter needs at least one option"
    if len(set(option_values)) != len(option_values):
        return "option values must be unique"
    return None


def _default_problem(flt: DashboardFilter, option_values: list[str]) -> str | None:
    """Why the filter's defaultValue cannot be saved, or None. It must be a value of the
    filter's type, checked as a filter value is (``fault_of``); an enum's, one of its options;
    a date's, a date or a template, checked as a report's date default is."""
    value = flt.default_value
    if isinstance(value, str) and flt.type is FilterType.enum:
        return None if value in option_values else f"{value!r} is not one of the filter's options"
    if isinstance(value, str) and flt.type is FilterType.date:
        try:
            parameters.check_default("date", value, None)
        except ValueError as exc:
            return str(exc).removeprefix("defaultValue ")
        return None
    fault = fault_of(flt.type, value)
    if fault in _WRONG_TYPE:
        return _WRONG_TYPE[fault].format(kind=flt.type.value)
    return None if fault is None else fault.value


def _target_problem(
    body: DashboardDefinitionWrite,
    reports: dict[str, models.ReportDefinition],
    flt: DashboardFilter,
    option_values: list[str],
    target: FilterTarget,
) -> str | None:
    kinds = {w.id: w.type for w in body.widgets}
    if target.widget_id not in kinds:
        return f"no widget {target.widget_id!r} in this dashboard"
    if kinds[target.widget_id] is WidgetType.text:
        return f"widget {target.widget_id!r} is text: it has no parameters"
    report = reports.get(target.widget_id)
    if report is None:  # its source is wrong, and said so already
        return None
    name = target.parameter
    declared = {str(p["name"]): p for p in report.parameters or []}
    param = declared.get(name)
    if param is None:
        return (
            f"report {report.name!r} has no parameter {name!r}; "
            f"it has: {', '.join(declared) or 'none'}"
        )
    kind = str(param.get("type"))
    if kind not in COMPATIBLE[flt.type]:
        return f"a {flt.type.value} filter cannot set {name!r}, a {kind} parameter"
    if kind == "enum":
        offered = {str(o.get("value")) for o in param.get("options") or []}
        missing = [v for v in option_values if v not in offered]
        if missing:
            return f"{name!r} does not offer the filter's values {', '.join(map(repr, missing))}"
    return None


def _check_values(
    body: DashboardDefinitionWrite,
    widgets: list[dict[str, Any]],
    reports: dict[str, models.ReportDefinition],
    now: datetime,
    problems: _Problems,
) -> None:
    zone = ZoneInfo(body.timezone)
    for i, widget in enumerate(widgets):
        report = reports.get(widget["id"])
        if report is None:
            continue
        values = dict(widget["source"].get("parameters") or {})
        from_filter: dict[str, int] = {}
        for k, flt in enumerate(body.parameters):
            for target in flt.targets:
                if target.widget_id == widget["id"] and flt.default_value is not None:
                    values[target.parameter] = flt.default_value
                    from_filter[target.parameter] = k
        try:
            parameters.resolve_templated(report, values, now, zone)
        except parameters.ParameterErrors as exc:
            for problem in exc.problems:
                if problem.name in from_filter:
                    problems.add(
                        f"parameters[{from_filter[problem.name]}].defaultValue",
                        f"for widget {widget['id']!r}, {problem.name!r}: {problem.message}",
                    )
                elif problem.name not in values and problem.message == "is required":
                    problems.add(
                        f"widgets[{i}].source.parameters.{problem.name}",
                        f"report {report.name!r} requires it and has no default: give it a "
                        "value here or set it with a filter's defaultValue",
                    )
                else:
                    problems.add(f"widgets[{i}].source.parameters.{problem.name}", problem.message)
