"""PDF export: a report a person would print, set by Typst (``report.typ``).

How, and why so:

* **Data never becomes markup.** This module gathers everything the PDF shows into one JSON
  document, passed to the template through ``sys.inputs`` and placed there as strings; a report
  name or cell reading ``#panic("x")``, ``*bold*`` or ``$x$`` prints exactly that.
* **Values are formatted here**, where the Arrow types are known: thousands separators, one
  number of decimals per float column, decimals exact, times in the report's zone with the
  zone's abbreviation, ``Yes``/``No``, nulls empty.
* **Only the first rows and columns.** The table shows at most ``options.pdf_max_rows`` rows,
  read with ``rows.head``, the first ``MAX_COLUMNS`` columns, at most ``MAX_CELLS`` cells
  and at most ``MAX_TABLE_CHARS`` characters of cell text (so a wide result, or one of long
  text, shows fewer rows: Typst's memory grows with the cells and the text it sets); whatever
  is left out, the PDF says how many of how many, why, and where the rest is. Charts draw the
  visualization data as stored, computed from the whole result.
* **Never overlapping.** A table too wide for a landscape page even at the smallest font is set
  as column groups, one after another, each headed with the columns it holds ("Columns 13 to
  24 of 30", with an en dash) and, when it is narrow enough, the first column again as the
  rows' key. A short table is kept on one page, when it fits on one.
* **A failure is the client's answer, not a crash:** Typst's error (or its time running out)
  is a ``PdfError``, a 422 problem naming it; the other formats still have the data.
* **Charts stay vectors:** vl-convert renders each to SVG and Typst embeds the SVG, so lines
  are paths and labels selectable text, sharp at any zoom.
* **Typst runs in a child process.** Typst memoizes layout across compilations and keeps the
  caches of the last ten: over a gigabyte each for a 10,000-row table, which a long-running
  server would then hold for good. A ``python -c`` child gives it all back when it exits, for
  about 0.15 s of start-up.
* **Fonts** are the PyPI packages ``broadsheet.kit.fonts`` finds; system fonts are ignored, so
  the PDF is the same on every machine and any script has glyphs.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import re
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts.render import RenderError, to_svg
from broadsheet.errors import BroadsheetError
from broadsheet.exports.base import (
    MAX_PDF_MAX_ROWS,
    ExportContext,
    Progress,
    RowSource,
    in_zone,
    report_zone,
)
from broadsheet.kit import display, fonts

log = logging.getLogger(__name__)

TEMPLATE = "report.typ"
# The documents this package sets; each imports common.typ, the pieces they share.
TEMPLATES = frozenset({TEMPLATE, "dashboard.typ"})
COMPILE_TIMEOUT_SECONDS = 300
# Typst children one process runs at once: a 10,000-row table peaks near 1.2 GB in its child,
# and four job threads exporting at once should not take five.
MAX_TYPESETTERS = 2
_typesetters = threading.BoundedSemaphore(MAX_TYPESETTERS)
CHILD_MEMORY_BYTES = 4 * 2**30  # a 10,000-row table needs about 1.2 GB
# The table's bounds whatever pdf_max_rows says: 100,000 cells took Typst 1.5 GB and 13 s
# (10,000 rows of 10 columns); 300,000 ran out of the 4 GB above. A result with more columns
# shows its first MAX_COLUMNS, and so at least MAX_CELLS // MAX_COLUMNS rows.
MAX_COLUMNS = 100
MAX_CELLS = 100_000
# And the characters of the cells' text (as printed, each cell at most MAX_CELL_CHARS): 10,000
# rows of 10 columns of 1,000 characters (100 million) took the child past 3.4 GB and crashed
# Typst. 10 million cost the child 469 MB and 4 s as 1,000 rows of 10 such columns, and
# 1.8 GB and 9 s as 100,000 cells of 100 characters, the most cells allowed.
MAX_TABLE_CHARS = 10_000_000
SHORT_TABLE_ROWS = 20  # a table of at most this many rows is never split across pages
_CHILD = "from broadsheet.exports.pdf import main; main()"

# A4 with common.typ's 15 mm side margins, in points.
PORTRAIT_WIDTH_PT = 595.28 - 2 * 42.52
LANDSCAPE_WIDTH_PT = 841.89 - 2 * 42.52
PORTRAIT_MAX_COLUMNS = 8
BODY_PT = 8.0  # the data table's font size, shrunk down to MIN_BODY_PT for very wide tables
MIN_BODY_PT = 5.5
CELL_PADDING_PT = 8.0  # common.typ's cell inset, both sides
TEXT_EM = 0.55  # average advance of Noto Sans text, in em
FIGURE_EM = 0.6  # digits are 0.57 em; rounded up so numbers never wrap
HEADER_CHARS = 14  # a longer header wraps rather than widen its column
MIN_TEXT_CHARS, MAX_TEXT_CHARS = 6, 40
SQUEEZED_TEXT_CHARS = 18  # what a text column keeps, at least, when the font must shrink
LAYOUT_SAMPLE = 1000  # text cells looked at to size a column
MAX_CELL_CHARS = 1000  # longer cells end in "…"; the CSV has them whole
LONG_RUN, BREAK_EVERY = 24, 12
MAX_DECIMALS, SUMMARY_DECIMALS = 6, 4
SVG_PX_PT = 0.75  # Vega sizes in CSS pixels (96 per inch)
# A chart is never taller than this share of the page's text height, so it fits on a page
# with the "Charts" heading (an unbreakable block taller than the page would leave blank pages).
CHART_HEIGHT_SHARE = 0.85

Text = str | dict[str, Any]  # a string, or {"parts", "rtl"} for the template's val()


class PdfError(BroadsheetError):
    """Typst could not set the document; the message is its error.

    422, not 500 or 503: the same result fails the same way (Typst's limits or a bug met by
    this document, not a passing fault), so a retry would only spend another child and up to
    ``COMPILE_TIMEOUT_SECONDS``; the CSV, JSON and Excel exports of the result still work."""

    status = 422
    title = "Unprocessable Content"


class PdfExporter:
    name = "pdf"
    media_type = "application/pdf"
    extension = "pdf"

    def write(self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress) -> None:
        bounds = Bounds.of(ctx, len(rows.schema.names))
        # Text is cut in Arrow well past MAX_CELL_CHARS (room for what clean_text strips): a
        # thousand 200 kB cells are never held whole.
        head = rows.head(bounds.rows, text_chars=4 * MAX_CELL_CHARS)
        if head.num_rows > bounds.rows:  # a source may hand back whole batches
            head = head.slice(0, bounds.rows)
        if head.num_columns > bounds.columns:
            head = head.select(range(bounds.columns))
        document, shown = _document(ctx, head, bounds)
        out.write(typeset_in_child(document, ctx.generated_at))
        progress(shown)


EXPORTER = PdfExporter()


@dataclass(frozen=True)
class Bounds:
    """How much of the result the table shows: ``rows`` and ``columns`` at most, of
    ``total_columns``; ``by_cells`` when the cell cap, not ``pdf_max_rows``, set the rows;
    ``text_chars``, the characters of the rows shown, when ``MAX_TABLE_CHARS`` set them."""

    rows: int
    columns: int
    total_columns: int
    by_cells: bool
    text_chars: int | None = None

    @classmethod
    def of(cls, ctx: ExportContext, total_columns: int) -> Bounds:
        asked = min(max(ctx.options.pdf_max_rows, 0), MAX_PDF_MAX_ROWS)
        columns = min(total_columns, MAX_COLUMNS)
        by_cells = MAX_CELLS // max(columns, 1)
        return cls(min(asked, by_cells), columns, total_columns, by_cells < asked)


# The document ------------------------------------------------------------------------------


def _document(
    ctx: ExportContext, head: pa.Table, bounds: Bounds | None = None
) -> tuple[dict[str, Any], int]:
    """The template's document, and the number of rows its table shows."""
    if bounds is None:
        bounds = Bounds(head.num_rows, head.num_columns, head.num_columns, by_cells=False)
    zone = report_zone(ctx.timezone)
    generated = generated_text(ctx.generated_at, zone)
    table = table_block(ctx.columns, head, bounds, zone)
    first = table.layouts[0]
    parameters = [
        [template_text(clean_text(k)), template_text(parameter_text(v))]
        for k, v in ctx.parameters.items()
    ]
    return {
        "fonts": list(fonts.FALLBACK),
        "title": template_text(clean_text(ctx.report_name)),
        "title-plain": ctx.report_name,
        "description": _optional_text(ctx.report.get("description")),
        "facts": _facts(ctx, generated),
        "parameters": parameters,
        "summary": _summary(ctx, zone, table.bounds),
        "charts": _charts(ctx.visualizations, first.page_width, first.page_height),
        "table": {
            "note": template_text(_note(ctx, table.shown, table.has_times, zone, table.bounds)),
            "groups": table.groups,
        },
        "landscape": first.landscape,
        "footer": template_text(clean_text(f"{ctx.report_name} · generated {generated}")),
    }, table.shown


