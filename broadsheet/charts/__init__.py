"""Charts: report visualizations as Vega-Lite specs with bounded data, rendered on the server.

``specs.build`` turns a definition and its Arrow result into a spec plus ``chartData``;
``mapping`` checks definitions (on save and against the result's columns); ``render`` draws
specs to SVG and PNG with vl-convert.
"""

from __future__ import annotations

from broadsheet.charts.mapping import MappingError, check_columns, required_columns
from broadsheet.charts.render import RenderError, to_png, to_svg, with_data
from broadsheet.charts.specs import CHART_TYPES, build, is_known_type

__all__ = [
    "CHART_TYPES",
    "MappingError",
    "RenderError",
    "build",
    "check_columns",
    "is_known_type",
    "required_columns",
    "to_png",
    "to_svg",
    "with_data",
]
