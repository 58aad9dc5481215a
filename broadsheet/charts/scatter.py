"""Scatter plots: a point per row at (``x``, ``y``), coloured by ``color``, sized by ``size``.

Bounding: rows without an ``x`` or ``y`` are dropped, then at most ``max_points`` rows are kept
by a seeded random sample, in their original order. Unlike a stride, a random sample cannot
fall in step with data whose rows cycle through groups (every 4th row the same colour), and
the fixed seed keeps it deterministic: the same data always draws the same chart.
"""

from __future__ import annotations

import random
from typing import Any

from broadsheet.charts import frames
from broadsheet.charts.base import Chart, base_spec, color_scale, field_def, tooltip

SEED = 20240102
# Circle radii in pixels, rounded up: the default point (30 px²) and the largest of a size
# encoding (Vega-Lite's default size range ends at 361 px²), plus a pixel for the stroke.
PADDING_PX = 5
SIZED_PADDING_PX = 12


def build(chart: Chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = chart.options
    x, y = chart.columns["x"], chart.columns["y"]
    chart.require_numbers("x", "y", temporal=True)
    chart.require_numbers("size")
    extras = [chart.columns[key] for key in ("color", "size") if key in chart.columns]
    table = frames.drop_invalid(frames.project(chart.table, [x, y, *extras]), [x, y])
    if table.num_rows > chart.max_points:
        sampler = random.Random(SEED)  # noqa: S311 - sampling for a picture, not for secrecy
        positions = sorted(sampler.sample(range(table.num_rows), chart.max_points))
        table = frames.take(table, positions)
    rows = frames.to_rows(table)

    x_enc = {**field_def(x, chart.arrow_type("x"), title=options.x_label)}
    y_enc = {**field_def(y, chart.arrow_type("y"), title=options.y_label)}
    # The scales reach past the outermost points by the largest point's radius, so a point at
    # the end of an axis is drawn whole, inside the plot, not cut in half by its edge.
    padding = SIZED_PADDING_PX if "size" in chart.columns else PADDING_PX
    for enc in (x_enc, y_enc):
        enc["scale"] = {**enc.get("scale", {}), "zero": False, "padding": padding}
    encoding: dict[str, Any] = {"x": x_enc, "y": y_enc}
    shown = [x_enc, y_enc]
    if "color" in chart.columns:
        color = field_def(chart.columns["color"], chart.arrow_type("color"))
        color.pop("scale", None)
        encoding["color"] = {**color, **color_scale(options)}
        shown.append(color)
    if "size" in chart.columns:
        encoding["size"] = field_def(chart.columns["size"], chart.arrow_type("size"))
        shown.append(encoding["size"])
    encoding["tooltip"] = tooltip(*shown)
    spec = base_spec(options)
    spec["mark"] = {"type": "circle", "opacity": 0.7}
    spec["encoding"] = encoding
    return spec, rows
