"""The Excel export against hostile values, read back cell by cell with openpyxl, and the
workbook around the data: header, report sheet, charts, sheet split, Excel's limits.

About "" and None: a null is written as no cell at all, and openpyxl reads it as ``None``;
an empty string is written as an empty text cell, and openpyxl reads it back as ``""``
(Excel shows both as blank, but the empty string is a text cell: ``ISTEXT`` is true).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pytest

from broadsheet.charts.specs import build
from broadsheet.exports.base import ExportContext, RowSource, TableSource
from broadsheet.exports.excel import EXPORTER, ExcelExporter
from broadsheet.exports.excel import book as excel_book
from broadsheet.exports.excel.book import TRUNCATION_MARKER, sheet_name
from broadsheet.exports.excel.data import MAX_WIDTH, MIN_WIDTH
from tests.exports.hostile import TEXTS, hostile_context, hostile_source, hostile_table

NEW_YORK = ZoneInfo("America/New_York")
HEADER = ["text", "integer", "number", "exact", "day", "at (America/New_York)", "flag"]


def export(ctx: ExportContext | None = None, source: RowSource | None = None) -> bytes:
    out = io.BytesIO()
    EXPORTER.write(ctx or hostile_context(), source or hostile_source(), out, lambda n: None)
    return out.getvalue()


def workbook(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def values(sheet: Any) -> list[list[Any]]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def test_the_exporter_says_what_it_makes() -> None:
    assert isinstance(EXPORTER, ExcelExporter)
    assert EXPORTER.name == "excel"
    assert EXPORTER.extension == "xlsx"
    assert EXPORTER.media_type == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )


def test_every_hostile_cell_reads_back_as_written() -> None:
    book = workbook(export())
    assert book.sheetnames == ["Data", "Report"]  # no visualizations: no Charts sheet
    rows = list(book["Data"].iter_rows())
    assert [cell.value for cell in rows[0]] == HEADER
    table = hostile_table().to_pylist()
    assert len(rows) - 1 == len(table)
    for cells, source in zip(rows[1:], table, strict=True):
        text, integer, number, exact, day, at, flag = cells
        # Text is text, exactly: formula-looking values, CRLF, tabs, padding, "" and None.
        assert text.value == source["text"]
        assert text.data_type == ("s" if source["text"] is not None else "n")
        assert integer.value == source["integer"]
        assert integer.data_type == "n"
        assert number.value == source["number"]
        if source["exact"] == Decimal("12345678901234567.89"):
            # A double cannot hold it: written as text with every digit, not rounded.
            assert (exact.value, exact.data_type) == ("12345678901234567.89", "s")
        else:
            assert (exact.value, exact.data_type) == (float(source["exact"]), "n")
        assert day.value == datetime.combine(source["day"], datetime.min.time())
        assert day.number_format == "yyyy-mm-dd"
        local = source["at"].astimezone(NEW_YORK).replace(tzinfo=None)
        assert at.value == local
        assert at.number_format == "yyyy-mm-dd hh:mm:ss"
        assert flag.value is source["flag"]
        assert flag.data_type == ("b" if source["flag"] is not None else "n")


def test_formula_looking_text_is_an_inline_string_not_a_formula() -> None:
    data = export()
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    for text in ("=1+2", "+SUM(A1)", "-2+3", "@cmd"):
        assert f'inlineStr"><is><t>{text}</t></is>' in sheet_xml  # as is: no quote added
    assert "&#13;" in sheet_xml  # CR kept as a character reference (a raw CR reads as LF)
    assert "<f>" not in sheet_xml
    empty_and_null = workbook(data)["Data"]
    assert empty_and_null.cell(TEXTS.index("") + 2, 1).value == ""
    assert empty_and_null.cell(TEXTS.index(None) + 2, 1).value is None


def test_no_cell_anywhere_is_a_formula() -> None:
    data = export(hostile_context(report={"name": "=HYPERLINK(1)"}, visualizations=charts()))
    book = workbook(data)
    assert "Charts" in book.sheetnames
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    package = zipfile.ZipFile(io.BytesIO(data))
    for name in package.namelist():
        if name.startswith("xl/worksheets/"):
            assert not re.search(rb"<f[ >]", package.read(name)), name


def test_header_is_bold_frozen_and_filtered() -> None:
    sheet = workbook(export())["Data"]
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:G{len(TEXTS) + 1}"
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDEFG"]
    assert all(MIN_WIDTH <= width <= MAX_WIDTH for width in widths)
    assert sheet.column_dimensions["F"].width >= len("at (America/New_York)")


def test_report_sheet_says_what_the_data_is() -> None:
    rows = values(workbook(export())["Report"])
    facts = {row[0]: row[1] for row in rows if row and row[0] is not None}
    assert rows[0][0] == "Hostile Values 报告"
    assert facts["Report"] == "Hostile Values 报告"
    assert facts["Description"] == "Every value that breaks a naive exporter."
    assert facts["Generated at (America/New_York)"] == datetime(2024, 2, 1, 9, 0)
    assert facts["Time zone"] == "America/New_York"
    assert facts["Rows"] == len(TEXTS)
    assert facts["startDate"] == "2024-01-01"
    assert facts["region"] == "日本"
    header = rows.index(["Column", "Count", "Nulls", "Min", "Max", "Sum", "Mean"])
    assert rows[header + 1][:6] == ["number", 16, 5, -5.75, 23.75, 100.5]
    notes = " ".join(str(row[0]) for row in rows[header + 2 :] if row[0])
    assert "1 value(s) were written as text" in notes


def charts() -> list[dict[str, Any]]:
    """One visualization of each kind over a small table, built as the service builds them."""
    table = pa.table(
        {
            "day": pa.array([date(2024, 1, 1 + i % 5) for i in range(30)]),
            "at": pa.array(
                [datetime(2024, 3, 9, tzinfo=UTC) + timedelta(hours=i) for i in range(30)],
                pa.timestamp("us", tz="UTC"),
            ),
            "region": pa.array(["north", "south", "=cmd|' /C calc'!A0"] * 10),
            "amount": pa.array([float(i * 7 % 11) for i in range(30)]),
            "qty": pa.array([i % 4 for i in range(30)], pa.int64()),
        }
    )
    definitions = [
        ("bars", "bar", {"x": "day", "y": "amount", "series": "region"}),
        ("trend", "line", {"x": "at", "y": "amount", "series": "region"}),
        ("share", "pie", {"category": "region", "value": "amount"}),
        ("spread", "scatter", {"x": "amount", "y": "qty", "color": "region"}),
        ("grid", "heatmap", {"x": "region", "y": "qty", "value": "amount"}),
    ]
    built: list[dict[str, Any]] = []
    for viz_id, viz_type, mapping in definitions:
        viz: dict[str, Any] = {
            "id": viz_id,
            "type": viz_type,
            "title": f"{viz_type} of it",
            "dataMapping": mapping,
        }
        built.append({**viz, "data": build(viz, table)})
    built.append({"id": "gone", "type": "bar", "title": "Broken", "data": None, "error": "no y"})
    return built


def test_charts_are_native_with_their_data_on_a_sheet_and_the_rest_images() -> None:
    data = export(hostile_context(visualizations=charts()))
    book = workbook(data)
    assert book.sheetnames == ["Data", "Report", "Charts", "Chart data"]
    assert len(book["Charts"]._charts) == 4  # bar, line, pie, scatter
    package = zipfile.ZipFile(io.BytesIO(data))
    names = package.namelist()
    assert {f"xl/charts/chart{i}.xml" for i in range(1, 5)} <= set(names)
    assert "xl/charts/chart5.xml" not in names
    assert [n for n in names if n.startswith("xl/media/")] == ["xl/media/image1.png"]  # heatmap
    bar = package.read("xl/charts/chart1.xml").decode()
    assert "<c:barChart>" in bar and '<c:grouping val="stacked"/>' in bar
    assert "'Chart data'!$A$" in bar  # the series refer to the data sheet
    assert "<c:pieChart>" in package.read("xl/charts/chart3.xml").decode()
    assert "<c:scatterChart>" in package.read("xl/charts/chart4.xml").decode()
    shown = [row[0] for row in values(book["Charts"]) if row and row[0]]
    assert shown[0] == "Charts"
    assert "heatmap of it" in shown
    assert "Not drawn: no y" in shown
    chart_data = values(book["Chart data"])
    assert chart_data[0][:3] == ["Chart", "X axis", "Y axis"]
    assert chart_data[1][0] == "bar of it"
    assert chart_data[2][:1] == ["day"] and "=cmd|' /C calc'!A0" in chart_data[2]
    assert chart_data[3][0] == datetime(2024, 1, 1)


def test_no_charts_sheet_without_visualizations() -> None:
    assert workbook(export()).sheetnames == ["Data", "Report"]


def test_rows_past_the_sheet_limit_continue_on_numbered_sheets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(excel_book, "MAX_SHEET_ROWS", 5)  # a header and four rows a sheet
    seen: list[int] = []
    out = io.BytesIO()
    EXPORTER.write(hostile_context(), hostile_source(), out, seen.append)
    book = workbook(out.getvalue())
    data_sheets = [name for name in book.sheetnames if name.startswith("Data")]
    assert data_sheets == ["Data", *(f"Data ({n})" for n in range(2, 7))]
    texts: list[Any] = []
    for name in data_sheets:
        sheet = book[name]
        rows = values(sheet)
        assert rows[0] == HEADER
        assert 1 <= len(rows) - 1 <= 4
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:G{len(rows)}"
        texts += [row[0] for row in rows[1:]]
    assert values(book["Data (2)"])[1][0] == TEXTS[4]
    assert texts == TEXTS
    assert seen[-1] == len(TEXTS)
    facts = {row[0]: row[1] for row in values(book["Report"]) if row and row[0]}
    assert facts["Data sheets"] == ", ".join(data_sheets)


def test_a_cell_over_excels_limit_is_cut_with_a_marker() -> None:
    long_texts = ["x" * 40_000, "🎉" * 20_000, "y" * excel_book.MAX_CELL_CHARS]
    table = pa.table({"text": pa.array(long_texts)})
    book = workbook(export(hostile_context(table), TableSource(table)))
    cut, emoji, fits = (row[0] for row in values(book["Data"])[1:])
    assert len(cut) == excel_book.MAX_CELL_CHARS
    assert cut == "x" * (excel_book.MAX_CELL_CHARS - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER
    # Excel counts UTF-16 units: each emoji is two, and none is split.
    assert emoji.endswith("🎉" + TRUNCATION_MARKER)
    assert len(emoji.encode("utf-16-le")) // 2 <= excel_book.MAX_CELL_CHARS
    assert fits == "y" * excel_book.MAX_CELL_CHARS
    notes = " ".join(str(row[0]) for row in values(book["Report"]) if row and row[0])
    assert "2 text cell(s) were longer than Excel's 32,767 characters" in notes


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("Data", "Data"),
        ("Q1: Sales/Returns [draft]*? \\ 'quoted'", "Q1_ Sales_Returns _draft___ _"),
        ("'", "Sheet_"),
        ("History", "History_"),
        ("報告" * 20, "報告" * 15 + "報"),
        ("🎉" * 20, "🎉" * 15),  # Excel counts UTF-16 units: two per emoji
    ],
)
def test_sheet_names_are_made_valid(wanted: str, expected: str) -> None:
    assert sheet_name(wanted, set()) == expected


def test_sheet_names_from_a_hostile_report_name_are_valid_and_unique() -> None:
    hostile = "'Quarterly: P&L / Forecast [v2] *final*? \\ — 四半期報告書 2024'"
    taken: set[str] = set()
    names = [sheet_name(hostile, taken) for _ in range(12)]
    assert len({name.lower() for name in names}) == 12
    for name in names:
        assert 1 <= len(name.encode("utf-16-le")) // 2 <= 31
        assert not set(name) & set("[]:*?/\\")
        assert not name.startswith("'") and not name.endswith("'")
    assert names[1].endswith(" (2)") and names[11].endswith(" (12)")
    # And a workbook whose report has that name opens with valid sheet names.
    book = workbook(export(hostile_context(report={"name": hostile})))
    assert book.sheetnames == ["Data", "Report"]
    assert values(book["Report"])[0][0] == hostile


def test_values_excel_cannot_hold_become_text_not_something_else() -> None:
    table = pa.table(
        {
            "big": pa.array([2**53 + 1, 2**60, -(2**53) - 1, 2**53], pa.int64()),
            "odd": pa.array([float("nan"), float("inf"), float("-inf"), 1e300]),
            "old": pa.array([date(1899, 12, 31), date(1900, 1, 1), date(1900, 3, 1), None]),
            "clock": pa.array([datetime(2024, 1, 1, 12, 30, 15)] * 4, pa.timestamp("ms")),
            "time": pa.array([time(6, 30, 15), None, time(0), time(23, 59, 59)], pa.time32("s")),
        }
    )
    book = workbook(export(hostile_context(table), TableSource(table)))
    rows = values(book["Data"])
    assert rows[0] == ["big", "odd", "old", "clock", "time"]  # naive: no zone named
    assert [row[0] for row in rows[1:]] == [str(2**53 + 1), 2**60, str(-(2**53) - 1), 2**53]
    assert [row[1] for row in rows[1:]] == ["NaN", "Infinity", "-Infinity", 1e300]
    assert [row[2] for row in rows[1:]] == [
        "1899-12-31",
        datetime(1900, 1, 1),
        datetime(1900, 3, 1),
        None,
    ]
    assert [row[3] for row in rows[1:]] == [datetime(2024, 1, 1, 12, 30, 15)] * 4
    assert [row[4] for row in rows[1:]] == [time(6, 30, 15), None, time(0), time(23, 59, 59)]
    assert book["Data"]["E2"].number_format == "hh:mm:ss"


def test_other_types_are_written_as_text() -> None:
    table = pa.table(
        {
            "blob": pa.array([b"\xff\x00", b"ok", None], pa.binary()),
            "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
            "kind": pa.array(["x", "=y", None]).dictionary_encode(),
        }
    )
    rows = values(workbook(export(hostile_context(table), TableSource(table)))["Data"])
    # The third row is all nulls: a row without cells, which openpyxl does not list.
    assert rows[1:] == [["ff00", "['a', 'b']", "x"], ["6f6b", "[]", "=y"]]


def test_text_that_xml_or_xlsxwriter_would_mangle_is_kept() -> None:
    texts = ["<r>raw</r>", "a & b < c > d", "bell\x07", "_x0041_", "x\ufffey"]
    table = pa.table({"text": pa.array(texts)})
    ctx = hostile_context(table, report={"name": "<r>raw</r>"})
    data = export(ctx, TableSource(table))
    book = workbook(data)
    assert [row[0] for row in values(book["Data"])[1:3]] == texts[:2]
    assert values(book["Report"])[0][0] == "<r>raw</r>"  # not raw rich-text XML
    # XML 1.0 cannot carry control characters: Excel's own _xHHHH_ escape is written (and
    # "_x0041_" escaped so Excel does not decode it). Excel decodes these; openpyxl does not.
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "bell_x0007_" in sheet_xml
    assert "_x005F_x0041_" in sheet_xml
    assert "x_xFFFE_y" in sheet_xml


class Batches:
    """A source that yields small batches and counts what is read."""

    def __init__(self, table: pa.Table, size: int) -> None:
        self.source = TableSource(table)
        self.size = size
        self.batches_read = 0

    @property
    def row_count(self) -> int:
        return self.source.row_count

    @property
    def schema(self) -> pa.Schema:
        return self.source.schema

    def batches(self, batch_rows: int = 0) -> Iterator[pa.RecordBatch]:
        for batch in self.source.batches(self.size):
            self.batches_read += 1
            yield batch

    def head(self, rows: int, *, text_chars: int | None = None) -> pa.Table:
        return self.source.head(rows, text_chars=text_chars)


def test_rows_stream_batch_by_batch_with_progress() -> None:
    table = hostile_table()
    source = Batches(table, 4)
    seen: list[int] = []
    EXPORTER.write(hostile_context(), source, io.BytesIO(), seen.append)
    assert source.batches_read == 6
    assert seen == [4, 8, 12, 16, 20, 21]


class Failing(Batches):
    def batches(self, batch_rows: int = 0) -> Iterator[pa.RecordBatch]:
        yield from list(super().batches())[:2]
        raise OSError("storage went away")


def test_a_failure_midway_writes_nothing() -> None:
    out = io.BytesIO()
    with pytest.raises(OSError, match="storage went away"):
        EXPORTER.write(hostile_context(), Failing(hostile_table(), 4), out, lambda n: None)
    assert out.getvalue() == b""


def test_an_empty_result_still_has_its_header() -> None:
    table = hostile_table().slice(0, 0)
    book = workbook(export(hostile_context(table, row_count=0), TableSource(table)))
    assert values(book["Data"]) == [HEADER]
    assert book["Data"].auto_filter.ref == "A1:G1"


def test_high_scale_decimals_stay_numbers_when_a_double_holds_them() -> None:
    from decimal import Decimal

    import openpyxl
    import pyarrow as pa

    table = pa.table(
        {"d": pa.array([Decimal("0.1"), Decimal("123.45"), Decimal("12345678901234567.89")],
                       pa.decimal128(38, 20))}
    )  # fmt: skip
    out = io.BytesIO()
    ctx = hostile_context(table, columns=[{"name": "d", "type": "decimal"}])
    EXPORTER.write(ctx, hostile_source(table), out, lambda _n: None)
    sheet = openpyxl.load_workbook(out)["Data"]
    assert [c.value for c in sheet["A"][1:]] == [
        0.1,
        123.45,
        "12345678901234567.89000000000000000000",
    ]
