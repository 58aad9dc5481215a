"""A dashboard widget as HTML: what the embedded page and the web UI's dashboard page both
show of a widget's data, so the two never drift apart.

:func:`view` turns one widget of a ``DashboardDocument`` into the plain values a template
shows (its state, a table's cells, a metric's change in words, a chart's data as a table);
:func:`macros` is ``templates/_widget.html.j2``, whose ``body(w, interactive)`` draws the
widget's content by its state: loading, failed, unavailable, empty, or its data, with
"Updating: showing the previous data" while a newer result is made.

Everything of a widget is text to the templates (autoescape) but for three things inserted
as HTML: a text widget's ``html``, which the data service rendered from Markdown and
sanitised; a table's rows, whose cells are escaped here (a template loop per cell was most of
a dashboard page's time); and a chart's JSON for charts.js (:func:`script_json`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pydantic_core
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

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


SCRIPT_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027"))


def script_json(value: Any) -> Markup:
    """``value`` as the JSON of a ``<script type="application/json">`` (a chart's spec and
    points): written by the serializer the API's answers use, several times quicker than
    ``json.dumps`` behind Jinja's ``tojson`` (a chart of a thousand points took a millisecond
    of a page's time), with ``<``, ``>``, ``&`` and ``'`` escaped as ``tojson`` escapes them,
    so no text in the data can end the script."""
    text = pydantic_core.to_json(value).decode()
    for char, code in SCRIPT_ESCAPES:
        text = text.replace(char, code)
    return Markup(text)  # noqa: S704 (nothing left in it that HTML reads inside a script)


TEMPLATES.filters["script_json"] = script_json


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


def _cells(values: list[list[Any]], width: int) -> tuple[list[Markup], list[bool]]:
    """Each row's cells as HTML (its ``<td>``s, escaped), and which columns hold numbers.
    Made here rather than by a template loop per cell: a dashboard's tables hold a thousand
    cells, and Jinja's lookups and escaping per cell took longer than reading their data."""
    columns = [_column(column) for column in zip(*values, strict=True)]
    rows = [
        Markup("".join(row))  # noqa: S704 (_column escaped every cell's text)
        for row in zip(*(cells for cells, _ in columns), strict=True)
    ]
    return rows, [numeric for _, numeric in columns] or [False] * width


def _column(values: tuple[Any, ...]) -> tuple[list[str], bool]:
    """A column's cells, and whether it holds numbers: they share their decimals, so they
    line up on the right."""
    numbers = [is_number(v) for v in values]
    places = max((_decimals(v) for v, n in zip(values, numbers, strict=True) if n), default=None)
    cells = [
        # A number's text is digits, separators and a sign: nothing to escape.
        f'<td class="num">{plain(v, places)}</td>' if n else f"<td>{escape(plain(v))}</td>"
        for v, n in zip(values, numbers, strict=True)
    ]
    return cells, places is not None


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
    # A tuple, not ``int | float``: that builds a union on each call, and this runs per cell.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
