"""Server-side rendering: chartData injected without touching the caller's spec, Vega-Lite 5
used whatever vl-convert's default, and nothing fetched from the network."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from broadsheet.charts import RenderError, to_png, to_svg, with_data
from broadsheet.charts.base import COLOR_SCHEMES
from broadsheet.charts.drawing import vegalite_version

SPEC: dict[str, Any] = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "data": {"name": "table"},
    "title": "Two Bars",
    "mark": {"type": "bar"},
    "encoding": {
        "x": {"field": "k", "type": "nominal"},
        "y": {"field": "a\\.b", "type": "quantitative", "title": "a.b"},
    },
}
ROWS = [{"k": "left", "a.b": 1}, {"k": "right", "a.b": 2}]


def test_data_is_injected_as_the_named_dataset_without_mutating_the_spec() -> None:
    before = copy.deepcopy(SPEC)
    bound = with_data(SPEC, ROWS)
    assert bound["datasets"] == {"table": ROWS}
    assert bound["data"] == {"name": "table"}
    assert before == SPEC
    svg = to_svg(SPEC, ROWS)
    png = to_png(SPEC, ROWS, scale=1.5)
    assert before == SPEC
    assert ">left</text>" in svg
    assert ">Two Bars</text>" in svg
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png != to_png(SPEC, ROWS, scale=1.0)


def test_the_compiler_is_vega_lite_5() -> None:
    assert vegalite_version().startswith("5.")


def test_a_broken_spec_is_a_render_error() -> None:
    broken = {**SPEC, "encoding": {"x": {"field": "k", "type": "sideways"}}}
    with pytest.raises(RenderError, match="conversion failed"):
        to_svg(broken, ROWS)


def test_external_data_is_refused_not_fetched() -> None:
    remote = {**SPEC, "data": {"url": "https://example.com/secrets.csv"}}
    with pytest.raises(RenderError, match="not allowed"):
        to_svg(remote, ROWS)


def test_every_colour_scheme_we_accept_renders() -> None:
    # An unknown scheme name fails inside Vega at render time, so only known names are passed on.
    for scheme in sorted(COLOR_SCHEMES):
        color = {"field": "k", "type": "nominal", "scale": {"scheme": scheme}}
        coloured = {**SPEC, "encoding": {**SPEC["encoding"], "color": color}}
        assert to_svg(coloured, ROWS).startswith("<svg"), scheme
