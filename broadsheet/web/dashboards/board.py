"""A dashboard as a page shows it: its widgets' data read as the API reads it
(``DashboardData`` prepare → hand_over → settle → assemble), the filter bar's fields, and
each widget's place on the grid and what makes htmx ask for it again.

A widget is asked for again (``GET /dashboards/{id}/widgets/{widgetId}?p.…``, the filter
bar's values included) when a filter that targets it changes, when the dashboard's
auto-refresh comes round (``dashboard:refresh``, sent by ``static/dashboards.js``), and every
2 s while its data is being made. Text widgets never change, so they are never asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import anyio.to_thread
from sqlalchemy.orm import Session

from broadsheet.auth.principal import Principal
from broadsheet.dashboards import filters, widget_html
from broadsheet.dashboards.data import DashboardData, Reading
from broadsheet.dashboards.schemas import DashboardDocument, FilterType
from broadsheet.dashboards.service import DashboardService
from broadsheet.errors import NotFound, ValidationFailed
from broadsheet.exports.base import in_zone, report_zone
from broadsheet.jobs.executors import Executor
from broadsheet.kit.ids import parse_id
from broadsheet.runtime import Runtime
from broadsheet.web.forms import FormState, field_id

PREFIX = filters.QUERY_PREFIX
POLL_SECONDS = 2
# The longest a page load waits for its widgets' jobs (only the no-script reloads ask).
MAX_WAIT_SECONDS = 10
# dashboards.css has .row-start-1 … and .row-span-… up to these; a widget further down is
# placed by the grid's flow (still in grid order), a taller one is as tall as the class.
MAX_ROW_CLASS = 60
MAX_SPAN_CLASS = 24
INPUT_TYPES = {
    FilterType.date: "date",
    FilterType.number: "number",
    FilterType.integer: "number",
    FilterType.boolean: "checkbox",
    FilterType.enum: "select",
    FilterType.string: "text",
}


@dataclass
class Board:
    """One read of a dashboard for a page: its document, the ``p.`` values asked for (as
    typed), and the errors of those that were refused (by ``p.<name>``)."""

    doc: DashboardDocument
    asked: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> uuid.UUID:
        return self.doc.id

    def query(self, **extra: str) -> str:
        """The page's filter values as a query string (``?p.since=…``), for links."""
        pairs = {
            f"{PREFIX}{k}": v for k, v in self.asked.items() if f"{PREFIX}{k}" not in self.errors
        }
        pairs.update(extra)
        return f"?{urlencode(pairs)}" if pairs else ""


def asked_filters(query: Mapping[str, Any]) -> dict[str, str]:
    """The ``p.<name>`` values of a query or form (the last of a repeated name: a checkbox
    after its hidden "false"); an empty one means the filter's default."""
    given = {k: str(v) for k, v in query.items()}
    return {k: v for k, v in filters.from_query(given).items() if v.strip() != ""}


def chart_url(dashboard_id: uuid.UUID) -> Any:
    def url(result_id: uuid.UUID, viz_id: str) -> str:
        return f"/dashboards/{dashboard_id}/charts/{result_id}/{quote(viz_id, safe='')}.svg"

    return url


async def read(
    session: Session,
    runtime: Runtime,
    executor: Executor | None,
    caller: Principal,
    dashboard_id: str,
    asked: dict[str, str],
    *,
    count: bool,
    wait: float = 0.0,
    only: str | None = None,
) -> Board:
    """Read the dashboard (or only the widget ``only``) with the filter values ``asked``.
    A refused value is left out of the read (its filter takes its default) and reported in
    ``Board.errors``. ``count``: a person opened the page (one access in the read model)."""
    data = DashboardData(session, runtime, executor)

    def plan() -> tuple[Reading, dict[str, str]]:
        service = DashboardService(session)
        did = parse_id(dashboard_id, "dashboard")
        row = service.read(caller.tenant_id, did) if count else service.get(caller.tenant_id, did)
        if only is not None and only not in {str(w["id"]) for w in row.widgets or []}:
            raise NotFound(f"no widget {only!r} in dashboard {did}")
        values, errors = dict(asked), dict[str, str]()
        try:
            filters.parse(row.parameters or [], values)
        except ValidationFailed as refused:
            for item in refused.errors or []:
                errors.setdefault(str(item.get("field")), str(item.get("message")))
            values = {k: v for k, v in values.items() if f"{PREFIX}{k}" not in errors}
        reading = data.prepare(
            row, values, requested_by=caller.user_id, only=None if only is None else {only}
        )
        data.hand_over(reading)
        return reading, errors

    reading, errors = await anyio.to_thread.run_sync(plan)
    await data.settle(reading, min(max(wait, 0.0), MAX_WAIT_SECONDS))
    doc = await anyio.to_thread.run_sync(data.assemble, reading, chart_url(reading.dashboard.id))
    return Board(doc, dict(asked), errors)