@dataclass(frozen=True)
class TableBlock:
    """A result's rows as the template's table (``groups``: one, or groups of columns), and
    what its note says of them."""

    groups: list[dict[str, Any]]
    layouts: list[Layout]  # of the groups; the first says the page's orientation
    shown: int  # rows shown
    chars: int  # characters of text in the rows shown
    bounds: Bounds  # with ``text_chars`` set when ``text_budget`` cut the rows
    has_times: bool


def table_block(
    columns_meta: Sequence[dict[str, str]],
    head: pa.Table,
    bounds: Bounds,
    zone: ZoneInfo,
    text_budget: int = MAX_TABLE_CHARS,
) -> TableBlock:
    """The table of ``head`` (the rows already read within ``bounds``): at most
    ``text_budget`` characters of text, laid out on a page or as column groups."""
    header, columns, kinds, has_times = _table_cells(columns_meta, head, zone, bounds.total_columns)
    shown, chars = _rows_within(columns, text_budget)
    if columns and shown < head.num_rows:
        columns = [column[:shown] for column in columns]
        bounds = replace(bounds, rows=shown, text_chars=chars)
    else:
        shown = head.num_rows
    layout = _layout(header, columns, kinds)
    layouts = [layout] if layout.fits else _column_groups(header, columns, kinds)
    groups = [_group(g, header, columns, kinds, bounds.total_columns, shown) for g in layouts]
    return TableBlock(groups, layouts, shown, chars, bounds, has_times)


