"""JSON (one document) and NDJSON (one row object per line), both streamed.

Dates and times are ISO 8601; a decimal is a JSON number when a double holds it exactly and
a string otherwise (``"12345678901234567.89"``), so no figure is silently rounded.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import pyarrow as pa

from broadsheet.exports.base import ExportContext, Progress, RowSource
from broadsheet.kit.jsonvalues import jsonable


def _rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    names = batch.schema.names
    columns = [[jsonable(v) for v in column.to_pylist()] for column in batch.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


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
            for row in _rows(batch):
                out.write((b",\n" if written else b"\n") + _dumps(row))
                written += 1
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
