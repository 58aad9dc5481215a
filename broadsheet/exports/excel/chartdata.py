"""Native Excel charts for bar, line, pie and scatter visualizations, drawn from their data
written to the "Chart data" sheet.

What each chart shows is read from its Vega-Lite spec, the same one the browser draws
(``broadsheet/charts``): ``encoding.x``/``y``/``color`` (``theta`` and ``color`` for a pie),
their field names, titles and types. ``chartData`` is already bounded (≤ 5,000 points per
series), so it is written cell by cell. Each chart gets a block on the data sheet — its title
and axis titles, a header, its rows — and the chart refers to those cells, titles included,
so no text from a report ever becomes part of a formula. Bars and lines over categories are
pivoted to one column per series; lines over numbers or time, and scatters, become Excel
scatter charts so that each series keeps its own x values. Times are converted like the data
sheet's: to the report's zone, as local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from broadsheet.exports.base import in_zone, report_zone
from broadsheet.exports.excel import book as excel_book
from broadsheet.exports.excel import numbers
from broadsheet.exports.excel.book import Styles, write_text, write_value

CHART_DATA_SHEET = "Chart data"
MAX_SERIES = 255  # Excel's limit per chart
# Lines and scatters keep at most this many evenly spaced points in a workbook: as legible as
# the 5,000 of the web chart, and a fifth of the cells to write and compress.
MAX_XY_POINTS = 1_000
_UNESCAPE = re.compile(r"\\(.)")  # Vega-Lite field references escape . [ ] and \ with \


class ChartDataError(ValueError):
    """The visualization cannot be drawn as a native chart (the message says why)."""


@dataclass(frozen=True)
class Role:
    """One encoding channel of a spec: which field, its axis title, how it is typed."""

    field: str
    title: str | None
    temporal: bool
    discrete: bool


def role(encoding: dict[str, Any], key: str) -> Role | None:
    channel = encoding.get(key)
    if not isinstance(channel, dict) or not isinstance(channel.get("field"), str):
        return None
    title = channel.get("title")
    return Role(
        field=_UNESCAPE.sub(r"\1", channel["field"]),
        title=title if isinstance(title, str) and title else None,
        temporal=channel.get("type") == "temporal" or "timeUnit" in channel,
        discrete=channel.get("type") in ("nominal", "ordinal"),
    )


def _need(encoding: dict[str, Any], key: str) -> Role:
    found = role(encoding, key)
    if found is None:
        raise ChartDataError(f"its spec has no field for {key!r}")
    return found


@dataclass(frozen=True)
class Block:
    """Where one chart's data sits on the data sheet (0-based rows), and what it holds:
    the chart gets both the cell references and their values (Excel's cached copy, which
    XlsxWriter cannot read back from a constant_memory sheet)."""

    sheet: str
    top: int  # the "Chart / X axis / Y axis" labels; the titles are on the next row
    titles: tuple[str, str | None, str | None]
    header: list[str]
    rows: list[list[Any]]

    @property
    def first(self) -> int:
        return self.top + 3

    def title(self, index: int) -> dict[str, Any]:
        """0: the chart's title, 1: the x axis', 2: the y axis'; as ``set_title`` options."""
        return {"name": [self.sheet, self.top + 1, index], "data": [self.titles[index]]}

    def series(self, name: list[Any], x: int, y: int, rows: range | None = None) -> dict[str, Any]:
        """``add_series`` options: categories from column ``x``, values from column ``y``."""
        rows = rows if rows is not None else range(len(self.rows))
        top, bottom = self.first + rows.start, self.first + rows.stop - 1
        return {
            "name": name,
            "name_data": [self.label(name)],
            "categories": [self.sheet, top, x, bottom, x],
            "categories_data": [_cached(self.rows[i][x]) for i in rows],
            "values": [self.sheet, top, y, bottom, y],
            "values_data": [_cached(self.rows[i][y]) for i in rows],
        }

    def header_cell(self, col: int) -> list[Any]:
        return [self.sheet, self.first - 1, col]

    def data_cell(self, row: int, col: int) -> list[Any]:
        return [self.sheet, self.first + row, col]

    def label(self, cell: list[Any]) -> Any:
        """The value of a header or data cell of this block."""
        row, col = cell[1] - self.first, cell[2]
        return _cached(self.header[col] if row < 0 else self.rows[row][col])