def _rows_within(columns: list[list[str]], budget: int) -> tuple[int, int]:
    """How many of the first rows hold at most ``budget`` characters of text together, and
    how many they hold."""
    lengths = (map(len, column) for column in columns)
    totals = list(itertools.accumulate(map(sum, zip(*lengths, strict=True))))
    rows = bisect.bisect_right(totals, budget)
    return rows, totals[rows - 1] if rows else 0


def _facts(ctx: ExportContext, generated: str) -> list[list[Text]]:
    facts: list[list[Text]] = [["Generated", generated], ["Rows", f"{ctx.row_count:,}"]]
    for label, key in (("Category", "category"), ("Report version", "version")):
        if ctx.report.get(key) not in (None, ""):
            facts.append([label, template_text(clean_text(str(ctx.report[key])))])
    return facts


def _group(
    layout: Layout,
    header: list[str],
    columns: list[list[str]],
    kinds: list[str],
    total_columns: int,
    rows: int,
) -> dict[str, Any]:
    """One table of the document: all the columns, or one group of them (``layout.columns``)."""
    chosen = layout.columns if layout.columns is not None else list(range(len(header)))
    cells = [cell for row in zip(*(columns[i] for i in chosen), strict=True) for cell in row]
    texts = [template_text(cell) for cell in cells]
    heading = None
    if layout.columns is not None:
        own = [i for i in chosen if i not in layout.repeated]
        heading = f"Columns {own[0] + 1:,}\u2013{own[-1] + 1:,} of {total_columns:,}"
        if layout.repeated:
            heading += f", with column {header[0]} repeated"
    return {
        "heading": None if heading is None else template_text(clean_text(heading)),
        "header": [template_text(header[i], HEADER_CHARS) for i in chosen],
        "numeric": [kinds[i] == NUMBER for i in chosen],
        "widths": layout.widths,
        "font-size": layout.font_pt,
        "cells": texts,
        "plain": all(isinstance(t, str) for t in texts),
        "short": rows <= SHORT_TABLE_ROWS,
    }


