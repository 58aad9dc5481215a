"""Appending pre-encoded rows to an XlsxWriter worksheet: the one place that goes behind
XlsxWriter's public API, kept small so that an XlsxWriter upgrade has one thing to check.

In ``constant_memory`` mode XlsxWriter writes each finished row of a sheet as XML to a
temporary file (``row_data_fh``) and, when the workbook closes, copies that file into the
sheet's ``<sheetData>``. Its public ``write_*`` calls cost ~6 µs a cell; ``cells``
encodes whole batches in Arrow instead, and this appends their XML to that same file, then
tells the sheet how far its data reaches (for the ``<dimension>`` element) and that those
rows are written (so a later ``write_*`` to one of them is refused instead of misplaced).
Everything else about the sheet — header, widths, frozen panes, autofilter — is public API.
``tests/exports/test_excel.py`` reads the files back, so a change in these internals fails
there rather than in a user's spreadsheet.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pyarrow as pa

_NEEDED = (
    "constant_memory",
    "row_data_fh",
    "previous_row",
    "_write_single_row",
    "_check_dimensions",
)


class RowAppender:
    """Streams ``<row>`` XML into a constant_memory ``sheet`` after rows written normally."""

    def __init__(self, sheet: Any, next_row: int) -> None:
        """``next_row``: 0-based index of the first row this will append; every row above it
        must already be written with the public API (the header)."""
        missing = [name for name in _NEEDED if not hasattr(sheet, name)]
        if missing or not sheet.constant_memory:
            raise RuntimeError(
                "this XlsxWriter no longer streams constant_memory rows through row_data_fh "
                f"(missing: {', '.join(missing) or 'constant_memory'}); "
                "see broadsheet/exports/excel/rows.py"
            )
        self.sheet = sheet
        # Flush the rows written so far (XlsxWriter holds the last one until the next row).
        sheet._write_single_row(next_row)
        self.last_row: int | None = None

    def append(self, rows: pa.Array, first: int) -> None:
        """Append ``rows`` (XML strings without nulls, one ``<row>`` each) whose first is row
        ``first`` (0-based); rows must come in order."""
        if len(rows) == 0:
            return
        handle = self.sheet.row_data_fh
        handle.flush()  # the text layer above the bytes we write
        handle.buffer.write(_contiguous_bytes(rows))
        self.last_row = first + len(rows) - 1

    def finish(self, last_col: int) -> None:
        """Record the extent of the appended rows on the sheet."""
        if self.last_row is None:
            return
        self.sheet.row_data_fh.buffer.flush()
        self.sheet.previous_row = self.last_row
        self.sheet._check_dimensions(self.last_row, last_col)


def _contiguous_bytes(strings: pa.Array) -> memoryview:
    """The UTF-8 bytes of every value of a null-free string array, one after another, taken
    straight from its data buffer (no Python string per row)."""
    if strings.null_count:
        raise ValueError("rows to append must not be null")
    if not pa.types.is_large_string(strings.type):
        strings = strings.cast(pa.large_string())
    _, offsets, data = strings.buffers()
    if data is None:
        return memoryview(b"")
    last = strings.offset + len(strings)
    positions = memoryview(offsets)[: (last + 1) * 8].cast("q")
    return memoryview(data)[positions[strings.offset] : positions[last]]


def style_index(style: Any) -> int:
    """The index Excel knows an XlsxWriter format by (the ``s`` attribute of a cell), assigned
    now if the format has not been used yet, exactly as writing a cell with it would."""
    return int(style._get_xf_index())


def discard(book: Any) -> None:
    """Give up on an unfinished workbook: close and delete its sheets' temporary row files
    (``close()`` would write the half-built file to the output)."""
    for sheet in book.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        if handle is not None and not handle.closed:
            handle.close()
        path = getattr(sheet, "row_data_filename", None)
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)
    book.fileclosed = True  # a later close() then only warns, instead of writing the file
