"""Bar charts: one bar per ``x`` (per ``x`` and ``series``), aggregated in Arrow.

Bars are stacked by series unless ``options.stacked`` is false, then grouped side by side.
Only the aggregated groups go to the browser; past ``max_points`` groups, the ``x`` categories
with the largest total magnitude are kept, whole.
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
    x, y, series = chart.columns["x"], chart.columns["y"], chart.columns.get("series")
    if options.aggregate != "count":
        chart.require_numbers("y")
    keys = [x] if series is None else [x, series]
    grouped = frames.aggregate(chart.table, keys, y, options.aggregate)
    grouped = frames.keep_largest(grouped, "k0", chart.max_points)
    value = y if y not in keys else f"{y} ({options.aggregate})"
    rows = frames.to_rows(grouped.rename_columns([*keys, value]))

    x_enc = field_def(x, chart.arrow_type("x"), discrete=True, title=options.x_label)
    y_title = aggregate_title(options.aggregate, y) if options.y_label is None else options.y_label
    y_enc: dict[str, Any] = {
        "field": escape_field(value),
        "type": "quantitative",
        "title": y_title or None,
        "stack": "zero" if options.stacked else None,
    }
    encoding: dict[str, Any] = {"x": x_enc, "y": y_enc}
    shown = [x_enc, y_enc]
    if series is not None:
        color = {**field_def(series, chart.arrow_type("series"), discrete=True)}
        color.pop("timeUnit", None)
        color["type"] = "nominal"
        encoding["color"] = {**color, **color_scale(options)}
        if not options.stacked:
            encoding["xOffset"] = {"field": color["field"], "type": "nominal"}
        shown.insert(1, color)
    encoding["tooltip"] = tooltip(*shown)
    spec = base_spec(options)
    spec["mark"] = {"type": "bar"}
    spec["encoding"] = encoding
    return spec, rows
