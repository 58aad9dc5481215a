"""A visualization definition plus its data → a Vega-Lite spec and the bounded data it draws.

The spec names its data (``{"name": "table"}``) instead of embedding it, so a report can store
and send ``chartData`` once and both the browser and the server-side renderer inject it. One
module per chart type holds how that type is drawn and bounded; this module is their registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts import bar, candlestick, heatmap, line, pie, scatter, table
from broadsheet.charts.base import MAX_TABLE_ROWS, Chart, parse_options
from broadsheet.charts.mapping import MappingError, check_columns, viz_columns

DEFAULT_MAX_POINTS = 5000

Builder = Callable[[Chart], tuple[dict[str, Any], list[dict[str, Any]]]]

_BUILDERS: dict[str, Builder] = {
    "table": table.build,
    "bar": bar.build,
    "line": line.build,
    "pie": pie.build,
    "scatter": scatter.build,
    "heatmap": heatmap.build,
    "candlestick": candlestick.build,
}

CHART_TYPES: frozenset[str] = frozenset(_BUILDERS)


def is_known_type(viz_type: str) -> bool:
    return viz_type in CHART_TYPES


def build(
    viz: dict[str, Any],
    table: pa.Table,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    total_rows: int | None = None,
) -> dict[str, Any]:
    """``{"spec": <Vega-Lite v5 spec>, "chartData": <rows>}`` for one visualization.

    ``table`` is the query's whole result (for a table visualization, every column, or its
    first ``MAX_TABLE_ROWS`` rows with the result's ``total_rows`` given). However
    many rows it has, ``chartData`` is bounded: bar, pie and heatmap are aggregated by their
    categories, line, scatter and candlestick reduced to ``max_points`` points (per series for
    line), a table cut to its first rows; each chart type's module says exactly how.
    Raises ``MappingError`` when the mapping does not fit the type or the data.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    check_columns(viz, list(table.column_names))
    mapped = viz_columns(viz)
    viz_type = viz["type"]
    chart = Chart(
        type=viz_type,
        columns={m.key: m.column for m in mapped if m.key != "columns"},
        fields={m.key: m.field for m in mapped if m.key != "columns"},
        table_columns=[m.column for m in mapped if m.key == "columns"],
        table=table,
        options=parse_options(viz),
        max_points=max_points,
        total_rows=table.num_rows if total_rows is None else total_rows,
    )
    spec, rows = _BUILDERS[viz_type](chart)
    return {"spec": spec, "chartData": rows}


__all__ = [
    "CHART_TYPES",
    "DEFAULT_MAX_POINTS",
    "MAX_TABLE_ROWS",
    "MappingError",
    "build",
    "is_known_type",
]