def _note(ctx: ExportContext, shown: int, has_times: bool, zone: ZoneInfo, bounds: Bounds) -> str:
    total = max(ctx.row_count, shown)
    if total == 0:
        note = "The result has no rows."
    elif shown < total:
        note = f"Showing {shown:,} of {total:,} rows"
        if bounds.text_chars is not None:
            note += (
                f" (a PDF table holds at most {MAX_TABLE_CHARS:,} characters of text: "
                f"the {shown:,} rows shown have {bounds.text_chars:,})"
            )
        elif bounds.by_cells and shown == bounds.rows:
            note += (
                f" (a PDF table holds at most {MAX_CELLS:,} cells: "
                f"{bounds.rows:,} rows of {bounds.columns:,} columns)"
            )
        note += f". The full data is in {ctx.full_data_hint}."
    else:
        note = f"All {total:,} rows." if total > 1 else "1 row."
    if bounds.columns < bounds.total_columns:
        note += (
            f" Columns 1\u2013{bounds.columns:,} of {bounds.total_columns:,} shown; "
            f"{ctx.full_data_hint} has all of them."
        )
    return f"{note} Times are in {zone.key}." if has_times and shown else note


def _summary(ctx: ExportContext, zone: ZoneInfo, bounds: Bounds) -> dict[str, Any] | None:
    """Count, nulls, min, max, sum and mean per column, as the result stored them (JSON-safe:
    dates and times as ISO strings, big decimals as strings); of the columns the table shows."""
    if not ctx.summary:
        return None
    kinds = {c["name"]: c.get("type", "string") for c in ctx.columns}
    names = [n for n in kinds if n in ctx.summary] + [n for n in ctx.summary if n not in kinds]
    note = None
    if len(names) > bounds.columns:
        note = f"The first {bounds.columns:,} of {len(names):,} columns."
        names = names[: bounds.columns]
    keys = ("count", "nulls", "min", "max", "sum", "mean")
    cells: list[Text] = []
    for name in names:
        stats = ctx.summary[name]
        cells.append(template_text(clean_text(name)))
        for key in keys:
            kind = "integer" if key in ("count", "nulls") else kinds.get(name, "string")
            kind = "number" if key == "mean" else kind
            cells.append(template_text(_summary_value(kind, stats.get(key), zone)))
    header = ["Column", "Count", "Nulls", "Min", "Max", "Sum", "Mean"]
    return {
        "header": header,
        "numeric": [False] + [True] * 6,
        "cells": cells,
        "note": note,
        "short": len(names) <= SHORT_TABLE_ROWS,
    }


def _charts(
    visualizations: Sequence[dict[str, Any]], page_width: float, page_height: float
) -> list[dict[str, Any]]:
    """Each visualization as SVG, or the reason it cannot be drawn (stored with the result, or
    found now): one broken chart should not cost the reader the rest of the report."""
    charts: list[dict[str, Any]] = []
    for viz in visualizations:
        title = str(viz.get("title") or viz.get("id") or viz.get("type") or "Chart")
        data = viz.get("data")
        error = viz.get("error")
        if not error and not (isinstance(data, dict) and isinstance(data.get("spec"), dict)):
            error = "no chart data was stored with this result"
        if not error:
            assert isinstance(data, dict)
            try:
                svg = to_svg(data["spec"], list(data.get("chartData") or []))
            except RenderError as exc:
                error = str(exc)
            else:
                width = chart_width(svg, page_width, page_height * CHART_HEIGHT_SHARE)
                charts.append({"svg": svg, "width": width, "alt": title})
                continue
        charts.append(
            {
                "title": template_text(clean_text(title)),
                "error": template_text(clean_text(str(error))),
            }
        )
    return charts


def chart_width(svg: str, page_width: float, max_height: float) -> float:
    """The width to set a chart at: its own, shrunk to fit the page's width and, keeping its
    proportions, ``max_height``."""
    opening = svg[:2000]
    width = re.search(r"<svg\b[^>]*?\swidth=\"([0-9.]+)", opening)
    height = re.search(r"<svg\b[^>]*?\sheight=\"([0-9.]+)", opening)
    natural = float(width.group(1)) * SVG_PX_PT if width else page_width
    shown = min(natural, page_width)
    if width and height and float(height.group(1)) > 0:
        tall = float(height.group(1)) * SVG_PX_PT * shown / natural
        if tall > max_height:
            shown *= max_height / tall
    return round(shown, 2)


# The data table ----------------------------------------------------------------------------


