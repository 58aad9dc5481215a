"""Charts of results that broke them: column names Vega reads as access paths, tables of wide
results, NULLs and negative numbers in a table chart, points at the ends of a scatter's axes."""

from __future__ import annotations

import html
import math
import re
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
import vl_convert

from broadsheet.charts import build, to_png, to_svg, with_data
from broadsheet.charts.table import MAX_COLUMNS, MAX_ROWS
from broadsheet.exports.base import report_zone
from broadsheet.exports.pdf import _column_texts

# Dots and brackets are nested access in a Vega-Lite field, quotes start a quoted name, and a
# backslash escapes: each once made Vega fail ("Access path missing closing bracket").
NAMES = {"label": 'q"uote', "value": "a.b", "index": "x[0]", "other": "back\\slash", "low": "it's"}


def hostile_names() -> pa.Table:
    n = NAMES
    return pa.table(
        {
            n["label"]: ["north", "south", "east", "north"],
            n["value"]: [1.5, -2.0, 3.25, 4.0],
            n["index"]: pa.array([1, 2, 3, 4], pa.int64()),
            n["other"]: [5.0, 6.0, 7.5, 8.0],
            n["low"]: [0.5, -3.0, 2.5, 3.5],
        }
    )


MAPPINGS: dict[str, tuple[dict[str, str], str]] = {
    "table": ({}, "text"),
    "bar": ({"x": NAMES["label"], "y": NAMES["value"], "series": NAMES["index"]}, "rect"),
    "line": ({"x": NAMES["index"], "y": NAMES["value"], "series": NAMES["label"]}, "line"),
    "pie": ({"category": NAMES["label"], "value": NAMES["other"]}, "arc"),
    "scatter": (
        {"x": NAMES["value"], "y": NAMES["index"], "color": NAMES["label"], "size": NAMES["other"]},
        "symbol",
    ),
    "heatmap": ({"x": NAMES["label"], "y": NAMES["index"], "value": NAMES["value"]}, "rect"),
    "candlestick": (
        {
            "x": NAMES["index"],
            "open": NAMES["value"],
            "high": NAMES["other"],
            "low": NAMES["low"],
            "close": NAMES["value"],
        },
        "rect",
    ),
}


