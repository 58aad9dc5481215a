"""What the result page shows, made from a stored result: its charts with their text
alternatives, and its rows as table cells with sort links.

A chart is the server's SVG (an ``<img>``) inside ``charts.js``'s markup, so vega-embed makes
it interactive where scripts run; its text alternative is a sentence made from the chart's
mapping ("A line chart of return over date, one line per strategy") and its data as a table
under "Show as table" (the first ``MAX_TABLE_POINTS`` points).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broadsheet.charts.mapping import MappingError, mapped_columns
from broadsheet.kit import display
from broadsheet.web.paging import link

MAX_TABLE_POINTS = 500
MAX_DECIMALS = 6  # as the PDF's data table
NUMERIC = frozenset({"integer", "number", "decimal"})
SORT_NAMES = {"asc": "ascending", "desc": "descending"}


@dataclass(frozen=True)
class ChartView:
    id: str
    title: str
    description: str
    error: str | None
    image_url: str
    spec_url: str
    columns: list[str]
    rows: list[list[str]]
    points: int  # chartData's length (the table shows at most MAX_TABLE_POINTS)


@dataclass(frozen=True)
class ColumnView:
    name: str
    kind: str  # how its cells are set: num (right-aligned), text (wraps) or plain
    sort: str | None  # "ascending" / "descending" when the table is sorted by it
    sort_url: str | None  # None when the result is too large to sort


def charts(
    result_id: uuid.UUID, stored: list[dict[str, Any]], definitions: list[dict[str, Any]]
) -> list[ChartView]:
    """One view per visualization the result holds; the report's current definitions give
    each its mapping (a chart since removed from the report is described by its type)."""
    mappings = {str(d.get("id")): d.get("dataMapping") for d in definitions}
    made = []
    for viz in stored:
        viz_id = str(viz.get("id"))
        kind = str(viz.get("type"))
        data = viz.get("data") or {}
        points = [row for row in data.get("chartData") or [] if isinstance(row, dict)]
        columns = list(dict.fromkeys(key for row in points[:MAX_TABLE_POINTS] for key in row))
        base = f"/results/{result_id}/charts/{viz_id}"
        made.append(
            ChartView(
                id=viz_id,
                title=str(viz.get("title") or viz_id),
                description=describe(kind, mappings.get(viz_id), len(points)),
                error=viz.get("error") or (None if "spec" in data else "it has no drawing"),
                image_url=f"{base}.svg",
                spec_url=f"{base}.json",
                columns=columns,
                rows=[[cell(row.get(c)) for c in columns] for row in points[:MAX_TABLE_POINTS]],
                points=len(points),
            )
        )
    return made


def describe(kind: str, mapping: Any, points: int) -> str:
    """A sentence saying what the chart shows, from its type and mapping."""
    try:
        roles = {m.key: m.column for m in mapped_columns(kind, mapping or {})}
    except MappingError:
        roles = {}
    shown = _SENTENCES.get(kind)
    try:
        sentence = shown(roles) if shown else f"A {kind} chart"
    except KeyError:  # a mapping that no longer fits: say what kind of chart it is
        sentence = f"A {kind} chart" if kind != "table" else "A table"
    count = f"{points:,} point{'' if points == 1 else 's'}" if kind != "table" else ""
    return f"{sentence}{f' ({count})' if count else ''}."


def _bar(r: dict[str, str]) -> str:
    return f"A bar chart of {r['y']} by {r['x']}" + _also(r, "series", ", split by {}")


def _line(r: dict[str, str]) -> str:
    return f"A line chart of {r['y']} over {r['x']}" + _also(r, "series", ", one line per {}")


def _scatter(r: dict[str, str]) -> str:
    return (
        f"A scatter plot of {r['y']} against {r['x']}"
        + _also(r, "color", ", coloured by {}")
        + _also(r, "size", ", sized by {}")
    )


def _also(roles: dict[str, str], key: str, text: str) -> str:
    return text.format(roles[key]) if key in roles else ""


_SENTENCES: dict[str, Callable[[dict[str, str]], str]] = {
    "bar": _bar,
    "line": _line,
    "scatter": _scatter,
    "pie": lambda r: f"A pie chart of {r['value']} by {r['category']}",
    "heatmap": lambda r: f"A heatmap of {r['value']} by {r['x']} and {r['y']}",
    "candlestick": lambda r: (
        f"A candlestick chart of {r['open']}, {r['high']}, {r['low']} and {r['close']}"
        f" over {r['x']}"
    ),
    "table": lambda r: "A table of the result's first rows",
}


def cell(value: Any) -> str:
    """A chart's data value as its table shows it (chartData holds JSON values)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def cells(rows: list[dict[str, Any]], declared: list[dict[str, Any]]) -> list[list[str]]:
    """A page of result rows (as the API sends them) as the table prints them, the way the
    PDF's data table does: integers with thousands separators, a float column with the
    fewest decimals (up to six) that show its values on this page, times in UTC, Yes/No."""
    columns = []
    for column in declared:
        name, kind = str(column["name"]), str(column.get("type"))
        values = [row.get(name) for row in rows]
        if kind == "number":
            places = display.decimals([v for v in values if isinstance(v, float)], MAX_DECIMALS)
            columns.append([_number(v, places) for v in values])
        elif kind == "timestamp":
            seconds = any(isinstance(v, str) and v[17:19] not in ("", "00") for v in values)
            columns.append([_timestamp(v, seconds) for v in values])
        else:
            columns.append([_plain(v) for v in values])
    return [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in rows]


def _number(value: Any, places: int) -> str:
    if isinstance(value, float):
        return display.float_text(value, places)
    return _plain(value)


def _timestamp(value: Any, seconds: bool) -> str:
    if not isinstance(value, str):
        return _plain(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return display.clock(moment, seconds)
    return display.clock(moment.astimezone(UTC), seconds) + " UTC"


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def columns(
    page_path: str,
    query: dict[str, Any],
    declared: list[dict[str, Any]],
    sort: str | None,
    direction: str,
    can_sort: bool,
) -> list[ColumnView]:
    """The table's headers: a click sorts by the column (ascending first, then the other
    way), from the first page."""
    made = []
    for column in declared:
        name = str(column["name"])
        current = SORT_NAMES[direction] if name == sort else None
        then = "desc" if name == sort and direction == "asc" else "asc"
        url = link(page_path, {**query, "sort": name, "dir": then, "page": None})
        kind = str(column.get("type"))
        shape = "num" if kind in NUMERIC else "text" if kind == "string" else "plain"
        made.append(ColumnView(name, shape, current, url if can_sort else None))
    return made