def _table_cells(
    columns_meta: Sequence[dict[str, str]], head: pa.Table, zone: ZoneInfo, total_columns: int
) -> tuple[list[str], list[list[str]], list[str], bool]:
    """Headers (from ``columns_meta``, the result's stored columns, when they match the
    result's ``total_columns``, by position: a query may return two columns of one name), each
    shown column's display strings and kind, and whether any column holds times."""
    names = [str(c.get("name", "")) for c in columns_meta][: head.num_columns]
    if len(columns_meta) != total_columns or len(names) != head.num_columns:
        names = [str(n) for n in head.schema.names]
    columns: list[list[str]] = []
    kinds: list[str] = []
    for index in range(head.num_columns):
        cells, kind = _column_texts(head.column(index), zone)
        columns.append(cells)
        kinds.append(kind)
    has_times = any(pa.types.is_timestamp(t) and t.tz for t in head.schema.types)
    return [clean_text(n) for n in names], columns, kinds, has_times


# A column's kind: NUMBER is right-aligned and never wraps, FIXED (dates, times, booleans)
# never wraps, TEXT wraps and shares what width is left.
NUMBER, FIXED, TEXT = "number", "fixed", "text"


def _column_texts(column: pa.ChunkedArray, zone: ZoneInfo) -> tuple[list[str], str]:
    """One column's values as display strings, and its kind."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
        column = column.cast(kind)
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        kind = pa.timestamp("us", tz=kind.tz)
        column = column.cast(kind, safe=False)
    values = column.to_pylist()
    if pa.types.is_integer(kind):
        return [_blank_or(v, lambda n: f"{n:,}") for v in values], NUMBER
    if pa.types.is_floating(kind):
        decimals = display.decimals(values, MAX_DECIMALS)
        return [_blank_or(v, lambda x: display.float_text(x, decimals)) for v in values], NUMBER
    if pa.types.is_decimal(kind):
        return [
            _blank_or(v, lambda d: display.decimal_text(d, max(kind.scale, 0))) for v in values
        ], NUMBER
    if pa.types.is_timestamp(kind):
        seconds = any(v is not None and (v.second or v.microsecond) for v in values)
        return [_blank_or(v, lambda t: _timestamp(t, zone, seconds)) for v in values], FIXED
    fixed = pa.types.is_temporal(kind) or pa.types.is_boolean(kind)
    return [_blank_or(v, value_text) for v in values], FIXED if fixed else TEXT


def _blank_or(value: Any, shown: Callable[[Any], str]) -> str:
    return "" if value is None else shown(value)


@dataclass(frozen=True)
class Layout:
    landscape: bool
    font_pt: float
    widths: list[dict[str, float]]  # {"pt": x} fixed or {"fr": x} a share of what is left
    fits: bool = True  # False: even at MIN_BODY_PT the columns overlap (see _column_groups)
    columns: list[int] | None = None  # a column group: the columns it shows, by position
    repeated: tuple[int, ...] = ()  # of those, the ones repeated from the first group

    @property
    def page_width(self) -> float:
        return LANDSCAPE_WIDTH_PT if self.landscape else PORTRAIT_WIDTH_PT

    @property
    def page_height(self) -> float:
        """The text height: A4 less common.typ's 15 mm top and 18 mm bottom margins."""
        return (PORTRAIT_WIDTH_PT if self.landscape else LANDSCAPE_WIDTH_PT) + 2 * 42.52 - 93.54


