"""Edit mode's forms as changes to a dashboard definition, and the definition's errors back
at the forms' fields.

Every change is a whole definition sent to ``DashboardService.update`` with the version the
page was showing, exactly as a ``PUT`` would be: a newer stored version is a 409, and
validation names fields as the API does (``widgets[2].position``), which :func:`widget_errors`
(and ``filter_form.filter_errors``) move to the form that made them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.dashboards.schemas import (
    GRID_COLUMNS,
    MAX_REFRESH_SECONDS,
    MAX_Y,
    MIN_REFRESH_SECONDS,
    DashboardDefinitionWrite,
    DashboardDocument,
    WidgetType,
)
from broadsheet.dashboards.service import definition
from broadsheet.errors import ValidationFailed
from broadsheet.kit.pagination import Page
from broadsheet.models import Dashboard
from broadsheet.problems import field_name
from broadsheet.reports.schemas import ReportFilters
from broadsheet.reports.service import ReportService
from broadsheet.web.forms import FormState

MAX_REPORTS = 500
WIDGET_TYPES = [
    ("visualization", "Chart"),
    ("report", "Table"),
    ("metric", "Metric"),
    ("text", "Text"),
]
AGGREGATES = [
    ("first", "First row's value"),
    ("sum", "Sum"),
    ("avg", "Average"),
    ("min", "Minimum"),
    ("max", "Maximum"),
    ("count", "Count"),
]
# Where the add-widget form's fields are in a definition error (widgets[N]<suffix>).
WIDGET_FIELDS = (
    (".source.visualizationId", "chart"),
    (".source.reportId", "report"),
    (".source.column", "column"),
    (".source.aggregate", "aggregate"),
    (".source.markdown", "markdown"),
    (".source.parameters", "parameters"),
    (".source", "type"),
    (".title", "title"),
    (".type", "type"),
    (".position", "x"),
    (".size.width", "width"),
    (".size.height", "height"),
    (".size", "width"),
    (".options", "type"),
)
INDEXED = re.compile(r"^(widgets|parameters)\[(\d+)\](.*)$")


@dataclass(frozen=True)
class ReportChoice:
    id: uuid.UUID
    name: str
    parameters: list[tuple[str, str]]  # (name, label)
    visualizations: list[tuple[str, str]]  # (id, title)


def report_choices(session: Session, settings: Settings, caller: Principal) -> list[ReportChoice]:
    """The tenant's reports, by name, with what the forms offer of each."""
    service = ReportService(session, settings)
    listed, _ = service.list(caller.tenant_id, ReportFilters(sort="name"), Page(MAX_REPORTS, 0))
    choices = []
    for meta in listed:
        report = service.get(caller.tenant_id, meta.id)
        choices.append(
            ReportChoice(
                id=report.id,
                name=report.name,
                parameters=[
                    (str(p["name"]), str(p.get("label") or p["name"]))
                    for p in report.parameters or []
                ],
                visualizations=[
                    (str(v["id"]), str(v.get("title") or v["id"]))
                    for v in report.visualizations or []
                ],
            )
        )
    return choices


# --- a definition to change ----------------------------------------------------------------


def current(row: Dashboard, version: str) -> dict[str, Any]:
    """The stored definition as a PUT body (wire names), carrying the version the page read:
    the service refuses it with a 409 if the dashboard has changed since."""
    body = definition(row).model_dump(mode="json", by_alias=True)
    body["version"] = _version(version)
    return body


# The settings form's fields, by their names in the definition (wire names).
SETTINGS_FIELDS = ("name", "description", "tags", "refreshInterval", "timezone")


REFRESH_ERROR = (
    f"enter a whole number of seconds from {MIN_REFRESH_SECONDS} to "
    f"{MAX_REFRESH_SECONDS:,}, such as 300"
)


def settings_state(doc: DashboardDocument) -> FormState:
    """The settings form as stored."""
    return FormState(
        {
            "name": doc.name,
            "description": doc.description or "",
            "tags": ", ".join(doc.tags),
            "refreshInterval": str(doc.refresh_interval),
            "timezone": doc.timezone,
        }
    )


def apply_settings(body: dict[str, Any], typed: Mapping[str, str]) -> None:
    """The settings form's values into a definition (checked with it, all fields at once)."""
    body["name"] = typed.get("name", "").strip()
    body["description"] = typed.get("description", "").strip() or None
    body["tags"] = split_tags(typed.get("tags", ""))
    body["timezone"] = typed.get("timezone", "").strip()
    interval = typed.get("refreshInterval", "").strip()
    # Text that is not a number stays text, which the definition's check refuses at the field.
    body["refreshInterval"] = int(interval) if interval.isdigit() else interval


def split_tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def settings_errors(refused: ValidationFailed) -> dict[str, str]:
    """A refused definition's errors at the settings form's fields (``tags[2]`` at Tags)."""
    errors: dict[str, str] = {}
    for item in refused.errors or []:
        name = str(item.get("field", "")).partition("[")[0]
        if name == "refreshInterval":  # the model's words are about types, not seconds
            errors[name] = REFRESH_ERROR
        elif name in SETTINGS_FIELDS:
            errors.setdefault(name, str(item.get("message")))
    return errors


