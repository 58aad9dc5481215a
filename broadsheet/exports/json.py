"""JSON (one document) and NDJSON (one row object per line), both streamed.

Dates and times are ISO 8601; a decimal is a JSON number when a double holds it exactly and
a string otherwise (``"12345678901234567.89"``), and an integer is a JSON number within
±(2**53 - 1), the integers JavaScript and jq hold exactly, and a string of its digits outside
(``"9007199254740993"``, ``"18446744073709551615"``): no figure is silently rounded by
whatever reads the file.

Columns whose values are JSON as they come (integers, text, booleans) skip the per-value
conversion, and rows are written by orjson: a million rows in seconds, not minutes.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from broadsheet.exports.base import ExportContext, Progress, RowSource
from broadsheet.kit.jsonvalues import jsonable

# The largest integer a double, hence JavaScript's Number and jq, holds with all its
# neighbours (Number.MAX_SAFE_INTEGER): past it, 2**53 + 1 reads back as 2**53.
MAX_SAFE_INTEGER = 2**53 - 1


def _rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    names = batch.schema.names
    columns = [_values(column) for column in batch.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _values(column: pa.Array) -> list[Any]:
    """The column's values as JSON wants them, converted by Arrow where it can (a whole
    column at once), else value by value."""
    if pa.types.is_dictionary(column.type):  # the values, so each type gets its own rule
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_integer(kind):
        return _integers(column)
    if pa.types.is_floating(kind):  # NaN and ±∞ have no JSON: null, as jsonable() says
        column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
    elif pa.types.is_date(kind):  # ISO 8601, as date.isoformat() writes it
        column = pc.cast(column, pa.string())
    elif not _as_is(kind):
        return [jsonable(v) for v in column.to_pylist()]
    values: list[Any] = column.to_pylist()
    return values


def _integers(column: pa.Array) -> list[Any]:
    """Integers as numbers, but as strings of their digits outside ±``MAX_SAFE_INTEGER``.
    One look at the batch's range settles the usual case, where every value is a number."""
    values: list[Any] = column.to_pylist()
    if column.type.bit_width < 54 or column.null_count == len(column):
        return values
    low, high = (scalar.as_py() for scalar in pc.min_max(column).values())
    if low >= -MAX_SAFE_INTEGER and high <= MAX_SAFE_INTEGER:
        return values
    return [
        str(value)
        if value is not None and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
        else value
        for value in values
    ]


def _as_is(kind: pa.DataType) -> bool:
    """Python values of this type are already what the JSON should hold."""
    return bool(
        pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
    )


def _dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (what ``json.dumps(..., ensure_ascii=False)`` writes, faster)."""
    return orjson.dumps(value)


class JsonExporter:
    name = "json"
    media_type = "application/json"
    extension = "json"

    def write(self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress) -> None:
        head = {
            "report": ctx.report,
            "resultId": ctx.result_id,
            "generatedAt": ctx.generated_at.isoformat(),
            "timezone": ctx.timezone,
            "parameters": ctx.parameters,
            "columns": ctx.columns,
            "rowCount": ctx.row_count,
        }
        out.write(_dumps(head)[:-1] + b',"rows":[')
        written = 0
        for batch in rows.batches():
            if batch.num_rows:
                # Each row's own bytes object, each freed at once: joining orjson's outputs
                # with a separator kept them all alive and ran three times slower.
                chunk = b"".join(b",\n" + _dumps(row) for row in _rows(batch))
                out.write(chunk if written else b"\n" + chunk[2:])
                written += batch.num_rows
            progress(written)
        out.write(b"\n]}\n")


class NdjsonExporter:
    name = "ndjson"
    media_type = "application/x-ndjson"
    extension = "ndjson"

    def write(self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress) -> None:
        written = 0
        for batch in rows.batches():
            out.write(b"".join(_dumps(row) + b"\n" for row in _rows(batch)))
            written += batch.num_rows
            progress(written)


JSON = JsonExporter()
NDJSON = NdjsonExporter()