def _layout(
    header: list[str], columns: list[list[str]], kinds: list[str], *, landscape: bool = False
) -> Layout:
    """Page orientation, table font size and column widths, estimated from character counts.

    A column's natural width is counted in characters (East Asian wide ones as two): numbers,
    dates, times and booleans, which never wrap, by their longest value; text by the 90th
    percentile of its values' longest lines, kept between 6 and 40 characters so one long
    comment does not take the page; a header counts whole up to 14 characters, a longer one by
    its longest word (it wraps between words and after underscores), at most 14.
    Characters become points at 0.55 em (0.6 for numbers) plus cell padding, at 8 pt.

    The page is portrait A4 when the table has at most 8 columns and its natural width fits,
    else landscape. Columns that never wrap get their natural width; text columns share the
    rest of the page in proportion to theirs, and wrap. If the unwrapping columns plus 18
    characters per text column do not fit, the font shrinks until they do, down to 5.5 pt. A
    table without text, or with more unwrapping columns than fit even so, shares the whole width
    in proportion to the natural widths.

    ``fits`` is false when the columns, at their least and at 5.5 pt, are still wider than a
    landscape page: their cells would overlap, so the table is set as ``_column_groups``.
    """
    chars = _all_natural_chars(header, columns, kinds)
    every = range(len(chars))

    def width(i: int, size: float, least: bool = False) -> float:
        return _width(chars[i], kinds[i], size, least)

    natural = sum(width(i, BODY_PT) for i in every)
    landscape = landscape or len(chars) > PORTRAIT_MAX_COLUMNS or natural > PORTRAIT_WIDTH_PT
    available = LANDSCAPE_WIDTH_PT if landscape else PORTRAIT_WIDTH_PT
    size = BODY_PT
    least = sum(width(i, BODY_PT, least=True) for i in every)
    if least > available:
        padding = CELL_PADDING_PT * len(chars)
        size = round(max(MIN_BODY_PT, BODY_PT * (available - padding) / (least - padding)), 2)
    fits = sum(width(i, size, least=True) for i in every) <= available + 0.5
    fixed = sum(width(i, size) for i in every if kinds[i] != TEXT)
    if TEXT not in kinds or fixed > available:
        return Layout(landscape, size, [{"fr": width(i, size)} for i in every], fits)
    unit = {TEXT: "fr"}
    widths = [{unit.get(kinds[i], "pt"): width(i, size)} for i in every]
    return Layout(landscape, size, widths, fits)


def _all_natural_chars(header: list[str], columns: list[list[str]], kinds: list[str]) -> list[int]:
    return [
        _natural_chars(h, c, wraps=k == TEXT)
        for h, c, k in zip(header, columns, kinds, strict=True)
    ]


def _width(chars: int, kind: str, size: float, least: bool = False) -> float:
    """A column's width in points for ``chars`` characters at ``size`` (``least``: a text
    column squeezed to ``SQUEEZED_TEXT_CHARS``, wrapping the rest)."""
    count = min(chars, SQUEEZED_TEXT_CHARS) if least and kind == TEXT else chars
    em = FIGURE_EM if kind == NUMBER else TEXT_EM
    return round(count * em * size + CELL_PADDING_PT, 2)


def _column_groups(header: list[str], columns: list[list[str]], kinds: list[str]) -> list[Layout]:
    """A table too wide for one landscape page as groups of columns that each fit at
    ``BODY_PT``, in order, each set like a table of its own (``_layout``) on landscape pages.
    The first column comes again at the start of every later group, so each row can be told
    by its key, when it takes at most a quarter of the page."""
    chars = _all_natural_chars(header, columns, kinds)

    def least(i: int) -> float:
        return _width(chars[i], kinds[i], BODY_PT, least=True)

    key = (0,) if least(0) <= LANDSCAPE_WIDTH_PT / 4 else ()
    groups: list[list[int]] = [[]]
    used = 0.0
    for i in range(len(chars)):
        if len(groups[-1]) > len(key) and used + least(i) > LANDSCAPE_WIDTH_PT:
            groups.append(list(key))
            used = sum(least(k) for k in key)
        groups[-1].append(i)
        used += least(i)
    layouts = []
    for number, group in enumerate(groups):
        repeated = key if number > 0 else ()
        part = _layout(
            [header[i] for i in group],
            [columns[i] for i in group],
            [kinds[i] for i in group],
            landscape=True,
        )
        layouts.append(Layout(True, part.font_pt, part.widths, True, group, repeated))
    return layouts


def _natural_chars(header: str, cells: list[str], *, wraps: bool) -> int:
    head = _line_width(header)
    if head > HEADER_CHARS:
        words = (_line_width(word) for word in _HEADER_BREAKS.split(header) if word)
        head = min(max(words, default=0), HEADER_CHARS)
    if not wraps:
        return max([head, 2, *(_line_width(c) for c in cells)])
    widths = sorted(_line_width(c) for c in cells[:LAYOUT_SAMPLE]) or [0]
    body = widths[int(0.9 * (len(widths) - 1))]
    return max(MIN_TEXT_CHARS, min(max(body, head), MAX_TEXT_CHARS))


