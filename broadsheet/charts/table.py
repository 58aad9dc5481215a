"""Tables: the first rows of the result (``options.maxRows``, default 100, at most 1,000), drawn
by Vega-Lite as text, so that a table renders to SVG and PNG like any chart.

The spec numbers the rows with a window transform and puts one text column per result column
side by side (``hconcat``), each headed by the column's name.
"""

from __future__ import annotations

from typing import Any

from broadsheet.charts import frames
from broadsheet.charts.base import (
    DATA_NAME,
    MAX_TABLE_ROWS,
    SCHEMA,
    Chart,
    escape_field,
    is_numeric,
)

_CHAR_PX = 7
_MIN_WIDTH, _MAX_WIDTH = 40, 320


def build(chart: Chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = chart.options
    names = chart.table_columns or list(dict.fromkeys(chart.table.column_names))
    limit = min(options.max_rows, MAX_TABLE_ROWS)
    table = frames.project(chart.table.slice(0, limit), names)
    rows = frames.to_rows(table)

    row_field = "_row"
    while row_field in names:
        row_field = "_" + row_field
    columns = []
    for name in names:
        numeric = is_numeric(frames.column(table, name).type)
        width = _width(name, [row[name] for row in rows])
        columns.append(
            {
                "width": width,
                "title": {"text": name, "anchor": "end" if numeric else "start", "fontSize": 11},
                "mark": {"type": "text", "align": "right" if numeric else "left", "limit": width},
                "encoding": {
                    "x": {"value": width if numeric else 0},
                    "y": {"field": row_field, "type": "ordinal", "axis": None},
                    "text": {
                        "field": escape_field(name),
                        "type": "quantitative" if numeric else "nominal",
                    },
                },
            }
        )
    spec: dict[str, Any] = {"$schema": SCHEMA, "data": {"name": DATA_NAME}}
    if options.title:
        spec["title"] = options.title
    spec["transform"] = [{"window": [{"op": "row_number", "as": row_field}]}]
    spec["hconcat"] = columns
    spec["spacing"] = 12
    spec["config"] = {"view": {"stroke": None}}
    return spec, rows


def _width(name: str, values: list[Any]) -> int:
    """A column's width in pixels from its longest text, header included."""
    longest = max([len(name), *(len(str(v)) for v in values if v is not None)])
    return max(_MIN_WIDTH, min(_MAX_WIDTH, longest * _CHAR_PX))
