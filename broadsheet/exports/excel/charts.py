"""The "Charts" sheet: each visualization of the result, in the report's order.

Bar, line, pie and scatter charts become native Excel charts (``excel_chartdata``), which
the reader can restyle and which stay linked to their data on the "Chart data" sheet. Excel
has no chart like our table, heatmap or candlestick, so those are inserted as the same PNG
the server renders for mail and PDF. A visualization that failed when the report ran, or
that cannot be drawn, is named with the reason instead. No visualizations, no sheet.
"""

from __future__ import annotations

import math
from io import BytesIO
from typing import Any

from broadsheet.charts import render
from broadsheet.exports.base import ExportContext
from broadsheet.exports.excel import book as excel_book
from broadsheet.exports.excel.book import Styles, write_text
from broadsheet.exports.excel.chartdata import ChartData, ChartDataError

CHARTS_SHEET = "Charts"
NATIVE_TYPES = frozenset({"bar", "line", "pie", "scatter"})
CHART_SIZE = {"x_scale": 1.5, "y_scale": 1.25}  # 720 by 360 pixels
CHART_ROWS = 19  # rows of 20 pixels that a chart covers, and one to spare
IMAGE_SCALE = 0.5  # the PNG is rendered at twice its size, for sharp screens
ROW_PIXELS = 20


def write_charts(book: Any, styles: Styles, ctx: ExportContext, taken: set[str]) -> str | None:
    """Add the Charts sheet (and "Chart data" if a chart is native); returns its name."""
    if not ctx.visualizations:
        return None
    name = excel_book.sheet_name(CHARTS_SHEET, taken)
    sheet = book.add_worksheet(name)
    sheet.set_column(0, 0, 16)
    data = ChartData(book, styles, ctx.timezone, taken)
    write_text(sheet, 0, 0, "Charts", styles.title)
    row = 2
    for viz in ctx.visualizations:
        row = _visualization(sheet, row, viz, data, styles)
    return name


def viz_title(viz: dict[str, Any]) -> str:
    """The visualization's title, else its spec's, else its id and type."""
    spec = (viz.get("data") or {}).get("spec") or {}
    for title in (viz.get("title"), spec.get("title") if isinstance(spec, dict) else None):
        if isinstance(title, str) and title.strip():
            return title
    return f"{viz.get('id') or 'chart'} ({viz.get('type') or 'chart'})"


def _visualization(
    sheet: Any, row: int, viz: dict[str, Any], data: ChartData, styles: Styles
) -> int:
    """Write one visualization from ``row`` on; returns the next free row."""
    title = viz_title(viz)
    write_text(sheet, row, 0, title, styles.header)
    if viz.get("error"):
        write_text(sheet, row + 1, 0, f"Not drawn: {viz['error']}")
        return row + 3
    payload = _mapping(viz.get("data"))
    spec = _mapping(payload.get("spec"))
    found = payload.get("chartData")
    points: list[dict[str, Any]] = (
        [p for p in found if isinstance(p, dict)] if isinstance(found, list) else []
    )
    try:
        if viz.get("type") in NATIVE_TYPES:
            chart = data.chart(str(viz["type"]), spec, points, title)
            sheet.insert_chart(row + 1, 0, chart, CHART_SIZE)
            return row + 1 + CHART_ROWS
        png = render.to_png(spec, points)
    except (ChartDataError, render.RenderError, TypeError, KeyError) as exc:
        # One chart that cannot be drawn (say, list values in its data) is named as such;
        # it does not cost the reader the million rows on the data sheet.
        write_text(sheet, row + 1, 0, f"Not drawn: {exc}")
        return row + 3
    image = {"image_data": BytesIO(png), "x_scale": IMAGE_SCALE, "y_scale": IMAGE_SCALE}
    sheet.insert_image(row + 1, 0, "chart.png", {**image, "description": title})
    return row + 2 + _image_rows(png)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _image_rows(png: bytes) -> int:
    """Rows the PNG covers at ``IMAGE_SCALE``, from its IHDR height."""
    height = int.from_bytes(png[20:24], "big") if png[12:16] == b"IHDR" else 400
    return math.ceil(height * IMAGE_SCALE / ROW_PIXELS)