def scene(spec: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    """What Vega draws, laid out: vl-convert called here, as the renderer calls it."""
    fives = [v for v in vl_convert.get_vegalite_versions() if v.lstrip("v").startswith("5.")]
    version = max(fives, key=lambda v: tuple(int(p) for p in v.lstrip("v").split(".")))
    made = vl_convert.vegalite_to_scenegraph(with_data(spec, rows), vl_version=version)
    return made["scenegraph"]


def marks(node: Any, marktype: str) -> list[dict[str, Any]]:
    """Every item Vega draws of a mark type: none when a field reference reads nothing."""
    if not isinstance(node, dict):
        return []
    items = node.get("items", [])
    own = items if node.get("role") == "mark" and node.get("marktype") == marktype else []
    return own + [found for item in items for found in marks(item, marktype)]


def texts(svg: str) -> set[str]:
    return {html.unescape(t) for t in re.findall(r">([^<]*)</text>", svg)}


@pytest.mark.parametrize("viz_type", list(MAPPINGS))
def test_every_chart_kind_draws_columns_named_like_access_paths(viz_type: str) -> None:
    mapping, marktype = MAPPINGS[viz_type]
    viz: dict[str, Any] = {"type": viz_type, "title": "Hostile Names"}
    if mapping:
        viz["dataMapping"] = mapping
    out = build(viz, hostile_names())
    svg = to_svg(out["spec"], out["chartData"])  # no "Access path missing closing bracket"
    assert marks(scene(out["spec"], out["chartData"]), marktype)  # and the fields read data
    shown = " ".join(texts(svg))
    used = set(mapping.values()) if mapping else set(NAMES.values())
    for name in used - ({NAMES["other"]} if viz_type == "pie" else set()):
        assert name in shown, name  # titles, axes and legends show the name as it is
    assert "\\." not in shown and "\\[" not in shown and '\\"' not in shown


def wide(rows: int, columns: int) -> pa.Table:
    data: dict[str, Any] = {"key": [f"row {i}" for i in range(rows)]}
    for c in range(1, columns):
        data[f"col_{c:02d}"] = pa.array([(i - 3) * 1001 * c for i in range(rows)], pa.int64())
    return pa.table(data)


def test_a_table_chart_of_a_wide_result_shows_its_first_columns_and_rows_and_says_so() -> None:
    table = wide(1234, 30)
    out = build({"type": "table", "title": "Wide"}, table)
    headers = [c["title"]["text"] for c in out["spec"]["vconcat"][0]["hconcat"]]
    assert headers == table.column_names[:MAX_COLUMNS] and MAX_COLUMNS == 12
    assert len(out["chartData"]) == MAX_ROWS == 25
    svg = to_svg(out["spec"], out["chartData"])
    assert "First 25 of 1,234 rows, 12 of 30 columns." in texts(svg)
    assert "row 24" in texts(svg) and "row 25" not in texts(svg)
    assert "col_12" not in " ".join(texts(svg))
    width = float(re.search(r'<svg[^>]*\swidth="([0-9.]+)"', svg).group(1))  # type: ignore[union-attr]
    assert width < 1300
    assert len(to_png(out["spec"], out["chartData"])) < 4_000_000  # was 12.4 MB

    narrow = build({"type": "table", "options": {"maxRows": 10}}, wide(10, 3))
    svg = to_svg(narrow["spec"], narrow["chartData"])
    assert not any(t.startswith("First ") or " columns" in t for t in texts(svg))


def test_a_table_chart_prints_values_as_the_pdf_data_table_does() -> None:
    table = pa.table(
        {
            "n": pa.array([-1234, None, 5], pa.int64()),
            "x": pa.array([-0.5, 2.25, None], pa.float64()),
            "t": pa.array(["-", None, "null"], pa.string()),
            "b": pa.array([True, None, False], pa.bool_()),
        }
    )
    out = build({"type": "table"}, table)
    zone = report_zone("UTC")
    for name in table.column_names:
        pdf_cells, _ = _column_texts(table.column(name), zone)
        assert [row[name] for row in out["chartData"]] == pdf_cells, name
    drawn = [t for t in texts(to_svg(out["spec"], out["chartData"]))]
    assert "-1,234" in drawn and "-0.50" in drawn
    assert not any("\u2212" in t for t in drawn)  # hyphen-minus, as the data table prints
    assert drawn.count("null") == 1  # the text "null"; the NULLs are blank


def test_scatter_points_at_the_ends_of_the_axes_are_drawn_whole() -> None:
    table = pa.table({"x": [0.0, 3.0, 10.0], "y": [0.0, 7.0, 10.0], "s": [400.0, 100.0, 400.0]})
    for mapping in ({"x": "x", "y": "y"}, {"x": "x", "y": "y", "size": "s"}):
        out = build({"type": "scatter", "dataMapping": mapping}, table)
        graph = scene(out["spec"], out["chartData"])
        frame = graph["items"][0]
        points = marks(graph, "symbol")
        assert len(points) == 3
        for point in points:
            radius = math.sqrt(point["size"] / math.pi)
            assert radius <= point["x"] <= frame["width"] - radius, (mapping, point)
            assert radius <= point["y"] <= frame["height"] - radius, (mapping, point)


def test_a_table_chart_listing_a_column_twice_draws_it_once() -> None:
    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    out = build({"type": "table", "dataMapping": {"columns": ["a", "b", "a"]}}, table)
    drawn = out["spec"]["vconcat"][0]["hconcat"]
    assert [c["title"]["text"] for c in drawn] == ["a", "b"]
    assert out["chartData"] == [{"a": "1", "b": "x"}, {"a": "2", "b": "y"}]
    assert to_svg(out["spec"], out["chartData"]).count("<text") >= 4
