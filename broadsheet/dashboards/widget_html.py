"""A dashboard widget as HTML: what the embedded page and the web UI's dashboard page both
show of a widget's data, so the two never drift apart.

:func:`view` turns one widget of a ``DashboardDocument`` into the plain values a template
shows (its state, a table's cells, a metric's change in words, a chart's data as a table);
:func:`macros` is ``templates/_widget.html.j2``, whose ``body(w, interactive)`` draws the
widget's content by its state: loading, failed, unavailable, empty, or its data, with
"Updating: showing the previous data" while a newer result is made.

Everything of a widget is text to the templates (autoescape); only a text widget's ``html``,
which the data service rendered from Markdown and sanitised, is inserted as HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from broadsheet.dashboards.schemas import WidgetStatus, WidgetWithData
from broadsheet.exports.base import in_zone

BUSY = (WidgetStatus.pending, WidgetStatus.refreshing)
KIND_LABELS = {"visualization": "Chart", "report": "Table", "metric": "Metric", "text": "Text"}
# A chart's "Show as table" lists at most this many of its points: a widget is a glance, and a
# dashboard of several 500-point tables took twice as long to serve as its data (every point
# is in the report's result page and exports).
MAX_CHART_ROWS = 100

TEMPLATES = Environment(
    loader=PackageLoader("broadsheet.dashboards", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def macros() -> Any:
    """The shared macros (``body``), callable from any Jinja environment's templates."""
    return TEMPLATES.get_template("_widget.html.j2").module


def in_grid_order(widgets: Iterable[WidgetWithData]) -> list[WidgetWithData]:
    """Top to bottom, then left to right: how a screen reader, a phone and a PDF read them."""
    return sorted(widgets, key=lambda w: (w.position["y"], w.position["x"]))


def view(widget: dict[str, Any], dom_id: str, zone: ZoneInfo) -> dict[str, Any]:
    """What the templates show of one widget (``widget`` as the document dumps it, by
    alias); ``dom_id`` is its element id, the prefix of its parts' ids."""
    data: dict[str, Any] = widget["data"]
    kind = str(widget["type"])
    generated = data.get("generatedAt")
    shown: dict[str, Any] = {
        "id": widget["id"],
        "dom_id": dom_id,
        "type": kind,
        "title": widget.get("title") or KIND_LABELS.get(kind, kind),
        "state": str(data.get("status")),
        "busy": data.get("status") in BUSY,
        "error": data.get("error"),
        "column": widget["position"]["x"] + 1,
        "row": widget["position"]["y"] + 1,
        "width": widget["size"]["width"],
        "height": widget["size"]["height"],
        "as_of": _as_of(generated, zone) if isinstance(generated, datetime) else None,
        "empty": False,
    }
    if kind == "visualization":
        shown["chart_url"] = data.get("svgUrl")
        points = [p for p in data.get("chartData") or [] if isinstance(p, dict)]
        shown["chart_table"] = _chart_table(points)
        shown["chart_payload"] = {"spec": data.get("spec"), "chartData": points}
        shown["empty"] = shown["state"] in ("ready", "refreshing") and not points
    elif kind == "report":
        shown.update(_table(data))
        shown["empty"] = shown["state"] in ("ready", "refreshing") and not data.get("rows")
    elif kind == "metric":
        shown["value"] = "—" if data.get("value") is None else plain(data["value"])
        shown["change"] = _change(data.get("change"), data.get("changePercent"))
        shown["empty"] = shown["state"] in ("ready", "refreshing") and data.get("value") is None
    elif kind == "text":
        shown["html"] = data.get("html") or ""
        shown["empty"] = not shown["html"].strip()
    return shown


def _as_of(generated: datetime, zone: ZoneInfo) -> dict[str, str]:
    local = in_zone(generated, zone)
    return {"iso": generated.isoformat(), "text": f"{local:%Y-%m-%d %H:%M} ({zone.key})"}


def _table(data: dict[str, Any]) -> dict[str, Any]:
    columns = [c for c in data.get("columns") or [] if isinstance(c, dict)]
    rows = data.get("rows") or []
    values = [[row.get(c["name"]) for c in columns] for row in rows]
    cells, numeric = _cells(values, len(columns))
    heads = [{"name": c["name"], "numeric": numeric[i]} for i, c in enumerate(columns)]
    total = int(data.get("totalRows") or len(rows))
    caption = f"First {len(rows):,} of {total:,} rows" if total > len(rows) else f"{total:,} rows"
    return {"columns": heads, "rows": cells, "caption": caption}


def _chart_table(points: list[dict[str, Any]]) -> dict[str, Any]:
    """A chart's points as a table: its text alternative, under "Show as table"."""
    names: list[str] = []
    for point in points[:50]:  # the points share their fields; a few show them all
        names.extend(k for k in point if k not in names)
    shown = points[:MAX_CHART_ROWS]
    cells, numeric = _cells([[p.get(n) for n in names] for p in shown], len(names))
    total = len(points)
    caption = (
        f"The chart's first {len(shown):,} of {total:,} points"
        if total > len(shown)
        else f"The chart's {total:,} points"
    )
    heads = [{"name": n, "numeric": numeric[i]} for i, n in enumerate(names)]
    return {"columns": heads, "rows": cells, "caption": caption, "points": total}


def _cells(values: list[list[Any]], width: int) -> tuple[list[list[dict[str, Any]]], list[bool]]:
    # A column's numbers share their decimals, so they line up on the right.
    places = [
        max((_decimals(v) for v in column if is_number(v)), default=None)
        for column in zip(*values, strict=True)
    ] or [None] * width
    cells = [[_cell(v, places[i]) for i, v in enumerate(row)] for row in values]
    return cells, [p is not None for p in places]


def _cell(value: Any, places: int | None) -> dict[str, Any]:
    if is_number(value):
        return {"text": plain(value, places), "numeric": True}
    return {"text": plain(value), "numeric": False}


def _decimals(value: float) -> int:
    """The decimals :func:`plain` shows of a number (four at most)."""
    if isinstance(value, int):
        return 0
    text = f"{value:.4f}".rstrip("0")
    return len(text) - text.index(".") - 1


def _change(change: Any, percent: Any) -> dict[str, str] | None:
    if not is_number(change):
        return None
    direction = "up" if change > 0 else "down" if change < 0 else "flat"
    arrow = {"up": "▲", "down": "▼", "flat": "■"}[direction]
    words = {"up": "up", "down": "down", "flat": "unchanged"}[direction]
    text = f"{arrow} {words} {_signed(change)}"
    if is_number(percent):
        text += f" ({_signed(percent, places=1)} %)"
    return {"direction": direction, "text": f"{text} since the previous result"}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _signed(value: float, places: int | None = None) -> str:
    return ("+" if value > 0 else "") + plain(value, places)


def plain(value: Any, places: int | None = None) -> str:
    """A value as a reader sees it: grouped digits, at most four decimals, dates as given."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.{4 if places is None else places}f}"
        return text.rstrip("0").rstrip(".") if "." in text and places is None else text
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
