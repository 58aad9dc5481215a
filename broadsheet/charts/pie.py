"""Pie charts: one slice per ``category``, its ``value`` aggregated in Arrow (sum by default).

Bounding: the largest ``options.maxSlices`` slices (default 20, at most ``max_points``) are
kept; past that, the smallest are folded into one "Other" slice, aggregated over their rows (so a
mean stays a mean). More slices than that cannot be told apart by colour anyway.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts import frames
from broadsheet.charts.base import Chart, aggregate_title, base_spec, color_scale, escape_field

OTHER = "Other"


def build(chart: Chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = chart.options
    category, value = chart.columns["category"], chart.columns["value"]
    if options.aggregate != "count":
        chart.require_numbers("value")
    grouped = frames.aggregate(chart.table, [category], value, options.aggregate)
    grouped = grouped.sort_by([("v", "descending"), ("k0", "ascending")])
    value_name = value if value != category else f"{value} ({options.aggregate})"
    limit = min(options.max_slices, chart.max_points)
    kept = grouped if grouped.num_rows <= limit else grouped.slice(0, limit - 1)
    rows = frames.to_rows(kept.rename_columns([category, value_name]))
    if kept.num_rows < grouped.num_rows:
        rest = _rest(chart.table, category, value, kept.column("k0"), options.aggregate)
        labels = {row[category] for row in rows}
        label = OTHER if OTHER not in labels else f"{OTHER} ({grouped.num_rows - len(rows)} more)"
        rows.append({category: label, value_name: rest})

    field = escape_field(value_name)
    spec = base_spec(options, width=300, height=300)
    spec["mark"] = {"type": "arc"}
    spec["encoding"] = {
        "theta": {
            "field": field,
            "type": "quantitative",
            "stack": True,
            "title": options.y_label or aggregate_title(options.aggregate, value),
        },
        "color": {
            "field": escape_field(category),
            "type": "nominal",
            "title": options.x_label or category,
            "sort": {"field": field, "op": "sum", "order": "descending"},
            **color_scale(options),
        },
        "order": {"field": field, "type": "quantitative", "sort": "descending"},
        "tooltip": [
            {"field": escape_field(category), "type": "nominal", "title": category},
            {"field": field, "type": "quantitative", "title": value_name},
        ],
    }
    return spec, rows


def _rest(table: pa.Table, category: str, value: str, kept: pa.ChunkedArray, how: str) -> Any:
    """The ``how`` of ``value`` over the rows of every category not kept."""
    categories = frames.column(table, category)
    rest = frames.column(table, value).filter(
        pc.invert(pc.is_in(categories, value_set=kept.combine_chunks()))
    )
    if how == "count":
        return len(rest)
    if pa.types.is_decimal(rest.type):
        rest = rest.cast(pa.float64())
    return frames.jsonable(getattr(pc, how)(rest).as_py())