def checked(body: dict[str, Any]) -> DashboardDefinitionWrite:
    """The body as the service takes it; a malformed one is a 422 naming its fields."""
    try:
        return DashboardDefinitionWrite.model_validate(body)
    except ValidationError as exc:
        errors = [
            {
                "field": field_name(("body", *e["loc"])),
                "message": str(e.get("msg", "invalid")).removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        ) from None


def _version(text: str) -> int:
    try:
        version = int(text)
    except ValueError:
        version = 0
    # A version no dashboard has: the service answers "read it again" (409).
    return version if version >= 1 else 2**31 - 1


# --- the add-widget form -------------------------------------------------------------------


def new_widget(form: Mapping[str, str], widgets: list[dict[str, Any]]) -> dict[str, Any]:
    """The widget the add form describes (its problems as a 422 at the form's fields)."""
    problems: list[dict[str, str]] = []
    kind = form.get("type", "")
    if kind not in {k for k, _ in WIDGET_TYPES}:
        problems.append({"field": "type", "message": "choose the kind of widget"})
    source = _source(kind, form, problems)
    place = _place(form, problems)
    if problems:
        raise ValidationFailed("; ".join(p["message"] for p in problems), errors=problems)
    return {
        "id": _free_id(kind, widgets),
        "type": kind,
        "title": form.get("title", "").strip() or None,
        "source": source,
        "position": {"x": place["x"] - 1, "y": place["y"] - 1},
        "size": {"width": place["width"], "height": place["height"]},
        "options": {},
    }


def _source(kind: str, form: Mapping[str, str], problems: list[dict[str, str]]) -> dict[str, Any]:
    if kind == WidgetType.text:
        return {"markdown": form.get("markdown", "")}
    source: dict[str, Any] = {}
    if kind == WidgetType.visualization:
        report_id, _, viz_id = form.get("chart", "").partition("/")
        if not viz_id:
            problems.append({"field": "chart", "message": "choose a chart"})
        source = {"reportId": report_id, "visualizationId": viz_id}
    elif kind in (WidgetType.report, WidgetType.metric):
        if not form.get("report"):
            problems.append({"field": "report", "message": "choose a report"})
        source = {"reportId": form.get("report", "")}
        if kind == WidgetType.metric:
            source["column"] = form.get("column", "").strip()
            source["aggregate"] = form.get("aggregate") or "first"
    values, problem = parameter_lines(form.get("parameters", ""))
    if problem:
        problems.append({"field": "parameters", "message": problem})
    source["parameters"] = values
    return source


def _place(form: Mapping[str, str], problems: list[dict[str, str]]) -> dict[str, int]:
    """Column, row, width and height as the form has them: 1-based, whole numbers."""
    place = {}
    for name, low, high in (
        ("x", 1, GRID_COLUMNS),
        ("y", 1, MAX_Y + 1),
        ("width", 1, GRID_COLUMNS),
        ("height", 1, MAX_Y),
    ):
        number = _whole(form.get(name, ""))
        if number is None or not low <= number <= high:
            message = f"enter a whole number from {low} to {high}"
            problems.append({"field": name, "message": message})
        place[name] = number or low
    return place


def parameter_lines(text: str) -> tuple[dict[str, str], str | None]:
    """``name=value`` lines as parameter values (templates allowed), or why not."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            return values, f"line {number}: write each value as name=value"
        values[name.strip()] = value.strip()
    return values, None


def free_row(widgets: list[dict[str, Any]]) -> int:
    """The first row below every widget (1-based, as the form shows rows)."""
    return max((w["position"]["y"] + w["size"]["height"] for w in widgets), default=0) + 1


def _free_id(kind: str, widgets: list[dict[str, Any]]) -> str:
    taken = {str(w["id"]) for w in widgets}
    n = len(widgets) + 1
    while f"{kind}-{n}" in taken:
        n += 1
    return f"{kind}-{n}"


def _whole(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def widget_errors(error: ValidationFailed, index: int) -> dict[str, str]:
    """A definition's errors about ``widgets[index]`` at the add form's fields; the rest at
    the form (``""``)."""
    found: dict[str, str] = {}
    for item in error.errors or [{"field": "", "message": error.detail}]:
        where, message = str(item.get("field", "")), str(item.get("message", "invalid"))
        match = INDEXED.match(where)
        target = ""
        if match and match[1] == "widgets" and int(match[2]) == index:
            rest = match[3]
            target = next((name for suffix, name in WIDGET_FIELDS if rest.startswith(suffix)), "")
            if rest.startswith(".source.parameters."):
                message = f"parameter {rest.removeprefix('.source.parameters.')}: {message}"
        elif not match:
            target = where  # the form's own checks name its fields
        found.setdefault(target, message)
    return found


def placed_errors(error: ValidationFailed) -> dict[int, str]:
    """Errors naming a widget (``widgets[N]…``) by its index: shown at that widget's tools."""
    found: dict[int, str] = {}
    for item in error.errors or []:
        match = INDEXED.match(str(item.get("field", "")))
        if match and match[1] == "widgets":
            found.setdefault(int(match[2]), str(item.get("message", "invalid")))
    return found
