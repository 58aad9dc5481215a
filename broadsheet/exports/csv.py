"""CSV: RFC 4180, UTF-8, CRLF line ends, ISO 8601 times, formula injection neutralised.

Dates, times and numbers are written bare, text always quoted. A timestamp is
``2024-03-10 06:30:00``, with fractions of a second (``.250``, ``.000600``) only when
the values have them (to the precision the batch of rows needs: beside ``.250`` a whole
second is ``.000``): the form LibreOffice, Excel, DuckDB and pandas all read as a date-time,
also with LibreOffice's "quoted field as text" (which is why it is never quoted). A
timestamp with a zone is written as its time in UTC (the same instant as before, without the
``Z`` that spreadsheets do not read); one without a zone as it is. Neither is converted to the
report's zone.

Encoded by Arrow's C++ CSV writer, batches on two threads at once (it releases the GIL) and
written in order; the only per-value work in Python's reach is vectorised: risky text cells
(those starting with ``= + - @``, tab or carriage return, as OWASP lists) get a leading single
quote unless they are a plain number such as ``-42``. Numeric columns are never quoted or
altered.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from broadsheet.exports.base import BATCH_ROWS, ExportContext, Progress, RowSource

BOM = b"\xef\xbb\xbf"
ENCODERS = 2
RISKY_FIRST = pa.array(["=", "+", "-", "@", "\t", "\r"])
PLAIN_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_UNITS = ("s", "ms", "us", "ns")  # coarsest first


class CsvExporter:
    name = "csv"
    media_type = "text/csv; charset=utf-8"
    extension = "csv"

    def write(self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress) -> None:
        if ctx.options.bom:
            out.write(BOM)
        schema = rows.schema
        # Column names come from the query (or, pivoted, from data): neutralised like cells.
        names = neutralise(pa.array(schema.names, pa.string())).to_pylist()
        header = pa.schema([pa.field(n, pa.null()) for n in names])
        out.write(_encode(pa.RecordBatch.from_pylist([], schema=header), header=True))
        written = 0
        with ThreadPoolExecutor(ENCODERS, thread_name_prefix="csv") as pool:
            pending: deque[Future[tuple[bytes, int]]] = deque()
            for batch in rows.batches():
                pending.append(pool.submit(_encode_batch, batch, schema))
                if len(pending) > ENCODERS:  # bounded: at most a few batches in memory
                    written = _drain(pending.popleft(), out, written, progress)
            while pending:
                written = _drain(pending.popleft(), out, written, progress)


def _drain(
    future: Future[tuple[bytes, int]], out: BinaryIO, written: int, progress: Progress
) -> int:
    data, count = future.result()
    out.write(data)
    progress(written + count)
    return written + count


def _encode_batch(batch: pa.RecordBatch, schema: pa.Schema) -> tuple[bytes, int]:
    return _encode(safe_batch(batch, schema), header=False), batch.num_rows


def _encode(batch: pa.RecordBatch, *, header: bool) -> bytes:
    sink = pa.BufferOutputStream()
    options = pacsv.WriteOptions(
        include_header=header, eol="\r\n", quoting_style="needed", batch_size=BATCH_ROWS
    )
    pacsv.write_csv(batch, sink, write_options=options)
    return bytes(sink.getvalue())


def safe_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = neutralise(column)
        elif pa.types.is_timestamp(column.type):
            column = bare_timestamps(column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=schema.names)


def neutralise(column: pa.Array) -> pa.Array:
    """Prefix a quote to text a spreadsheet would run as a formula.

    The first character decides (a cheap vectorised look-up); only the few risky cells are
    then checked against the plain-number pattern, and a batch without any is left as it is.
    """
    risky = pc.is_in(pc.utf8_slice_codeunits(column, 0, 1), value_set=RISKY_FIRST)
    if not pc.any(risky).as_py():
        return column
    risky = pc.and_(risky, pc.invert(pc.match_substring_regex(column, PLAIN_NUMBER)))
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


def bare_timestamps(column: pa.Array) -> pa.Array:
    """Naive timestamps (the UTC time of zoned ones) in the coarsest unit that holds every
    value of this batch, which Arrow's writer prints unquoted as ``2024-03-10 06:30:00``,
    ``2024-03-10 06:30:00.250`` or ``2024-03-10 06:30:00.000600``: fractions only when the
    values have them."""
    unit = column.type.unit
    # A cast to a naive type keeps the stored UTC value: a zoned value's time in UTC.
    column = column.cast(pa.timestamp(unit))
    for coarser in _UNITS[: _UNITS.index(unit)]:
        try:  # a safe cast refuses to drop a fraction: it succeeds when none has one
            return column.cast(pa.timestamp(coarser))
        except pa.ArrowInvalid:
            continue
    return column


EXPORTER = CsvExporter()
