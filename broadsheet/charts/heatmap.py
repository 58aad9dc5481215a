"""Heatmaps: a cell per (``x``, ``y``) pair, coloured by ``value`` aggregated in Arrow (sum by
default). Past ``max_points`` cells, the ``x`` categories with the largest total magnitude are
kept, each with all its cells, so every column drawn is complete.
"""

from __future__ import annotations

from typing import Any

from broadsheet.charts import frames
from broadsheet.charts.base import (
    Chart,
    aggregate_title,
    base_spec,
    color_scale,
    escape_field,
    field_def,
    tooltip,
)


def build(chart: Chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = chart.options
    x, y, value = chart.columns["x"], chart.columns["y"], chart.columns["value"]
    if options.aggregate != "count":
        chart.require_numbers("value")
    keys = [x, y]
    grouped = frames.aggregate(chart.table, keys, value, options.aggregate)
    grouped = frames.keep_largest(grouped, "k0", chart.max_points)
    value_name = value if value not in keys else f"{value} ({options.aggregate})"
    rows = frames.to_rows(grouped.rename_columns([*keys, value_name]))

    x_enc = field_def(x, chart.arrow_type("x"), discrete=True, title=options.x_label)
    y_enc = field_def(y, chart.arrow_type("y"), discrete=True, title=options.y_label)
    color = {
        "field": escape_field(value_name),
        "type": "quantitative",
        "title": aggregate_title(options.aggregate, value),
        **color_scale(options),
    }
    spec = base_spec(options)
    spec["mark"] = {"type": "rect"}
    spec["encoding"] = {
        "x": x_enc,
        "y": y_enc,
        "color": color,
        "tooltip": tooltip(x_enc, y_enc, color),
    }
    return spec, rows
