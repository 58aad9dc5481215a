"""Tables: the first rows and columns of the result, drawn by Vega-Lite as text, so that a table
renders to SVG and PNG like any chart.

A table chart is a picture of the result's beginning, not the data (the data table, the PDF's
table and the exports have that): it shows at most ``MAX_COLUMNS`` columns and ``MAX_ROWS`` rows
(``options.maxRows`` asks for fewer), and says under it what it left out ("First 25 of 1,234
rows, 12 of 30 columns"). Unbounded, a 30-column result made a 12 MB PNG in the workbook and a
PDF chart of 3-point text.

Values are formatted here, as the PDF's data table prints them: thousands separators, one
number of decimals per float column, hyphen-minus (Vega's number format would print U+2212),
``Yes``/``No``, dates ISO, times with seconds only when some have them (aware ones in UTC, and
saying so), and NULL as nothing. So ``chartData`` holds the display strings.

The spec numbers the rows with a window transform and puts one text column per result column
side by side (``hconcat``), each headed by the column's name; the note is the title, at the
bottom, of that row of columns.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts import frames
from broadsheet.charts.base import (
    DATA_NAME,
    MAX_TABLE_ROWS,
    SCHEMA,
    Chart,
    escape_field,
    is_numeric,
)
from broadsheet.kit import display

MAX_COLUMNS = 12
MAX_ROWS = MAX_TABLE_ROWS  # options.maxRows is at most this
MAX_DECIMALS = 6
_CHAR_PX = 7
_MIN_WIDTH, _MAX_WIDTH = 40, 320
_TOTAL_WIDTH = 900  # all columns together, in pixels; wider ones are cut with "…"
_ROW_PX = 18
_NOTE_COLOR = "#555"


def build(chart: Chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = chart.options
    # A column listed twice (columns: ["a", "a"]) is drawn once.
    every = list(dict.fromkeys(chart.table_columns or chart.table.column_names))
    names = every[:MAX_COLUMNS]
    table = frames.project(chart.table.slice(0, min(options.max_rows, MAX_ROWS)), names)
    texts = {name: _texts(frames.column(table, name)) for name in names}
    rows = [dict(zip(names, row, strict=True)) for row in zip(*texts.values(), strict=True)]

    row_field = "_row"
    while row_field in names:
        row_field = "_" + row_field
    widths = _widths(names, texts)
    columns = []
    for name, width in zip(names, widths, strict=True):
        numeric = is_numeric(frames.column(table, name).type)
        columns.append(
            {
                "width": width,
                "height": {"step": _ROW_PX},
                "title": {"text": name, "anchor": "end" if numeric else "start", "fontSize": 11},
                "mark": {"type": "text", "align": "right" if numeric else "left", "limit": width},
                "encoding": {
                    "x": {"value": width if numeric else 0},
                    "y": {"field": row_field, "type": "ordinal", "axis": None},
                    "text": {"field": escape_field(name), "type": "nominal", "title": name},
                },
            }
        )
    body: dict[str, Any] = {
        "transform": [{"window": [{"op": "row_number", "as": row_field}]}],
        "hconcat": columns,
        "spacing": 12,
    }
    note = _note(len(rows), chart.total_rows, len(names), len(every))
    if note:
        body["title"] = {
            "text": note,
            "orient": "bottom",
            "anchor": "start",
            "fontSize": 11,
            "fontWeight": "normal",
            "color": _NOTE_COLOR,
        }
    spec: dict[str, Any] = {"$schema": SCHEMA, "data": {"name": DATA_NAME}}
    if options.title:
        spec["title"] = options.title
    spec["vconcat"] = [body]
    spec["config"] = {"view": {"stroke": None}}
    return spec, rows


def _note(rows: int, total_rows: int, columns: int, total_columns: int) -> str:
    """What the table leaves out: "First 50 of 1,234 rows, 12 of 30 columns", or ""."""
    parts = []
    if rows < total_rows:
        parts.append(f"First {rows:,} of {total_rows:,} rows")
    if columns < total_columns:
        parts.append(f"{columns:,} of {total_columns:,} columns")
    return ", ".join(parts) + "." if parts else ""


def _widths(names: list[str], texts: dict[str, list[str]]) -> list[int]:
    """Each column's width in pixels from its longest text, header included; together at most
    ``_TOTAL_WIDTH``, shared in proportion (the mark's ``limit`` cuts what does not fit)."""
    natural = []
    for name in names:
        longest = max([len(name), *(len(t) for t in texts[name])])
        natural.append(max(_MIN_WIDTH, min(_MAX_WIDTH, longest * _CHAR_PX)))
    total = sum(natural)
    if total <= _TOTAL_WIDTH:
        return natural
    return [max(_MIN_WIDTH, w * _TOTAL_WIDTH // total) for w in natural]


def _texts(column: pa.ChunkedArray) -> list[str]:
    """One column's values as the PDF's data table prints them (see the module docstring)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
        column = column.cast(kind)
    if getattr(kind, "unit", None) == "ns" and pa.types.is_timestamp(kind):
        kind = pa.timestamp("us", tz=kind.tz)
        column = column.cast(kind, safe=False)
    try:
        values = column.to_pylist()
    except (ValueError, pa.ArrowException):  # e.g. nanoseconds nested in a list
        return [_json(v) for v in frames.to_rows(pa.table({"v": column}))]
    if pa.types.is_floating(kind):
        decimals = display.decimals(values, MAX_DECIMALS)
        return ["" if v is None else display.float_text(v, decimals) for v in values]
    if pa.types.is_decimal(kind):
        return ["" if v is None else display.decimal_text(v, max(kind.scale, 0)) for v in values]
    if pa.types.is_timestamp(kind):
        seconds = any(v is not None and (v.second or v.microsecond) for v in values)
        return ["" if v is None else _timestamp(v, seconds) for v in values]
    return ["" if v is None else _value(v) for v in values]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str):
        return value
    if isinstance(value, date | time) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"{len(value):,} bytes"
    return _json(frames.jsonable(value))


def _json(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _timestamp(value: datetime, seconds: bool) -> str:
    if value.tzinfo is None:
        return display.clock(value, seconds)
    return display.clock(value.astimezone(UTC), seconds) + " UTC"
