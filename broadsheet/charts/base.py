"""What every chart builder shares: the checked definition, its options, and the Vega-Lite
pieces (the named dataset, field references, encoding types) that all seven specs are made of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts.mapping import MappingError

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
DATA_NAME = "table"
AGGREGATES = ("sum", "mean", "count", "min", "max")
# A table chart draws at most this many rows (options.maxRows may ask for fewer): it is a
# picture of the result's beginning, and 1,000 rows of 30 columns made a 12 MB PNG. 25 rows
# fit a landscape PDF page at full size.
MAX_TABLE_ROWS = DEFAULT_TABLE_ROWS = 25
MAX_PIE_SLICES = 1000
DEFAULT_PIE_SLICES = 20
_SIZE_RANGE = (20, 4000)

# Vega's named colour schemes; any other name makes Vega fail at render time, so it is ignored.
_SCHEME_NAMES = """
    accent category10 category20 category20b category20c dark2 paired pastel1 pastel2 set1 set2
    set3 tableau10 tableau20 observable10 blues tealblues teals greens browns oranges reds purples
    warmgreys greys viridis magma inferno plasma cividis turbo bluegreen bluepurple goldgreen
    goldorange goldred greenblue orangered purplebluegreen purpleblue purplered redpurple
    yellowgreenblue yellowgreen yelloworangebrown yelloworangered darkblue darkgold darkgreen
    darkmulti darkred lightgreyred lightgreyteal lightmulti lightorange lighttealblue blueorange
    brownbluegreen purplegreen pinkyellowgreen purpleorange redblue redgrey redyellowblue
    redyellowgreen spectral rainbow sinebow
