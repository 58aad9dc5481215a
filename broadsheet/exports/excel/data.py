"""The data sheets: every row of the result, streamed batch by batch, on "Data", then past
Excel's 1,048,576 rows per sheet on "Data (2)", "Data (3)"… each with the same header.

Each sheet has a bold header row, frozen so it stays in view, an autofilter over the header
and the rows, and column widths from the header and the first rows. The rows themselves are
encoded in Arrow (``cells``) and appended as XML (``rows``); only one slice of a
batch is held at a time, at most ``ENCODE_BYTES`` of Arrow data, so a million rows — or a few
rows of 30,000-character texts — take the same memory.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from broadsheet.exports.base import ExportContext, Progress, RowSource
from broadsheet.exports.excel import book as excel_book
from broadsheet.exports.excel.book import Styles, write_text
from broadsheet.exports.excel.cells import Changes, Column, RowEncoder, plan
from broadsheet.exports.excel.rows import RowAppender, style_index

DATA_SHEET = "Data"
ENCODE_BYTES = 8 << 20
SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH = 6.0, 60.0
_FIXED_WIDTHS = {"date": 10, "timestamp": 19, "time": 8, "boolean": 5}


@dataclass
class DataSheets:
    """What was written, for the Report sheet."""

    names: list[str] = field(default_factory=list)
    rows: int = 0
    columns_left_out: int = 0
    changes: Changes = field(default_factory=Changes)


def write_data(
    book: Any,
    styles: Styles,
    ctx: ExportContext,
    rows: RowSource,
    progress: Progress,
    taken: set[str],
) -> DataSheets:
    schema = rows.schema
    kept = min(len(schema), excel_book.MAX_COLUMNS)
    columns = plan(pa.schema(list(schema)[:kept]), ctx.timezone)
    widths = column_widths(columns, rows.head(SAMPLE_ROWS))
    indexes = {name: style_index(getattr(styles, name)) for name in ("date", "datetime", "time")}
    encoder = RowEncoder(columns, indexes)
    done = DataSheets(columns_left_out=len(schema) - kept, changes=encoder.changes)

    def open_sheet() -> _Sheet:
        name = excel_book.sheet_name(DATA_SHEET, taken)
        done.names.append(name)
        return _Sheet(book.add_worksheet(name), columns, widths, styles)

    sheet = open_sheet()
    capacity = excel_book.MAX_SHEET_ROWS - 1  # the header takes a row
    for batch in rows.batches():
        shown = batch.select(list(range(kept))) if kept < batch.num_columns else batch
        for piece in _pieces(shown):
            offset = 0
            while offset < piece.num_rows:
                if sheet.rows == capacity:
                    sheet.finish()
                    sheet = open_sheet()
                part = piece.slice(offset, min(capacity - sheet.rows, piece.num_rows - offset))
                sheet.append(encoder.encode(part, sheet.rows + 2))
                offset += part.num_rows
        done.rows += batch.num_rows
        progress(done.rows)
    sheet.finish()
    return done


class _Sheet:
    """One data sheet being written: header first, then rows appended in order."""

    def __init__(self, sheet: Any, columns: list[Column], widths: list[float], styles: Styles):
        self.sheet = sheet
        self.columns = len(columns)
        for index, (column, width) in enumerate(zip(columns, widths, strict=True)):
            write_text(sheet, 0, index, column.header, styles.header)
            sheet.set_column(index, index, width)
        sheet.freeze_panes(1, 0)
        self.appender = RowAppender(sheet, 1)
        self.rows = 0

    def append(self, xml_rows: pa.Array) -> None:
        if self.columns:  # a result without columns has rows with nothing to show
            self.appender.append(xml_rows, self.rows + 1)
        self.rows += len(xml_rows)

    def finish(self) -> None:
        if not self.columns:
            return
        self.appender.finish(self.columns - 1)
        self.sheet.autofilter(0, 0, self.rows, self.columns - 1)


def _pieces(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """``batch`` in slices of at most ``ENCODE_BYTES`` of Arrow data (at least one row)."""
    size = batch.nbytes
    if size <= ENCODE_BYTES or batch.num_rows <= 1:
        yield batch
        return
    step = max(1, batch.num_rows * ENCODE_BYTES // size)
    for start in range(0, batch.num_rows, step):
        yield batch.slice(start, step)


def column_widths(columns: list[Column], sample: pa.Table) -> list[float]:
    """Widths in characters from each header and the first rows' values, within limits.
    The header gets room for the autofilter button; wide (CJK) characters count twice."""
    widths = []
    for index, column in enumerate(columns):
        longest = display_width(column.header) + 3
        fixed = _FIXED_WIDTHS.get(column.kind)
        if fixed is not None:
            longest = max(longest, fixed + 1)
        elif index < sample.num_columns:
            for value in sample.column(index).to_pylist():
                if value is not None:
                    longest = max(longest, display_width(str(value)[:200]) + 1)
        widths.append(max(MIN_WIDTH, min(MAX_WIDTH, float(longest))))
    return widths


def display_width(text: str) -> int:
    """Columns ``text``'s longest line takes: East Asian wide and full-width characters
    take two."""
    lines = text.splitlines() or [""]
    return max(
        sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)
        for line in lines
    )
