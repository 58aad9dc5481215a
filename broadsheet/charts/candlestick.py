"""Candlesticks: per ``x``, a rule from ``low`` to ``high`` and a bar from ``open`` to ``close``,
green on a day that closed at or above its open, red otherwise.

Bounding: rows without an ``x`` are dropped and the rest sorted by ``x``; past ``max_points``
rows, runs of consecutive rows are merged into one candle each, as a coarser period would be
(first ``x`` and ``open``, highest ``high``, lowest ``low``, last ``close``) — dropping rows
instead would hide the very highs and lows a candlestick exists to show.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts import frames
from broadsheet.charts.base import Chart, base_spec, escape_field, field_def, tooltip

UP = "#06982d"
DOWN = "#ae1325"
_ROLES = (("x", "first"), ("open", "first"), ("high", "max"), ("low", "min"), ("close", "last"))


def build(chart: Chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = chart.options
    names = {key: chart.columns[key] for key, _ in _ROLES}
    chart.require_numbers("open", "high", "low", "close")
    table = frames.drop_invalid(frames.project(chart.table, list(names.values())), [names["x"]])
    table = table.sort_by([(names["x"], "ascending")])
    if table.num_rows > chart.max_points:
        table = _merge_runs(table, names, chart.max_points)
    rows = frames.to_rows(table)

    x_enc = field_def(names["x"], chart.arrow_type("x"), title=options.x_label)
    body: dict[str, Any] = {"type": "bar"}
    if "timeUnit" in x_enc:  # dates: each candle centred in its day, narrower than the day
        x_enc["bandPosition"] = 0.5
        body["width"] = {"band": 0.7}
    prices = ", ".join(dict.fromkeys(names[k] for k in ("open", "high", "low", "close")))
    y_title = prices if options.y_label is None else options.y_label
    is_up = f"datum[{json.dumps(names['open'])}] <= datum[{json.dumps(names['close'])}]"

    def price(key: str) -> dict[str, Any]:
        return {"field": escape_field(names[key]), "type": "quantitative", "title": names[key]}

    spec = base_spec(options)
    spec["encoding"] = {
        "x": x_enc,
        "y": {"type": "quantitative", "scale": {"zero": False}, "title": y_title or None},
        "color": {"condition": {"test": is_up, "value": UP}, "value": DOWN},
    }
    spec["layer"] = [
        {
            "mark": {"type": "rule"},
            "encoding": {
                "y": {"field": escape_field(names["low"])},
                "y2": {"field": escape_field(names["high"])},
            },
        },
        {
            "mark": body,
            "encoding": {
                "y": {"field": escape_field(names["open"])},
                "y2": {"field": escape_field(names["close"])},
                "tooltip": tooltip(x_enc, *(price(k) for k in ("open", "high", "low", "close"))),
            },
        },
    ]
    return spec, rows


def _merge_runs(table: pa.Table, names: dict[str, str], budget: int) -> pa.Table:
    run = math.ceil(table.num_rows / budget)
    bucket = pc.divide(pa.array(range(table.num_rows), pa.int64()), run)
    work = pa.table({"b": bucket, **{key: table.column(names[key]) for key, _ in _ROLES}})
    # Without threads, "first" and "last" follow row order, which is x order.
    merged = work.group_by(["b"], use_threads=False).aggregate(list(_ROLES))
    merged = merged.select([f"{key}_{how}" for key, how in _ROLES])
    merged = merged.rename_columns([names[key] for key, _ in _ROLES])
    return frames.project(merged, list(dict.fromkeys(names.values())))
