"""Parquet: the result's own typed rows, with the report's context in the file metadata."""

from __future__ import annotations

import json
from typing import BinaryIO

import pyarrow.parquet as pq

from broadsheet.exports.base import ExportContext, Progress, RowSource


class ParquetExporter:
    name = "parquet"
    media_type = "application/vnd.apache.parquet"
    extension = "parquet"

    def write(self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress) -> None:
        metadata = {
            b"broadsheet": json.dumps(
                {
                    "report": ctx.report,
                    "resultId": ctx.result_id,
                    "generatedAt": ctx.generated_at.isoformat(),
                    "parameters": ctx.parameters,
                },
                ensure_ascii=False,
            ).encode()
        }
        schema = rows.schema.with_metadata(metadata)
        written = 0
        with pq.ParquetWriter(out, schema, compression="zstd") as writer:
            for batch in rows.batches():
                writer.write_batch(batch.replace_schema_metadata(metadata))
                written += batch.num_rows
                progress(written)


EXPORTER = ParquetExporter()