def _cached(value: Any) -> Any:
    """A cell's value as a chart caches it: dates as the serial numbers (or text) of their
    cells, booleans as text."""
    if isinstance(value, date) and getattr(value, "tzinfo", None) is None:
        return numbers.serial(value)
    if isinstance(value, bool):
        return str(value).upper()
    return value


class ChartData:
    """The "Chart data" sheet, added on first use, and the charts drawn from it."""

    def __init__(self, book: Any, styles: Styles, zone: str, taken: set[str]) -> None:
        self.book, self.styles, self.zone, self.taken = book, styles, report_zone(zone), taken
        self.sheet: Any = None
        self.name = ""
        self.next_row = 0

    def chart(self, viz_type: str, spec: dict[str, Any], points: list[Any], title: str) -> Any:
        """A native chart of ``viz_type`` ("bar", "line", "pie", "scatter")."""
        encoding = spec.get("encoding")
        if not isinstance(encoding, dict):
            raise ChartDataError("its spec has no encoding")
        points = [p for p in points if isinstance(p, dict)]
        if not points:
            raise ChartDataError("it has no data")
        if viz_type == "pie":
            return self._pie(encoding, points, title)
        if viz_type in ("line", "scatter") and len(points) > MAX_XY_POINTS:
            step = len(points) / MAX_XY_POINTS
            points = [points[int(i * step)] for i in range(MAX_XY_POINTS - 1)] + [points[-1]]
        x, y = _need(encoding, "x"), _need(encoding, "y")
        series = role(encoding, "color")
        if viz_type == "bar":
            stacked = series is not None and encoding["y"].get("stack") is not None
            kind = {"type": "column", "subtype": "stacked"} if stacked else {"type": "column"}
            return self._categories(kind, (x, y, series), points, title)
        if viz_type == "line" and x.discrete:
            return self._categories({"type": "line"}, (x, y, series), points, title)
        if viz_type == "line":
            return self._scatter(
                {"type": "scatter", "subtype": "straight"}, (x, y, series), points, title
            )
        if series is not None and not series.discrete:
            series = None  # a colour scale over numbers is not a set of series
        return self._scatter({"type": "scatter"}, (x, y, series), points, title)

    def _pie(self, encoding: dict[str, Any], points: list[Any], title: str) -> Any:
        value, category = _need(encoding, "theta"), _need(encoding, "color")
        rows = [[self._value(p, category), self._value(p, value)] for p in points]
        block = self.block((title, None, None), [category.field, value.field], rows)
        chart = self.book.add_chart({"type": "pie"})
        chart.add_series(block.series(block.header_cell(1), 0, 1))
        chart.set_title(block.title(0))
        return chart

    def _categories(
        self,
        kind: dict[str, str],
        roles: tuple[Role, Role, Role | None],
        points: list[Any],
        title: str,
    ) -> Any:
        """Bars, or lines over categories: one row per x value, one column per series."""
        x, y, series = roles
        names, rows = self._pivot(x, y, series, points)
        block = self.block((title, x.title, y.title), [x.field, *names], rows)
        chart = self.book.add_chart(kind)
        for col in range(1, len(names) + 1):
            chart.add_series(block.series(block.header_cell(col), 0, col))
        self._finish(chart, block, roles, temporal_x=x.temporal)
        return chart

    def _scatter(
        self,
        kind: dict[str, str],
        roles: tuple[Role, Role, Role | None],
        points: list[Any],
        title: str,
    ) -> Any:
        """Scatters, and lines over numbers or time: each series has its own x values, so
        its rows are kept together, in their order."""
        x, y, series = roles
        groups: dict[Any, list[Any]] = {}
        for point in points:
            key = point.get(series.field) if series else None
            if key in groups or len(groups) < MAX_SERIES:
                groups.setdefault(key, []).append(point)
        rows = [
            [self._value(p, x), self._value(p, y)] + ([key] if series else [])
            for key, members in groups.items()
            for p in members
        ]
        header = [x.field, y.field] + ([series.field] if series else [])
        block = self.block((title, x.title, y.title), header, rows)
        chart = self.book.add_chart(kind)
        start = 0
        for members in groups.values():
            span = range(start, start + len(members))
            name = block.data_cell(start, 2) if series else block.header_cell(1)
            chart.add_series(block.series(name, 0, 1, span))
            start = span.stop
        self._finish(chart, block, roles, temporal_x=x.temporal)
        return chart

    def _pivot(
        self, x: Role, y: Role, series: Role | None, points: list[Any]
    ) -> tuple[list[str], list[list[Any]]]:
        """One row per x value (in order of appearance), one column per series value."""
        xs: dict[Any, int] = {}
        names: dict[Any, int] = {}
        values: dict[tuple[int, int], Any] = {}
        for point in points:
            key = point.get(series.field) if series else y.field
            if key not in names and len(names) >= MAX_SERIES:
                continue
            at = xs.setdefault(self._value(point, x), len(xs))
            values[(at, names.setdefault(key, len(names)))] = self._value(point, y)
        rows = [
            [value] + [values.get((i, j)) for j in range(len(names))] for value, i in xs.items()
        ]
        return ["(null)" if n is None else str(n) for n in names], rows

    def _finish(
        self, chart: Any, block: Block, roles: tuple[Role, Role, Role | None], *, temporal_x: bool
    ) -> None:
        x, y, series = roles
        chart.set_title(block.title(0))
        x_axis = block.title(1) if x.title else {}
        if temporal_x:
            timed = any(isinstance(r[0], datetime) and r[0].time() != time() for r in block.rows)
            x_axis["num_format"] = excel_book.DATETIME_FORMAT if timed else excel_book.DATE_FORMAT
        # Axis labels at the low edge of the plot, not where the other axis crosses zero:
        # there, with negative values, they would sit across the bars.
        chart.set_x_axis({**x_axis, "label_position": "low"})
        chart.set_y_axis({**(block.title(2) if y.title else {}), "label_position": "low"})
        if series is None:
            chart.set_legend({"none": True})

    def block(
        self,
        titles: tuple[str, str | None, str | None],
        header: list[str],
        rows: list[list[Any]],
    ) -> Block:
        """Write one chart's block: labels, titles, header, rows; then leave a blank row."""
        sheet = self._sheet()
        top = self.next_row
        for col, label in enumerate(("Chart", "X axis", "Y axis")):
            write_text(sheet, top, col, label, self.styles.header)
        for col, text in enumerate(titles):
            if text:
                write_text(sheet, top + 1, col, text)
        for col, text in enumerate(header):
            write_text(sheet, top + 2, col, text, self.styles.header)
        for offset, values in enumerate(rows, start=top + 3):
            for col, value in enumerate(values):
                write_value(sheet, offset, col, value, self.styles)
        self.next_row = top + 3 + len(rows) + 1
        return Block(self.name, top, titles, header, rows)

    def _sheet(self) -> Any:
        if self.sheet is None:
            self.name = excel_book.sheet_name(CHART_DATA_SHEET, self.taken)
            self.sheet = self.book.add_worksheet(self.name)
            self.sheet.set_column(0, 0, 24)
            self.sheet.set_column(1, 2, 18)
        return self.sheet

    def _value(self, point: dict[str, Any], which: Role) -> Any:
        value = point.get(which.field)
        if not which.temporal or not isinstance(value, str):
            return value
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return in_zone(moment, self.zone).replace(tzinfo=None)
