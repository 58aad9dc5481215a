"""The PDF export: every script drawn with packaged fonts, values printed as they are (never as
Typst markup), the row cap, vector charts, page furniture and orientation."""

from __future__ import annotations

import functools
import io
import itertools
import re
import sysconfig
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pdfplumber
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pypdf
import pypdfium2  # type: ignore[import-untyped, unused-ignore]
import pytest
import typst  # type: ignore[import-untyped, unused-ignore]

from broadsheet.charts import specs
from broadsheet.exports.base import ExportContext, ExportOptions, TableSource
from broadsheet.exports.pdf import EXPORTER, MAX_CELLS, MAX_TABLE_CHARS, PdfExporter, fonts
from tests.exports.hostile import TEXTS, hostile_context, hostile_source
from tests.tools import run


def export(ctx: ExportContext, source: Any) -> bytes:
    out = io.BytesIO()
    EXPORTER.write(ctx, source, out, lambda rows: None)
    return out.getvalue()


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text layer as PDFium (Chrome's PDF engine) extracts it: in logical order,
    right-to-left runs included."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [str(document[i].get_textpage().get_text_range()) for i in range(len(document))]
    finally:
        document.close()


def flat(text: str) -> str:
    return " ".join(text.split())


def text_of(ctx: ExportContext, source: Any) -> str:
    """The whole document's text, whitespace runs as one space."""
    return flat(" ".join(page_texts(export(ctx, source))))


@functools.cache
def hostile_pdf() -> bytes:
    return export(hostile_context(), hostile_source())


def numbered_table(rows: int, columns: int = 3) -> pa.Table:
    data: dict[str, Any] = {"item": [f"item-{i:05d}" for i in range(rows)]}
    for c in range(1, columns):
        data[f"column_{c:02d}"] = pa.array([i * c for i in range(rows)], pa.int64())
    return pa.table(data)


def numbered_context(table: pa.Table, **changes: Any) -> ExportContext:
    columns = [
        {"name": n, "type": "string" if n == "item" else "integer"} for n in table.schema.names
    ]
    fields: dict[str, Any] = {"columns": columns, "summary": {}, "parameters": {}}
    fields.update(changes)
    return hostile_context(table, **fields)


class HeadOnly:
    """A row source that records what was asked of it and refuses to be read whole."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.heads: list[int] = []

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def batches(self, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        raise AssertionError("the PDF must not read the whole result")

    def head(self, rows: int, *, text_chars: int | None = None) -> pa.Table:
        self.heads.append(rows)
        return TableSource(self.table).head(rows, text_chars=text_chars)


def test_the_exporter_declares_its_format() -> None:
    assert isinstance(EXPORTER, PdfExporter)
    assert (EXPORTER.name, EXPORTER.media_type, EXPORTER.extension) == (
        "pdf",
        "application/pdf",
        "pdf",
    )
    assert hostile_pdf().startswith(b"%PDF-")


def test_every_hostile_text_cell_is_in_the_text_layer() -> None:
    text = flat(" ".join(page_texts(hostile_pdf())))
    for cell in TEXTS:
        if not cell or not cell.strip():
            continue
        if cell == "مرحبا بالعالم":
            # Extractors order right-to-left words on a mixed line each their own way; each
            # word must still come out whole, in logical order.
            assert all(word in text for word in cell.split()), cell
            continue
        assert flat(cell) in text, cell
    for literal in ("=1+2", "+SUM(A1)", "-2+3", "@cmd", "-42", 'quote " inside'):
        assert literal in text


def test_values_are_formatted_for_reading() -> None:
    text = flat(" ".join(page_texts(hostile_pdf())))
    # Thousands separators; decimals exact, not through a float; one number of decimals a column.
    for shown in ("12,345,678,901,234,567.89", "-1,000,000,000,000,000", "10,000", "0.25"):
        assert shown in text
    assert "-5.75" in text and "1.75" in text and "21.25" in text
    # Timestamps in the report's zone, across the March DST change, with the zone's name.
    assert "2024-03-10 01:30 EST" in text
    assert "2024-03-10 03:30 EDT" in text
    assert "Times are in America/New_York" in text
    assert "2024-01-21" in text
    assert " Yes " in text and " No " in text
    assert "None" not in text and "null" not in text


def test_every_script_is_drawn_with_a_packaged_font_not_tofu() -> None:
    with pdfplumber.open(io.BytesIO(hostile_pdf())) as document:
        chars = [c for page in document.pages for c in page.chars]
    font_of = {c["text"]: str(c["fontname"]).split("+")[-1] for c in chars}
    expected = {
        "日": "NotoSansCJK",
        "文": "NotoSansCJK",
        "한": "NotoSansCJK",
        "П": "NotoSans-",
        "è": "NotoSans-",
        "ã": "NotoSans-",
        "م": "NotoSansArabic",
        "🎉": "NotoEmoji",
        "📈": "NotoEmoji",
    }
    for char, family in expected.items():
        assert char in font_of, char
        assert font_of[char].startswith(family), (char, font_of[char])
    assert {name.split("-")[0] for name in font_of.values()} <= {
        "NotoSans",
        "NotoSansArabic",
        "NotoSansCJKsc",
        "NotoEmoji",
    }


def test_arabic_is_shaped_right_to_left_and_copies_without_doubled_letters() -> None:
    with pdfplumber.open(io.BytesIO(hostile_pdf())) as document:
        arabic = [c for c in document.pages[0].chars if "\u0600" <= c["text"] <= "\u06ff"]
    # Set right to left: the word's first letter is its rightmost glyph.
    first, *_ = (c for c in arabic if c["text"] == "م")
    assert first["x0"] == max(c["x0"] for c in arabic)
    # One glyph per letter in the text layer (Typst would repeat a letter the font decomposes).
    assert len(arabic) == len("مرحبا بالعالم".replace(" ", ""))


def test_fonts_come_from_the_packages_and_cover_the_fallback_list() -> None:
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    modules = {package.module for package in fonts.PACKAGES}
    for folder in fonts.font_dirs():
        relative = folder.resolve().relative_to(site)
        assert relative.parts[0] in modules
    book = typst.Fonts(
        include_system_fonts=False, include_embedded_fonts=False, font_paths=fonts.font_paths()
    )
    assert set(fonts.FALLBACK) <= set(book.families())


def test_typst_markup_in_any_value_prints_literally() -> None:
    hostile = [
        '#panic("x")',
        "*bold*",
        "$x$",
        '#import "@preview/cetz:0.3.0": *',
        '#read("/etc/passwd")',
        "]",
        "\\",
        "#set page(width: 2cm)",
        "_under_ <label> @ref",
        "// not a comment",
        "= Not a heading",
    ]
    table = pa.table({"cell": hostile})
    ctx = hostile_context(
        table,
        report={"name": '#panic("name") *Name* $y$', "description": "]#[ \\ #import"},
        parameters={"filter": '#eval("1+1")', "code": "$a^2$"},
        columns=[{"name": "#h(1cm)", "type": "string"}],
        summary={"#h(1cm)": {"count": 11, "nulls": 0}},
    )
    pdf = export(ctx, TableSource(table))
    text = flat(" ".join(page_texts(pdf)))
    for literal in [*hostile, '#panic("name") *Name* $y$', "]#[ \\ #import", '#eval("1+1")']:
        assert literal in text, literal
    assert "$a^2$" in text and "#h(1cm)" in text
    assert pypdf.PdfReader(io.BytesIO(pdf)).pages[0].mediabox.width > 500  # still A4


def test_the_table_stops_at_the_cap_and_says_where_the_rest_is() -> None:
    table = numbered_table(2000)
    source = HeadOnly(table)
    pdf = export(numbered_context(table, full_data_hint="the CSV export"), source)
    assert source.heads == [1000]
    pages = page_texts(pdf)
    assert len(pages) >= 3
    text = flat(" ".join(pages))
    assert "Showing 1,000 of 2,000 rows" in text
    assert "the CSV export" in text
    assert "item-00999" in text
    assert "item-01000" not in text
    for page in pages:  # the header row repeats on every page of the table
        assert flat("item column_01 column_02") in flat(page)


def test_the_cap_follows_the_options() -> None:
    table = numbered_table(2000)
    source = HeadOnly(table)
    ctx = numbered_context(table, options=ExportOptions(pdf_max_rows=25))
    text = text_of(ctx, source)
    assert source.heads == [25]
    assert "Showing 25 of 2,000 rows" in text
    assert "item-00024" in text and "item-00025" not in text

    over = HeadOnly(numbered_table(3))
    export(numbered_context(over.table, options=ExportOptions(pdf_max_rows=50_000)), over)
    assert over.heads == [10_000]


def test_progress_is_told_the_rows_written() -> None:
    table = numbered_table(40)
    seen: list[int] = []
    ctx = numbered_context(table, options=ExportOptions(pdf_max_rows=30))
    EXPORTER.write(ctx, TableSource(table), io.BytesIO(), seen.append)
    assert seen == [30]


def chart_table() -> pa.Table:
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(60)]
    return pa.table(
        {
            "day": pa.array(days, pa.date32()),
            "desk": ["Rates" if i % 3 else "Credit 信用" for i in range(60)],
            "pnl": [float((i * 37) % 101 - 40) for i in range(60)],
        }
    )


def chart_context() -> ExportContext:
    table = chart_table()
    definitions = [
        {
            "id": "l",
            "type": "line",
            "title": "Daily PnL Line",
            "dataMapping": {"x": "day", "y": "pnl"},
        },
        {
            "id": "b",
            "type": "bar",
            "title": "PnL by Desk Bars",
            "dataMapping": {"x": "desk", "y": "pnl"},
        },
        {
            "id": "p",
            "type": "pie",
            "title": "Desk Share Pie",
            "dataMapping": {"category": "desk", "value": "pnl"},
            "options": {"aggregate": "count"},
        },
    ]
    visualizations: list[dict[str, Any]] = [
        {**{k: d[k] for k in ("id", "type", "title")}, "data": specs.build(d, table)}
        for d in definitions
    ]
    visualizations.append(
        {"id": "e", "type": "bar", "title": "Broken Chart", "error": "column 'gone' is missing"}
    )
    sideways = {"x": {"field": "k", "type": "sideways"}}
    broken_spec = {
        "spec": {"data": {"name": "table"}, "mark": "bar", "encoding": sideways},
        "chartData": [{"k": 1}],
    }
    visualizations.append({"id": "r", "type": "bar", "title": "Unrenderable", "data": broken_spec})
    return hostile_context(
        table,
        columns=[
            {"name": "day", "type": "date"},
            {"name": "desk", "type": "string"},
            {"name": "pnl", "type": "number"},
        ],
        summary={
            "pnl": {"count": 60, "nulls": 0, "min": -40.0, "max": 60.0, "sum": 300, "mean": 5}
        },
        visualizations=visualizations,
    )


def test_charts_are_vector_drawings_with_selectable_text() -> None:
    pdf = export(chart_context(), TableSource(chart_table()))
    text = flat(" ".join(page_texts(pdf)))
    for title in ("Daily PnL Line", "PnL by Desk Bars", "Desk Share Pie"):
        assert title in text  # the chart's own title, drawn inside the SVG, as text
    assert "Credit 信用" in text and "Sum of pnl" in text  # axis and legend labels too
    assert "Broken Chart" in text and "column 'gone' is missing" in text
    assert "Unrenderable" in text and "could not be drawn" in text
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert all(not page.images for page in reader.pages)  # no pixels anywhere
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        drawn = sum(len(p.curves) + len(p.lines) + len(p.rects) for p in document.pages)
    assert drawn > 20  # lines, bars and pie slices are paths
    assert "Summary" in text and "Count Nulls Min Max Sum Mean" in text and "300" in text


def test_every_page_has_its_number_of_the_total_and_the_generation_time() -> None:
    table = numbered_table(200)
    pages = page_texts(export(numbered_context(table), TableSource(table)))
    total = len(pages)
    assert total > 1
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {total}" in page
        assert "generated 2024-02-01 09:00 EST (America/New_York)" in page
    assert "Generated 2024-02-01 09:00 EST (America/New_York)" in pages[0]  # 14:00 UTC


def test_a_wide_table_is_set_landscape_and_a_narrow_one_portrait() -> None:
    wide = numbered_table(30, columns=14)
    narrow = numbered_table(30, columns=3)
    for table, landscape in ((wide, True), (narrow, False)):
        pdf = export(numbered_context(table), TableSource(table))
        for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
            assert (page.mediabox.width > page.mediabox.height) is landscape


def test_long_unbroken_text_wraps_inside_its_cell_and_copies_whole() -> None:
    token = "x" * 10 + "".join(f"{i:02d}ABCDEFGH" for i in range(12))
    table = pa.table({"id": [token], "note": ["short"]})
    pdf = export(hostile_context(table, columns=[], summary={}), TableSource(table))
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        page = document.pages[0]
        note = next(w for w in page.extract_words() if w["text"] == "short")
        band = [c for c in page.chars if note["top"] - 1 <= c["top"] <= note["top"] + 80]
    token_chars = [c for c in band if c["text"] in set(token)]  # "short" shares no letter
    assert len(token_chars) == len(token)
    assert max(c["top"] for c in token_chars) > note["bottom"]  # it wrapped
    assert all(c["x1"] <= note["x0"] for c in token_chars)  # and never ran into the next column
    text = "".join(page_texts(pdf))
    assert token in "".join(text.split())  # whole, only a line break inside
    assert "\u200b" not in text


def test_an_empty_result_still_makes_a_report() -> None:
    table = numbered_table(0)
    text = text_of(numbered_context(table), TableSource(table))
    assert "The result has no rows." in text and "page 1 of 1" in text


def test_the_same_result_gives_the_same_bytes() -> None:
    assert export(hostile_context(), hostile_source()) == hostile_pdf()


@pytest.mark.parametrize("zone", ["UTC", "Not/AZone"])
def test_generation_time_in_utc_or_an_unknown_zone(zone: str) -> None:
    table = numbered_table(1)
    text = text_of(numbered_context(table, timezone=zone), TableSource(table))
    assert "Generated 2024-02-01 14:00 UTC" in text


def test_naive_timestamps_print_as_stored() -> None:
    table = pa.table({"at": pa.array([datetime(2024, 5, 1, 12, 0, 5)], pa.timestamp("us"))})
    text = text_of(hostile_context(table, summary={}), TableSource(table))
    assert "2024-05-01 12:00:05" in text
    assert "Times are in" not in text


def wide_table(rows: int, columns: int) -> pa.Table:
    """A region key, then dates, times, amounts, counts and notes in turn: the widths of a
    real wide result, the kind whose cells ran into each other."""
    data: dict[str, Any] = {"region": [("APAC", "EMEA", "AMER")[i % 3] for i in range(rows)]}
    start = datetime(2024, 1, 1, 9, 30, 15, tzinfo=UTC)
    for c in range(1, columns):
        kind = c % 5
        if kind == 0:
            days = [date(2024, 1, 1) + timedelta(days=i) for i in range(rows)]
            data[f"day_{c}"] = pa.array(days, pa.date32())
        elif kind == 1:
            times = [start + timedelta(hours=i) for i in range(rows)]
            data[f"at_{c}"] = pa.array(times, pa.timestamp("us", "UTC"))
        elif kind == 2:
            data[f"amount_{c}"] = [(i * 391233.8182) % 1e6 - 5e5 for i in range(rows)]
        elif kind == 3:
            data[f"count_{c}"] = pa.array([i * 1001435 for i in range(rows)], pa.int64())
        else:
            data[f"note_{c}"] = [f"note {i}" if i % 4 else None for i in range(rows)]
    return pa.table(data)


def wide_context(table: pa.Table, **changes: Any) -> ExportContext:
    return hostile_context(table, columns=[], summary={}, **changes)


def test_a_table_wider_than_a_page_is_set_in_column_groups_that_never_overlap(
    tmp_path: Path,
) -> None:
    table = wide_table(40, 30)
    pdf = export(wide_context(table), TableSource(table))
    path = tmp_path / "wide.pdf"
    path.write_bytes(pdf)
    layout = run("pdftotext", "-layout", path, "-")
    tokens = layout.split()
    for name in table.column_names:  # every header whole, as its own word
        assert name in tokens, name
    for value in ("-108,766.1818", "1,001,435", "2024-01-03", "2024-01-01", "05:30:15"):
        assert value in tokens, value  # never run into a neighbour
    headings = re.findall(r"Columns (\d+)\u2013(\d+) of 30", layout)
    assert headings[0][0] == "1" and headings[-1][1] == "30"
    covered = [n for a, b in headings for n in range(int(a), int(b) + 1)]
    assert covered == list(range(1, 31))  # each column once, in order
    assert "with column region repeated" in layout
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for page in document.pages:
            words = page.extract_words(keep_blank_chars=False, x_tolerance=1.5)
            lines: dict[int, list[dict[str, Any]]] = {}
            for word in words:
                lines.setdefault(round(word["top"]), []).append(word)
            for line in lines.values():
                line.sort(key=lambda w: w["x0"])
                for left, right in itertools.pairwise(line):
                    assert left["x1"] <= right["x0"] + 0.1, (left["text"], right["text"])


def test_twelve_columns_still_make_one_table() -> None:
    table = wide_table(10, 12)
    text = text_of(wide_context(table), TableSource(table))
    assert "Columns 1\u2013" not in text
    assert flat(" ".join(table.column_names[:3])) in text


def test_the_most_rows_work_at_any_width_and_the_pdf_says_how_many_it_shows() -> None:
    table = wide_table(10_000, 30)
    source = HeadOnly(table)
    ctx = wide_context(table, options=ExportOptions(pdf_max_rows=10_000))
    started = time.monotonic()
    pdf = export(ctx, source)
    assert time.monotonic() - started < 60
    assert source.heads == [MAX_CELLS // 30]
    first = flat(page_texts(pdf)[0])
    assert "Showing 3,333 of 10,000 rows" in first
    assert "at most 100,000 cells" in first


def first_page_text(pdf: bytes) -> str:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return flat(str(document[0].get_textpage().get_text_range()))
    finally:
        document.close()


def test_the_most_rows_of_long_text_work_and_the_pdf_says_how_many_it_shows() -> None:
    """10,000 rows of 10 columns of 1,000 characters once took Typst past 3.4 GB and crashed it:
    the table now stops at MAX_TABLE_CHARS characters, and says so."""
    cell = ("lorem ipsum dolor sit amet " * 40)[:1000]
    rows, columns = 10_000, 10
    values = [f"{r:05d} {cell[6:991]} end{r:05d}" for r in range(rows)]  # 1,000 characters
    table = pa.table({f"c{i}": values for i in range(columns)})
    ctx = hostile_context(
        table,
        columns=[{"name": f"c{i}", "type": "string"} for i in range(columns)],
        summary={},
        options=ExportOptions(pdf_max_rows=rows),
    )
    source = HeadOnly(table)
    written: list[int] = []
    started = time.monotonic()
    out = io.BytesIO()
    EXPORTER.write(ctx, source, out, written.append)
    assert time.monotonic() - started < 40
    assert source.heads == [rows]  # 100,000 cells: the cell cap allows them all
    shown = MAX_TABLE_CHARS // (columns * 1000)
    assert written == [shown]
    pdf = out.getvalue()
    assert (
        f"Data Showing {shown:,} of 10,000 rows (a PDF table holds at most "
        f"{MAX_TABLE_CHARS:,} characters of text: the {shown:,} rows shown have "
        f"{shown * columns * 1000:,}). The full data is in the CSV or Excel export"
    ) in first_page_text(pdf)
    last = pypdf.PdfReader(io.BytesIO(pdf)).pages[-1].extract_text()
    assert f"end{shown - 1:05d}" in flat(last) and f"{shown:05d}" not in last


def test_a_row_past_the_text_budget_is_left_out_whatever_its_columns_hold() -> None:
    """The budget counts the characters as printed, of every kind of column, and stops before
    the first row that would pass it; a table within it is shown whole, without the note."""
    from broadsheet.exports.pdf import _rows_within

    rows = [["ab", "c", "de"], ["1,000", "", "7"]]  # rows of 7, 1 and 3 characters
    assert _rows_within(rows, 7) == (1, 7)
    assert _rows_within(rows, 10) == (2, 8)
    assert _rows_within(rows, 11) == (3, 11)
    assert _rows_within([["ab", "c"], ["1,000", ""]], 100) == (2, 8)
    assert _rows_within([["abcdef"]], 5) == (0, 0)
    table = pa.table({"k": ["x" * 500] * 3, "n": pa.array([1, 2, 3], pa.int64())})
    text = text_of(numbered_context(table, columns=[]), TableSource(table))
    assert "All 3 rows." in text and "characters of text" not in text


def test_a_result_of_thousands_of_columns_shows_the_first_hundred_and_says_so(
    tmp_path: Path,
) -> None:
    table = pa.table({f"c{i}": pa.array([i, -i], pa.int64()) for i in range(7000)})
    summary = {f"c{i}": {"count": 2, "nulls": 0} for i in range(7000)}
    ctx = hostile_context(
        table, columns=[{"name": f"c{i}", "type": "integer"} for i in range(7000)], summary=summary
    )
    started = time.monotonic()
    pdf = export(ctx, TableSource(table))
    assert time.monotonic() - started < 60
    path = tmp_path / "columns.pdf"
    path.write_bytes(pdf)
    text = flat(run("pdftotext", path, "-"))
    assert (
        "Columns 1\u2013100 of 7,000 shown; the CSV or Excel export of this result has all" in text
    )
    assert "The first 100 of 7,000 columns." in text  # the summary too
    assert "c99" in text.split() and "c100" not in text.split()


def test_a_short_table_is_never_split_across_pages() -> None:
    table = pa.table({"k": ["first", "second", "third", "fourth"], "v": [1, 2, 3, 4]})
    for lines in range(38, 56):
        ctx = hostile_context(
            table,
            columns=[],
            summary={},
            report={"name": "Short", "description": "\n".join(["line"] * lines)},
        )
        pages = page_texts(export(ctx, TableSource(table)))
        holding = [i for i, page in enumerate(pages) if "first" in page or "fourth" in page]
        assert len(holding) == 1, lines  # all four rows on one page
        assert "Data" in pages[holding[0]] and "fourth" in pages[holding[0]], lines


def test_a_table_chart_of_a_wide_result_fits_a_page_in_legible_type() -> None:
    table = wide_table(1234, 30)
    definition = {"id": "t", "type": "table", "title": "Wide Table Chart"}
    visualizations = [{**definition, "data": specs.build(definition, table)}]
    ctx = wide_context(table, visualizations=visualizations)
    pdf = export(ctx, HeadOnly(table))
    pages = [flat(page) for page in page_texts(pdf)]
    (charted,) = [i for i, page in enumerate(pages) if "Wide Table Chart" in page]
    assert "Charts" in pages[charted]
    assert "First 25 of 1,234 rows, 12 of 30 columns." in pages[charted]  # said under it
    assert "-108,766.1818" in pages[charted] and "\u2212" not in pages[charted]
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        sizes = [c["size"] for c in document.pages[charted].chars if c["text"].isdigit()]
    assert min(sizes) >= 6  # was 3-point text


def test_a_short_table_taller_than_a_page_runs_onto_the_next_pages_whole() -> None:
    """Twenty rows of long text are taller than a page: kept unbreakable, they ran off its
    bottom (588 words below the edge of page 2). Now they break across pages, every word on
    one, and the 4-row table above still stays on one page."""

    def cell(r: int, c: int) -> str:
        return (f"r{r}c{c}start " + "lorem ipsum dolor sit amet " * 40)[:990] + f" r{r}c{c}end"

    table = pa.table({f"c{c}": [cell(r, c) for r in range(20)] for c in range(3)})
    ctx = hostile_context(
        table, columns=[{"name": f"c{c}", "type": "string"} for c in range(3)], summary={}
    )
    pdf = export(ctx, TableSource(table))
    ends: list[str] = []
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        assert len(document.pages) > 2
        for page in document.pages:
            words = page.extract_words()
            assert all(w["bottom"] <= page.height - 18 for w in words), page.page_number
            ends += [w["text"] for w in words if re.fullmatch(r"r\d+c\dend", w["text"])]
    assert sorted(ends) == sorted(f"r{r}c{c}end" for r in range(20) for c in range(3))
