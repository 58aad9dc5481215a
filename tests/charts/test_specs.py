"""Each chart type from a small result: the spec encodes what the mapping asked for, compiles
with Vega-Lite 5, and renders to SVG and PNG on the server with its chartData."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
import vl_convert

from broadsheet.charts import MappingError, build, frames, is_known_type, to_png, to_svg, with_data
from broadsheet.charts.drawing import vegalite_version

DAYS = [date(2024, 1, d) for d in (2, 3, 4)]


def prices() -> pa.Table:
    """Two strategies over three days, with a dotted column name."""
    return pa.table(
        {
            "date": pa.array(DAYS * 2, pa.date32()),
            "strategy": ["Momentum"] * 3 + ["Value"] * 3,
            "return.pct": [1.5, -0.5, 2.0, 0.25, 0.75, None],
            "open": [10.0, 11.0, 10.5, 20.0, 19.0, 19.5],
            "high": [11.5, 11.2, 11.0, 20.5, 19.8, 20.1],
            "low": [9.8, 10.1, 10.2, 19.0, 18.7, 19.2],
            "close": [11.0, 10.5, 10.9, 19.0, 19.5, 20.0],
        }
    )


VIZ: dict[str, dict[str, Any]] = {
    "table": {"type": "table", "title": "All Rows"},
    "bar": {
        "type": "bar",
        "title": "Returns By Strategy",
        "dataMapping": {"x": "strategy", "y": "return.pct"},
        "options": {"yAxisLabel": "Return (%)"},
    },
    "line": {
        "type": "line",
        "title": "Performance Over Time",
        "dataMapping": {"x": "date", "y": "return.pct", "series": "strategy"},
        "options": {"showLegend": True, "yAxisLabel": "Return (%)"},
    },
    "pie": {
        "type": "pie",
        "title": "Share Of Opens",
        "dataMapping": {"x": "strategy", "y": "open"},
    },
    "scatter": {
        "type": "scatter",
        "title": "Open Against Close",
        "dataMapping": {"x": "open", "y": "close", "color": "strategy", "size": "high"},
    },
    "heatmap": {
        "type": "heatmap",
        "title": "Returns Heat",
        "dataMapping": {"x": "date", "y": "strategy", "value": "return.pct"},
    },
    "candlestick": {
        "type": "candlestick",
        "title": "Daily Candles",
        "dataMapping": {
            "x": "date",
            "open": "open",
            "high": "high",
            "low": "low",
            "close": "close",
        },
    },
}


def built(viz_type: str, **options: Any) -> dict[str, Any]:
    viz = {**VIZ[viz_type], "id": viz_type}
    if options:
        viz["options"] = {**viz.get("options", {}), **options}
    return build(viz, prices())


def mark_items(spec: dict[str, Any], rows: list[dict[str, Any]], marktype: str) -> int:
    """How many marks of a type Vega actually draws: zero when a field reference is wrong."""
    scene = vl_convert.vegalite_to_scenegraph(with_data(spec, rows), vl_version=vegalite_version())

    def count(node: Any) -> int:
        if not isinstance(node, dict):
            return 0
        items = node.get("items", [])
        own = len(items) if node.get("role") == "mark" and node.get("marktype") == marktype else 0
        return own + sum(count(item) for item in items)

    return count(scene["scenegraph"])


@pytest.mark.parametrize("viz_type", list(VIZ))
def test_every_type_compiles_and_renders_with_its_title(viz_type: str) -> None:
    out = built(viz_type)
    spec, rows = out["spec"], out["chartData"]
    assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v5.json"
    assert spec["data"] == {"name": "table"}
    assert "datasets" not in spec
    json.dumps(out, allow_nan=False)
    vega = vl_convert.vegalite_to_vega(with_data(spec, rows), vl_version=vegalite_version())
    assert {"name": "table", "values": rows} in vega["data"]
    svg = to_svg(spec, rows)
    assert svg.startswith("<svg")
    assert f">{VIZ[viz_type]['title']}</text>" in svg
    assert to_png(spec, rows, scale=1.0).startswith(b"\x89PNG\r\n\x1a\n")


def test_bar_sums_y_by_x_and_escapes_the_dotted_column() -> None:
    out = built("bar")
    encoding = out["spec"]["encoding"]
    assert out["spec"]["mark"] == {"type": "bar"}
    assert encoding["x"] == {"field": "strategy", "type": "nominal", "title": "strategy"}
    assert encoding["y"]["field"] == "return\\.pct"
    assert encoding["y"]["type"] == "quantitative"
    assert encoding["y"]["title"] == "Return (%)"
    assert out["chartData"] == [
        {"strategy": "Momentum", "return.pct": 3.0},
        {"strategy": "Value", "return.pct": 1.0},
    ]
    assert mark_items(out["spec"], out["chartData"], "rect") == 2
    assert "Return (%)" in to_svg(out["spec"], out["chartData"])


def test_bar_series_stacks_or_groups() -> None:
    viz = {"type": "bar", "dataMapping": {"x": "date", "y": "open", "series": "strategy"}}
    stacked = build(viz, prices())["spec"]["encoding"]
    assert stacked["color"]["field"] == "strategy"
    assert stacked["color"]["type"] == "nominal"
    assert stacked["y"]["stack"] == "zero"
    assert "xOffset" not in stacked
    assert stacked["x"] == {
        "field": "date",
        "type": "ordinal",
        "timeUnit": "utcyearmonthdate",
        "title": "date",
    }
    grouped = build({**viz, "options": {"stacked": False}}, prices())["spec"]["encoding"]
    assert grouped["y"]["stack"] is None
    assert grouped["xOffset"] == {"field": "strategy", "type": "nominal"}


@pytest.mark.parametrize(("how", "momentum"), [("mean", 1.0), ("count", 3), ("max", 2.0)])
def test_bar_aggregate_option(how: str, momentum: float) -> None:
    out = built("bar", aggregate=how, yAxisLabel=None)
    assert out["chartData"][0] == {"strategy": "Momentum", "return.pct": momentum}


def test_line_encodes_time_value_and_series_with_iso_dates() -> None:
    out = built("line")
    encoding = out["spec"]["encoding"]
    assert out["spec"]["mark"] == {"type": "line"}
    assert encoding["x"]["field"] == "date"
    assert encoding["x"]["type"] == "temporal"
    assert encoding["y"]["field"] == "return\\.pct"
    assert encoding["y"]["title"] == "Return (%)"
    assert encoding["color"]["field"] == "strategy"
    assert out["chartData"][0] == {"date": "2024-01-02", "return.pct": 1.5, "strategy": "Momentum"}
    assert len(out["chartData"]) == 5  # the row without a return is not a point
    assert mark_items(out["spec"], out["chartData"], "line") == 5  # vertices of both lines


def test_pie_folds_the_smallest_slices_into_other() -> None:
    table = pa.table({"sector": list("abcde"), "weight": [50, 20, 15, 10, 5]})
    viz = {"type": "pie", "dataMapping": {"category": "sector", "value": "weight"}}
    out = build({**viz, "options": {"maxSlices": 3}}, table)
    assert out["chartData"] == [
        {"sector": "a", "weight": 50},
        {"sector": "b", "weight": 20},
        {"sector": "Other", "weight": 30},
    ]
    encoding = out["spec"]["encoding"]
    assert out["spec"]["mark"] == {"type": "arc"}
    assert encoding["theta"]["field"] == "weight"
    assert encoding["color"]["field"] == "sector"
    assert len(build(viz, table)["chartData"]) == 5


def test_scatter_colours_and_sizes() -> None:
    encoding = built("scatter")["spec"]["encoding"]
    assert encoding["x"]["field"] == "open"
    assert encoding["x"]["type"] == "quantitative"
    assert encoding["y"]["field"] == "close"
    assert encoding["color"] == {"field": "strategy", "type": "nominal", "title": "strategy"}
    assert encoding["size"] == {"field": "high", "type": "quantitative", "title": "high"}


def test_heatmap_cells_by_two_categories() -> None:
    out = built("heatmap")
    encoding = out["spec"]["encoding"]
    assert out["spec"]["mark"] == {"type": "rect"}
    assert encoding["x"]["field"] == "date"
    assert encoding["x"]["type"] == "ordinal"
    assert encoding["y"] == {"field": "strategy", "type": "nominal", "title": "strategy"}
    assert encoding["color"]["field"] == "return\\.pct"
    assert encoding["color"]["type"] == "quantitative"
    assert {"date": "2024-01-04", "strategy": "Value", "return.pct": None} in out["chartData"]
    assert mark_items(out["spec"], out["chartData"], "rect") == 5


def test_candlestick_layers_a_wick_and_a_body_coloured_by_direction() -> None:
    out = built("candlestick")
    spec = out["spec"]
    wick, body = spec["layer"]
    assert wick["mark"] == {"type": "rule"}
    assert (wick["encoding"]["y"]["field"], wick["encoding"]["y2"]["field"]) == ("low", "high")
    assert body["mark"]["type"] == "bar"
    assert (body["encoding"]["y"]["field"], body["encoding"]["y2"]["field"]) == ("open", "close")
    assert spec["encoding"]["x"]["field"] == "date"
    assert spec["encoding"]["color"]["condition"]["test"] == 'datum["open"] <= datum["close"]'
    assert out["chartData"][0] == {
        "date": "2024-01-02",
        "open": 10.0,
        "high": 11.5,
        "low": 9.8,
        "close": 11.0,
    }
    assert mark_items(spec, out["chartData"], "rule") == 6


def test_table_draws_one_text_column_per_column() -> None:
    out = built("table")
    columns = prices().column_names
    drawn = out["spec"]["vconcat"][0]["hconcat"]
    assert [c["title"]["text"] for c in drawn] == columns
    fields = [c["encoding"]["text"]["field"] for c in drawn]
    assert fields[2] == "return\\.pct"
    assert len(out["chartData"]) == 6
    assert mark_items(out["spec"], out["chartData"], "text") >= 6 * len(columns)
    chosen = build({"type": "table", "dataMapping": {"columns": ["close", "date"]}}, prices())
    assert chosen["chartData"][0] == {"close": "11.0", "date": "2024-01-02"}
    assert len(build({"type": "table", "options": {"maxRows": 2}}, prices())["chartData"]) == 2


def test_chart_data_is_json_whatever_the_arrow_types() -> None:
    table = pa.table(
        {
            "day": pa.array([date(2024, 1, 2)], pa.date32()),
            "utc": pa.array([datetime(2024, 1, 2, 9, 30, tzinfo=UTC)], pa.timestamp("us", "UTC")),
            "ny": pa.array(
                [datetime(2024, 1, 2, 14, 30, tzinfo=UTC)], pa.timestamp("us", "America/New_York")
            ),
            "naive": pa.array([datetime(2024, 1, 2, 9, 30)], pa.timestamp("ns")),
            "at": pa.array([time(9, 30)], pa.time64("us")),
            "price": pa.array([Decimal("12.34")], pa.decimal128(10, 2)),
            "nan": [float("nan")],
            "inf": [float("inf")],
            "blob": pa.array([b"\x00\x01"], pa.binary()),
            "flag": [True],
        }
    )
    rows = frames.to_rows(table)
    assert rows == [
        {
            "day": "2024-01-02",
            "utc": "2024-01-02T09:30:00+00:00",
            "ny": "2024-01-02T09:30:00-05:00",
            "naive": "2024-01-02T09:30:00",
            "at": "09:30:00",
            "price": 12.34,
            "nan": None,
            "inf": None,
            "blob": None,
            "flag": True,
        }
    ]
    json.dumps(rows, allow_nan=False)
    # A table chart shows them as the PDF's data table prints them (times in UTC, saying so).
    assert build({"type": "table"}, table)["chartData"] == [
        {
            "day": "2024-01-02",
            "utc": "2024-01-02 09:30 UTC",
            "ny": "2024-01-02 14:30 UTC",
            "naive": "2024-01-02 09:30",
            "at": "09:30:00",
            "price": "12.34",
            "nan": "NaN",
            "inf": "∞",
            "blob": "2 bytes",
            "flag": "Yes",
        }
    ]


def test_options_title_legend_size_and_scheme() -> None:
    spec = built("line", showLegend=False, width=800, height=120, colorScheme="set2")["spec"]
    assert spec["title"] == "Performance Over Time"
    assert spec["config"] == {"legend": {"disable": True}}
    assert (spec["width"], spec["height"]) == (800, 120)
    assert spec["encoding"]["color"]["scale"] == {"scheme": "set2"}
    ignored = built("line", colorScheme="no-such-scheme", width="wide", frobnicate=1)["spec"]
    assert "scale" not in ignored["encoding"]["color"]
    assert ignored["width"] == 600
    legend = 'class="mark-group role-legend"'
    assert legend not in to_svg(spec, built("line")["chartData"])
    assert legend in to_svg(built("line")["spec"], built("line")["chartData"])


def test_a_bad_aggregate_or_a_non_numeric_value_names_the_field() -> None:
    with pytest.raises(MappingError) as caught:
        built("bar", aggregate="avg")
    assert caught.value.field == "options.aggregate"
    with pytest.raises(MappingError) as caught:
        build({"type": "bar", "dataMapping": {"x": "date", "y": "strategy"}}, prices())
    assert caught.value.field == "dataMapping.y"
    assert "needs numbers" in caught.value.message
    with pytest.raises(MappingError) as caught:
        build({"type": "line", "dataMapping": {"x": "date", "y": "retrun"}}, prices())
    assert caught.value.field == "dataMapping.y"


def test_known_types() -> None:
    assert is_known_type("candlestick")
    assert not is_known_type("donut")