"""
COLOR_SCHEMES = frozenset(_SCHEME_NAMES.split())


@dataclass(frozen=True)
class ChartOptions:
    """``options`` read leniently: a known option of the wrong type is ignored like an unknown
    one, except ``aggregate``, whose typo would silently change the numbers."""

    title: str | None = None
    show_legend: bool = True
    x_label: str | None = None  # None: not given; "": hide the axis title
    y_label: str | None = None
    stacked: bool = True
    aggregate: str = "sum"
    width: int | None = None
    height: int | None = None
    color_scheme: str | None = None
    max_rows: int = DEFAULT_TABLE_ROWS
    max_slices: int = DEFAULT_PIE_SLICES


def parse_options(viz: dict[str, Any]) -> ChartOptions:
    raw = viz.get("options")
    options: dict[str, Any] = raw if isinstance(raw, dict) else {}
    title = viz.get("title") if isinstance(viz.get("title"), str) else options.get("title")
    aggregate = options.get("aggregate", "sum")
    if aggregate not in AGGREGATES:
        raise MappingError(
            "options.aggregate",
            f"aggregate must be one of: {', '.join(AGGREGATES)} (got {aggregate!r})",
        )
    scheme = options.get("colorScheme")
    return ChartOptions(
        title=title if isinstance(title, str) and title else None,
        show_legend=options.get("showLegend") is not False,
        x_label=_text(options.get("xAxisLabel")),
        y_label=_text(options.get("yAxisLabel")),
        stacked=options.get("stacked") is not False,
        aggregate=aggregate,
        width=_count(options.get("width"), *_SIZE_RANGE),
        height=_count(options.get("height"), *_SIZE_RANGE),
        color_scheme=scheme if scheme in COLOR_SCHEMES else None,
        max_rows=_count(options.get("maxRows"), 1, MAX_TABLE_ROWS) or DEFAULT_TABLE_ROWS,
        max_slices=_count(options.get("maxSlices"), 2, MAX_PIE_SLICES) or DEFAULT_PIE_SLICES,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return max(low, min(high, round(value)))


@dataclass(frozen=True)
class Chart:
    """A definition whose mapping has been checked against ``table``: ``columns`` maps each
    canonical role (``x``, ``value``…) to its column, ``fields`` to its path for errors."""

    type: str
    columns: dict[str, str]
    fields: dict[str, str]
    table_columns: list[str]
    table: pa.Table
    options: ChartOptions
    max_points: int
    total_rows: int  # the result's rows: ``table`` may hold only its first ones

    def arrow_type(self, key: str) -> pa.DataType:
        return self.table.schema.field(self.table.column_names.index(self.columns[key])).type

    def require_numbers(self, *keys: str, temporal: bool = False) -> None:
        """Raise ``MappingError`` unless each role's column holds numbers (or, with
        ``temporal``, dates and timestamps): summing strings is not a chart."""
        for key in keys:
            if key not in self.columns:
                continue
            kind = self.arrow_type(key)
            if not is_numeric(kind) and not (temporal and is_temporal(kind)):
                needs = "numbers or dates" if temporal else "numbers"
                raise MappingError(
                    self.fields[key],
                    f"column {self.columns[key]!r} holds {kind} values; "
                    f"a {self.type} chart's {key} needs {needs}",
                )


def is_numeric(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def is_temporal(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type))


def escape_field(name: str) -> str:
    """A column name as a Vega-Lite field reference. There ``.`` and ``[]`` mean nested access
    and a leading or bracketed quote starts a quoted name, so those characters (and the escaping
    backslash itself) are backslash-escaped; Vega reads the escaped name back as the original.
    Every chart kind refers to a column through this, and titles show the name unescaped."""
    for char in ("\\", ".", "[", "]", '"', "'"):
        name = name.replace(char, "\\" + char)
    return name


def field_def(
    column: str,
    arrow_type: pa.DataType,
    *,
    discrete: bool = False,
    title: str | None = None,
) -> dict[str, Any]:
    """An encoding for a column, typed from its Arrow type. ``discrete`` is for band positions
    (bar and heatmap axes): numbers become ordinal, dates ordinal by calendar day.

    JavaScript parses an ISO date as UTC midnight, so dates get a UTC day time unit (day ticks,
    day-wide bands); in local time a viewer west of Greenwich would see every date a day early.
    UTC timestamps are shown on a UTC scale; naive timestamps parse as local time and are shown
    as local time, which keeps their wall-clock value.
    """
    encoding: dict[str, Any] = {"field": escape_field(column)}
    if is_temporal(arrow_type):
        utc = getattr(arrow_type, "tz", None) in ("UTC", "Etc/UTC", "+00:00")
        if discrete:
            encoding["type"] = "ordinal"
            if pa.types.is_date(arrow_type):
                encoding["timeUnit"] = "utcyearmonthdate"
        else:
            encoding["type"] = "temporal"
            if pa.types.is_date(arrow_type):
                # Day ticks and day-wide bars, instead of ticks at noon between two dates.
                encoding["timeUnit"] = "utcyearmonthdate"
            elif utc:
                encoding["scale"] = {"type": "utc"}
    elif is_numeric(arrow_type):
        encoding["type"] = "ordinal" if discrete else "quantitative"
    else:
        encoding["type"] = "nominal"
    # An explicit title: Vega-Lite would otherwise show the escaped name, backslashes and all.
    encoding["title"] = column if title is None else (title or None)
    return encoding


def base_spec(options: ChartOptions, *, width: int = 600, height: int = 300) -> dict[str, Any]:
    """The top level every chart shares: schema, the named dataset, title, size, legend."""
    spec: dict[str, Any] = {"$schema": SCHEMA, "data": {"name": DATA_NAME}}
    if options.title:
        spec["title"] = options.title
    spec["width"] = options.width or width
    spec["height"] = options.height or height
    if not options.show_legend:
        spec["config"] = {"legend": {"disable": True}}
    return spec


def color_scale(options: ChartOptions) -> dict[str, Any]:
    return {"scale": {"scheme": options.color_scheme}} if options.color_scheme else {}


def aggregate_title(aggregate: str, column: str) -> str:
    return "Number of rows" if aggregate == "count" else f"{aggregate.capitalize()} of {column}"


def tooltip(*fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Tooltip entries for the browser (the server-side renderer ignores them)."""
    keep = ("field", "type", "title", "timeUnit")
    return [{k: v for k, v in f.items() if k in keep} for f in fields]
