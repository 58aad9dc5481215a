"""Line charts: ``y`` over ``x``, one line per ``series``.

Bounding: rows without an ``x`` or ``y`` are dropped, each series is sorted by ``x`` and cut to
at most ``max_points`` points by uniform stride (evenly spaced rows, first and last kept). A
stride is deterministic and vectorised; it can step over a single-row spike, which LTTB would
keep, but LTTB is a Python loop over every row and the result can have millions. At most
``MAX_SERIES`` series are drawn, those with the most rows, so the total stays bounded too.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts import frames
from broadsheet.charts.base import Chart, base_spec, color_scale, field_def, tooltip

MAX_SERIES = 20


def build(chart: Chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = chart.options
    x, y, series = chart.columns["x"], chart.columns["y"], chart.columns.get("series")
    chart.require_numbers("y")
    table = frames.project(chart.table, [x, y] if series is None else [x, y, series])
    table = frames.drop_invalid(table, [x, y])
    table = _sample(table, x, series, chart.max_points)
    rows = frames.to_rows(table)

    x_enc = field_def(x, chart.arrow_type("x"), title=options.x_label)
    if x_enc["type"] == "nominal":
        x_enc["type"] = "ordinal"
    y_enc = {**field_def(y, chart.arrow_type("y"), title=options.y_label), "scale": {"zero": False}}
    encoding: dict[str, Any] = {"x": x_enc, "y": y_enc}
    shown = [x_enc, y_enc]
    if series is not None:
        color = {**field_def(series, chart.arrow_type("series")), "type": "nominal"}
        color.pop("scale", None)
        encoding["color"] = {**color, **color_scale(options)}
        shown.insert(1, color)
    encoding["tooltip"] = tooltip(*shown)
    spec = base_spec(options)
    spec["mark"] = {"type": "line"}
    spec["encoding"] = encoding
    return spec, rows


def _sample(table: pa.Table, x: str, series: str | None, budget: int) -> pa.Table:
    if series is None:
        table = table.sort_by([(x, "ascending")])
        return frames.take(table, frames.stride_positions(table.num_rows, budget))
    counts = _series_sizes(table, series)
    if counts.num_rows > MAX_SERIES:
        counts = counts.sort_by([("count_all", "descending"), ("s", "ascending")])
        kept = counts.slice(0, MAX_SERIES).column("s").combine_chunks()
        table = table.filter(pc.is_in(table.column(series), value_set=kept))
    keys = list(dict.fromkeys([series, x]))
    table = table.sort_by([(key, "ascending") for key in keys])
    # Sorted, each series is one run of rows; grouping without threads lists them in that order.
    positions: list[int] = []
    start = 0
    for size in _series_sizes(table, series).column("count_all").to_pylist():
        positions.extend(start + p for p in frames.stride_positions(size, budget))
        start += size
    return frames.take(table, positions)


def _series_sizes(table: pa.Table, series: str) -> pa.Table:
    work = pa.table({"s": table.column(series)})
    return work.group_by(["s"], use_threads=False).aggregate([([], "count_all")])
