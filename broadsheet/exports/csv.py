"""CSV: RFC 4180, UTF-8, CRLF line ends, ISO 8601 times, formula injection neutralised.

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


class CsvExporter:
    name = "csv"
    media_type = "text/csv; charset=utf-8"
    extension = "csv"

    def write(self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress) -> None:
        if ctx.options.bom:
            out.write(BOM)
        schema = pa.schema([pa.field(f.name, _text_type(f.type)) for f in rows.schema])
        # Column names come from the query (or, pivoted, from data): neutralised like cells.
        names = neutralise(pa.array(schema.names, pa.string())).to_pylist()
        header = pa.schema([pa.field(n, f.type) for n, f in zip(names, schema, strict=True)])
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


def _text_type(arrow_type: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_timestamp(arrow_type) else arrow_type


def safe_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = neutralise(column)
        elif pa.types.is_timestamp(column.type):
            column = iso_timestamps(column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


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


def iso_timestamps(column: pa.Array) -> pa.Array:
    """``2024-03-10T06:30:00Z`` (UTC for zoned values), fractions only when there are any."""
    if column.type.tz is not None:
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
    text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
    text = pc.replace_substring_regex(text, pattern=r"\.0+$", replacement="")
    if column.type.tz is not None:
        text = pc.binary_join_element_wise(text, "Z", "")
    return text


EXPORTER = CsvExporter()