_HEADER_BREAKS = re.compile(r"\s+|(?<=_)")  # where a header may wrap (see template_text)


def _line_width(text: str) -> int:
    if text.isascii():
        return max(len(line) for line in text.split("\n")) if "\n" in text else len(text)
    return max(sum(_char_width(ch) for ch in line) for line in text.split("\n"))


def _char_width(ch: str) -> int:
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


# Values ------------------------------------------------------------------------------------

_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x09\x0e-\x1f\x7f-\x84\x86-\x9f]")
# Runs of Latin, Greek, Cyrillic or Armenian without spaces (combining marks excluded), which
# may need break opportunities: CJK breaks between any two characters already, and a break
# inside an Arabic word would cut its joining.
_UNBROKEN = re.compile("[!-~\u00a1-\u02ff\u0370-\u0482\u048a-\u058f]+")
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u0870-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


def clean_text(text: str, limit: int | None = MAX_CELL_CHARS) -> str:
    """Text as it should print: newlines as newlines (none leading or trailing), tabs and other
    control characters as spaces, at most ``limit`` characters (``None``: all)."""
    if not (text.isascii() and text.isprintable()):
        text = _CONTROLS.sub(" ", _NEWLINES.sub("\n", text)).strip("\n")
    return text if limit is None or len(text) <= limit else text[:limit] + "…"


def template_text(text: str, longest: int = LONG_RUN) -> Text:
    """A string for the template, or ``{"parts", "rtl"}`` when it needs more than a string:

    * a run of at least ``longest`` characters without a break opportunity (an identifier, a
      hash, a snake_case header) is cut into parts the template joins with zero-width boxes,
      where a line may break, so it wraps inside its cell instead of running across the next
      one; unlike a zero-width space, a box leaves nothing in the text layer, so the run still
      copies and searches whole;
    * text in a right-to-left script gets that base direction (its first strong character
      decides, as HTML's ``dir="auto"``), so its punctuation lands on the right side;
    * text with Arabic letters is set without the ``ccmp`` feature (see ``val`` in common.typ).
    """
    if text.isascii() and len(text) < longest:
        return text
    parts = _breakable_parts(text, longest)
    ascii_only = text.isascii()
    rtl = not ascii_only and _starts_right_to_left(text)
    if len(parts) == 1 and not rtl and (ascii_only or not _ARABIC.search(text)):
        return text
    return {"parts": parts, "rtl": rtl}


def _breakable_parts(text: str, longest: int) -> list[str]:
    """``text`` cut inside each unbroken run of at least ``longest`` characters: after every
    underscore, and wherever ``BREAK_EVERY`` characters have gone by since the last cut."""
    parts: list[str] = []
    last = 0
    for run in _UNBROKEN.finditer(text):
        if run.end() - run.start() < longest:
            continue
        since = run.start()
        for end in range(run.start() + 1, run.end()):  # a cut before text[end]
            if text[end - 1] == "_" or end - since >= BREAK_EVERY:
                parts.append(text[last:end])
                last = since = end
    parts.append(text[last:])
    return parts


def _optional_text(value: Any) -> Text | None:
    return template_text(clean_text(str(value))) if value not in (None, "") else None


def _starts_right_to_left(text: str) -> bool:
    for ch in text:
        direction = unicodedata.bidirectional(ch)
        if direction == "L":
            return False
        if direction in ("R", "AL"):
            return True
    return False


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, datetime):  # naive: a wall-clock time of no stated zone
        return display.clock(value, value.second != 0 or value.microsecond != 0)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"{len(value):,} bytes"
    if isinstance(value, list | dict | tuple):
        return clean_text(json.dumps(value, ensure_ascii=False, default=str))
    return clean_text(str(value))


def parameter_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(parameter_text(v) for v in value)
    return "" if value is None else value_text(value)


def _timestamp(value: datetime, zone: ZoneInfo, seconds: bool) -> str:
    local = in_zone(value, zone)
    name = local.tzname()  # none for a naive time
    return f"{display.clock(local, seconds)} {name}" if name else display.clock(local, seconds)


