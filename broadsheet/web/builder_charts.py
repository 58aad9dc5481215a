"""The report builder's charts: which columns fit each role of each chart type, and each
chart drawn from the preview's rows.

A role's picker offers only the preview's columns that fit it (numbers for a bar's values,
numbers or dates for a scatter's axes…), as ``broadsheet.charts`` would accept them, plus the
column already chosen if it does not (so nothing typed is lost: the save says what is wrong).
Without a preview there are no columns to offer, and each role is a text field.

Charts are drawn by ``broadsheet.charts``: the spec and bounded data a run would store, then
the server's SVG from its renderer processes (never in this one), shown as an image.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from broadsheet.charts import MappingError, RenderError, build, to_svg
from broadsheet.web.builder_draft import ALIASES, CHART_TYPES, ChartDraft
from broadsheet.web.builder_preview import Column, Preview

log = logging.getLogger(__name__)
ANY = frozenset({"number", "date", "boolean", "text", "other"})
NUMBERS = frozenset({"number"})
NUMBERS_OR_DATES = frozenset({"number", "date"})
AGGREGATES = (
    ("sum", "Sum"),
    ("mean", "Average"),
    ("count", "Count of rows"),
    ("min", "Smallest"),
    ("max", "Largest"),
)
AGGREGATED = frozenset({"bar", "pie", "heatmap"})
TABLE_ROWS_SHOWN = 100  # a drawn chart's data, as a table beside it


@dataclass(frozen=True)
class Role:
    key: str
    label: str
    fits: frozenset[str]
    required: bool = True

    @property
    def hint(self) -> str:
        if self.fits == NUMBERS:
            return "A column of numbers."
        if self.fits == NUMBERS_OR_DATES:
            return "A column of numbers or dates."
        return ""


ROLES: dict[str, tuple[Role, ...]] = {
    "bar": (
        Role("x", "Categories (x axis)", ANY),
        Role("y", "Values (y axis)", NUMBERS),
        Role("series", "Series (colours)", ANY, required=False),
    ),
    "line": (
        Role("x", "X axis", ANY),
        Role("y", "Y axis", NUMBERS),
        Role("series", "Series (one line each)", ANY, required=False),
    ),
    "pie": (Role("category", "Slices", ANY), Role("value", "Slice sizes", NUMBERS)),
    "scatter": (
        Role("x", "X axis", NUMBERS_OR_DATES),
        Role("y", "Y axis", NUMBERS_OR_DATES),
        Role("color", "Colour", ANY, required=False),
        Role("size", "Point size", NUMBERS, required=False),
    ),
    "heatmap": (
        Role("x", "Columns (x axis)", ANY),
        Role("y", "Rows (y axis)", ANY),
        Role("value", "Cell values", NUMBERS),
    ),
    "candlestick": (
        Role("x", "Dates", ANY),
        Role("open", "Open", NUMBERS),
        Role("high", "High", NUMBERS),
        Role("low", "Low", NUMBERS),
        Role("close", "Close", NUMBERS),
    ),
    "table": (),
}


@dataclass(frozen=True)
class Picker:
    """One role's field: its choices (None: a text field, no preview to choose from)."""

    role: Role
    field: str
    choices: tuple[tuple[str, str], ...] | None


@dataclass(frozen=True)
class Drawing:
    """A chart drawn from the preview: an SVG as a data URL, its text alternative and data;
    or why it could not be drawn (``error``, at ``error_field`` if it is a field's)."""

    svg_url: str | None = None
    alt: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    error: str | None = None
    error_field: str | None = None


def settle_roles(chart: ChartDraft) -> None:
    """Keep only the roles of the chart's type, an alias taken as its role (a bar's x and y
    become a pie's slices and sizes): after a new type, a role the page no longer shows must
    not stay in the definition, where no field could correct it."""
    aliases = ALIASES.get(chart.type, {})
    keys = {role.key for role in ROLES.get(chart.type, ())}
    settled: dict[str, str] = {}
    for role, column in chart.mapping.items():
        key = aliases.get(role, role)
        if key in keys and column and not settled.get(key):
            settled[key] = column
    chart.mapping = settled


def pickers(chart: ChartDraft, index: int, columns: tuple[Column, ...]) -> list[Picker]:
    found = []
    for role in ROLES.get(chart.type, ()):
        field = f"visualizations[{index}].dataMapping.{role.key}"
        if not columns:
            found.append(Picker(role, field, None))
            continue
        choices = [(c.name, f"{c.name} ({c.kind})") for c in columns if c.kind in role.fits]
        chosen = chart.mapping.get(role.key, "")
        if chosen and chosen not in {value for value, _ in choices}:
            known = {c.name for c in columns}
            why = "does not fit" if chosen in known else "not in the preview"
            choices.append((chosen, f"{chosen} ({why})"))
        found.append(Picker(role, field, tuple(choices)))
    return found


def draw(chart: ChartDraft, index: int, preview: Preview | None) -> Drawing | None:
    """The chart from the preview's rows; None while there is no preview to draw from."""
    if preview is None or not preview.ok or preview.table is None:
        return None
    viz = chart.definition()
    if chart.dataset:
        return Drawing(error="This chart reads a named dataset; the preview shows the main query.")
    try:
        built = build(viz, preview.table)
        svg = to_svg(built["spec"], built["chartData"])
    except MappingError as exc:
        return Drawing(error=str(exc), error_field=f"visualizations[{index}].{exc.field}")
    except RenderError as exc:
        return Drawing(error=exc.detail)
    except Exception as exc:  # one chart's bug must not cost the page
        log.exception("chart preview %s failed", chart.id)
        return Drawing(error=f"The chart could not be drawn ({type(exc).__name__}).")
    data = built["chartData"][:TABLE_ROWS_SHOWN]
    names = tuple(dict.fromkeys(k for row in data for k in row))
    rows = tuple(tuple(_text(row.get(name)) for name in names) for row in data)
    encoded = base64.b64encode(svg.encode()).decode()
    return Drawing(f"data:image/svg+xml;base64,{encoded}", alt_text(chart), names, rows)


def alt_text(chart: ChartDraft) -> str:
    kind = dict(CHART_TYPES).get(chart.type, chart.type)
    m = chart.mapping
    described = {
        "bar": f"{m.get('y', '')} by {m.get('x', '')}",
        "line": f"{m.get('y', '')} over {m.get('x', '')}",
        "pie": f"{m.get('value', '')} by {m.get('category', '')}",
        "scatter": f"{m.get('y', '')} against {m.get('x', '')}",
        "heatmap": f"{m.get('value', '')} by {m.get('x', '')} and {m.get('y', '')}",
        "candlestick": f"open, high, low and close by {m.get('x', '')}",
        "table": "the first rows of the result",
    }.get(chart.type, "")
    title = chart.title.strip()
    return f"{kind} chart{': ' + title if title else ''} — {described}"


def _text(value: object) -> str:
    return "" if value is None else str(value)
