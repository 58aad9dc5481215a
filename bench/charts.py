"""Benchmark: what drawing charts in renderer processes costs, beside drawing in-process.

    .venv/bin/python bench/charts.py [--charts 200]

Broadsheet draws every server-side chart in a renderer process of its own (the renderer can
abort its process, see ``broadsheet/charts/renderers.py``). The baseline is vl-convert called
in this process, as Broadsheet did before. Both draw the same charts — a 12-bar chart and a
5,000-point line, each as SVG and as PNG — ``--charts`` times, after one warm-up chart each
(which starts the renderer process and vl-convert's JavaScript runtime). Printed: the median
milliseconds per chart of each, the ratio, and the first chart's start-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from broadsheet.charts import specs, to_png, to_svg, with_data
from broadsheet.charts.drawing import draw


def charts() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Two visualizations as generation builds them: their spec and chart data."""
    start = date(2010, 1, 1)
    bars = pa.table({"region": [f"Region {i}" for i in range(12)],
                     "total": [i * 1000.5 - 4000 for i in range(12)]})  # fmt: skip
    line = pa.table({"day": [start + timedelta(days=i) for i in range(5000)],
                     "value": [(i % 97) * 1.5 for i in range(5000)]})  # fmt: skip
    made = {
        "bar (12)": specs.build(
            {"type": "bar", "dataMapping": {"x": "region", "y": "total"}}, bars
        ),
        "line (5,000)": specs.build(
            {"type": "line", "dataMapping": {"x": "day", "y": "value"}}, line
        ),
    }
    return {name: (built["spec"], built["chartData"]) for name, built in made.items()}


def median_ms(draw_one: Callable[[], object], times: int) -> float:
    laps = []
    for _ in range(times):
        began = time.perf_counter()
        draw_one()
        laps.append(time.perf_counter() - began)
    return statistics.median(laps) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=200)
    args = parser.parse_args()

    began = time.perf_counter()
    bar_spec, bar_rows = charts()["bar (12)"]
    to_svg(bar_spec, bar_rows)
    print(f"first chart, renderer process started: {(time.perf_counter() - began) * 1000:.0f} ms")
    print(f"{'chart':<22}{'renderer process':>18}{'in-process':>13}{'ratio':>8}")
    for name, (spec, rows) in charts().items():
        for kind in ("svg", "png"):
            ours = to_svg if kind == "svg" else to_png

            def in_process() -> bytes:
                # What to_svg/to_png did before: the same spec, drawn by vl-convert here.
                return draw({"kind": kind, "spec": with_data(spec, rows), "scale": 2.0})  # noqa: B023

            in_process()  # the baseline's warm-up: vl-convert's runtime in this process
            apart = median_ms(lambda: ours(spec, rows), args.charts)  # noqa: B023
            here = median_ms(in_process, args.charts)
            label = f"{name} {kind}"
            print(f"{label:<22}{apart:>15.1f} ms{here:>10.1f} ms{apart / here:>7.2f}x")


if __name__ == "__main__":
    main()