def _summary_value(kind: str, value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    try:
        if kind == "integer" and isinstance(value, int):
            return f"{value:,}"
        if kind in ("integer", "number") and isinstance(value, int | float):
            number = float(value)
            return display.float_text(number, display.decimals([number], SUMMARY_DECIMALS))
        if kind == "decimal":
            return f"{Decimal(str(value)):,f}"
        if kind == "timestamp" and isinstance(value, str):
            stamp = datetime.fromisoformat(value)
            return _timestamp(stamp, zone, bool(stamp.second or stamp.microsecond))
    except (ValueError, InvalidOperation):
        pass
    return value_text(value)


def generated_text(moment: datetime, zone: ZoneInfo) -> str:
    local = in_zone(moment, zone)
    name = local.tzname() or ""
    where = name if name == zone.key else f"{name} ({zone.key})"
    return f"{local:%Y-%m-%d %H:%M} {where}"


# Typesetting -------------------------------------------------------------------------------


def typeset_in_child(
    document: dict[str, Any], generated_at: datetime, template: str = TEMPLATE
) -> bytes:
    """The PDF, set by Typst from ``template`` (a file of this package) in a child process
    (see the module docstring for why)."""
    if template not in TEMPLATES:
        raise ValueError(f"no template {template!r}")
    payload = json.dumps(document, ensure_ascii=False, allow_nan=False).encode()
    stamp = int(generated_at.timestamp())
    command = [sys.executable, "-c", _CHILD, str(stamp), template]
    try:
        with _typesetters:
            done = subprocess.run(  # noqa: S603 - our interpreter and code; data goes on stdin
                command, input=payload, capture_output=True, timeout=COMPILE_TIMEOUT_SECONDS
            )
    except subprocess.TimeoutExpired as exc:
        raise PdfError(
            f"the PDF could not be made: Typst took longer than {COMPILE_TIMEOUT_SECONDS} s"
        ) from exc
    message = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0 or not done.stdout.startswith(b"%PDF"):
        why = message.splitlines()[-1] if message else "Typst failed without a message"
        raise PdfError(f"the PDF could not be made: {why}")
    if message:
        log.warning("PDF export: %s", message)
    return done.stdout


def typeset(document_json: str, timestamp: int, template: str = TEMPLATE) -> bytes:
    """Set ``template`` with the given document in this process: fonts from the packages
    only, no system fonts, no Typst packages, no file access beyond this package's folder
    (the templates import ``common.typ`` from it)."""
    import typst  # type: ignore[import-untyped, unused-ignore]

    if template not in TEMPLATES:
        raise ValueError(f"no template {template!r}")
    # The package's own folder (installed as files, as the fonts are): Typst reads the
    # template and the common.typ it imports there, and nothing outside it.
    folder = Path(str(resources.files("broadsheet.exports.pdf")))
    book = typst.Fonts(
        include_system_fonts=False, include_embedded_fonts=False, font_paths=fonts.font_paths()
    )
    pdf, warnings = typst.compile_with_warnings(
        folder / template,
        root=folder,
        format="pdf",
        font_paths=book,
        ignore_system_fonts=True,
        sys_inputs={"document": document_json},
        timestamp=timestamp,  # the generation time: the same result gives the same bytes
        pdf_tags=False,  # tags made a 1,000-row table's PDF 7 times bigger; text is the same
    )
    for warning in warnings:
        sys.stderr.write(f"Typst warning: {warning.message}\n")
    if not isinstance(pdf, bytes):
        raise PdfError("Typst returned no PDF")
    return pdf


def main() -> None:
    """The child process: the document JSON on stdin, the timestamp and the template as
    arguments; the PDF on stdout, or Typst's error on stderr and exit status 1."""
    import resource

    # A hostile or huge table must not take the machine's memory with it.
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    document_json = sys.stdin.buffer.read().decode()
    try:
        pdf = typeset(document_json, int(sys.argv[1]), sys.argv[2])
    except Exception as exc:  # the parent reports the last line of stderr
        message = getattr(exc, "message", None) or str(exc)
        sys.stderr.write(f"{type(exc).__name__}: {message}\n")
        raise SystemExit(1) from exc
    sys.stdout.buffer.write(pdf)
    sys.stdout.buffer.flush()


__all__ = [
    "EXPORTER",
    "MAX_CELLS",
    "MAX_COLUMNS",
    "MAX_TABLE_CHARS",
    "PdfError",
    "PdfExporter",
    "fonts",
    "main",
    "typeset",
]