# --- what the templates show -------------------------------------------------------------------


def filter_form(board: Board) -> FormState:
    """The filter bar's values: what the read used, or what was typed where it was refused."""
    values: dict[str, str] = {}
    for flt in board.doc.parameters:
        name = f"{PREFIX}{flt.name}"
        if name in board.errors:
            values[name] = board.asked.get(flt.name, "")
            continue
        value = board.doc.filters.get(flt.name)
        values[name] = _text(value)
    return FormState(values, dict(board.errors))


def filter_fields(board: Board) -> list[dict[str, Any]]:
    titles = {
        w.id: w.title or widget_html.KIND_LABELS.get(str(w.type), "Widget")
        for w in board.doc.widgets
    }
    shown = []
    for flt in board.doc.parameters:
        name = f"{PREFIX}{flt.name}"
        targets = [titles.get(t["widgetId"], t["widgetId"]) for t in flt.targets]
        shown.append(
            {
                "name": name,
                "filter": flt.name,
                "id": field_id(name),
                "label": flt.label,
                "input": INPUT_TYPES[FilterType(flt.type)],
                "step": "1" if flt.type == FilterType.integer else "any",
                "options": [(o["value"], o["label"]) for o in flt.options or []],
                "blank": None if flt.default_value is not None else "Any",
                "hint": f"Changes: {', '.join(targets)}" if targets else "Changes no widget",
            }
        )
    return shown


def widget_views(board: Board, *, editing: bool) -> list[dict[str, Any]]:
    """Every widget in grid order, as ``dashboards/_widget.html.j2`` shows it."""
    doc = board.doc
    zone = report_zone(doc.timezone)
    listeners: dict[str, list[str]] = {}
    for flt in doc.parameters:
        for target in flt.targets:
            trigger = f"change from:#{field_id(PREFIX + flt.name)}"
            if trigger not in listeners.setdefault(target["widgetId"], []):
                listeners[target["widgetId"]].append(trigger)
    index = {w.id: i for i, w in enumerate(doc.widgets)}
    shown = []
    for widget in widget_html.in_grid_order(doc.widgets):
        # Its data as it is (view only reads it): a dump would copy every point and row.
        dumped = {**widget.model_dump(by_alias=True, exclude={"data"}), "data": widget.data}
        view = widget_html.view(dumped, f"widget-{widget.id}", zone)
        view["index"] = index[widget.id]
        view["classes"] = grid_classes(widget.position, widget.size)
        view["x"], view["y"] = widget.position["x"], widget.position["y"]
        view["url"] = f"/dashboards/{doc.id}/widgets/{widget.id}" + ("?edit=1" if editing else "")
        triggers: list[str] = []
        if widget.type != "text":
            if view["busy"]:
                triggers.append(f"every {POLL_SECONDS}s")
            triggers += listeners.get(widget.id, [])
            triggers.append("dashboard:refresh from:body")
        view["trigger"] = ", ".join(triggers)
        view["include"] = "#dashboard-filters" if doc.parameters else None
        shown.append(view)
    return shown


def grid_classes(position: Mapping[str, int], size: Mapping[str, int]) -> str:
    """The widget's place as classes (the policy allows no ``style=``): 1-based lines."""
    x, y = position["x"] + 1, position["y"] + 1
    classes = [f"col-start-{x}", f"col-span-{size['width']}"]
    if y <= MAX_ROW_CLASS:
        classes.append(f"row-start-{y}")
    classes.append(f"row-span-{min(size['height'], MAX_SPAN_CLASS)}")
    return " ".join(classes)


def updated(doc: DashboardDocument) -> dict[str, str]:
    zone = report_zone(doc.timezone)
    local = in_zone(doc.last_updated, zone)
    return {"iso": doc.last_updated.isoformat(), "text": f"{local:%Y-%m-%d %H:%M} ({doc.timezone})"}


def busy(doc: DashboardDocument) -> bool:
    return any(w.data.get("status") in widget_html.BUSY for w in doc.widgets)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
