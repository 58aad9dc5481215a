"""The one interface every exporter implements.

An exporter gets the result's metadata (``ExportContext``) and its rows (``RowSource``, read
in Arrow batches, never all at once) and writes one file to a binary stream. A new format is
one new module registered in ``registry.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DEFAULT_PDF_MAX_ROWS = 1000
MAX_PDF_MAX_ROWS = 10_000
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ExportOptions:
    """What a request may change about an export. Part of the cache key of the file."""

    bom: bool = False
    pdf_max_rows: int = DEFAULT_PDF_MAX_ROWS

    def key(self, fmt: str) -> str:
        """The options that change this format's bytes, as a file-name-safe string."""
        if fmt == "csv":
            return "bom" if self.bom else "plain"
        if fmt == "pdf":
            return f"rows{self.pdf_max_rows}"
        return "default"


@dataclass(frozen=True)
class ExportContext:
    """Everything about the result except its rows."""

    result_id: str
    report: dict[str, Any]  # id, name, description, category, version
    generated_at: datetime  # aware, UTC
    timezone: str  # the report's IANA zone: how times are shown to people
    parameters: dict[str, Any]
    columns: list[dict[str, str]]  # [{"name": ..., "type": ...}] in Broadsheet's type names
    row_count: int
    summary: dict[str, dict[str, Any]]
    visualizations: list[dict[str, Any]]  # {id, type, title, data: {spec, chartData}, error?}
    options: ExportOptions = field(default_factory=ExportOptions)
    # Where the whole data can be had when a format shows only part of it (the PDF's cap).
    full_data_hint: str = "the CSV or Excel export of this result"
    # Where an exporter keeps its temporary files: the storage's scratch folder under the data
    # folder (swept by maintenance), so a full system temp folder cannot fail an export.
    scratch_dir: Path | None = None

    @property
    def report_name(self) -> str:
        return str(self.report.get("name") or "report")


def report_zone(name: str) -> ZoneInfo:
    """The report's zone, by its IANA name; UTC for a name this machine does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    """An instant (aware) as the time in ``zone``; a naive time, of no stated zone, as it is.
    Every export that shows times to people (Excel, PDF, file names) converts them here."""
    return moment.astimezone(zone) if moment.tzinfo else moment


def column_in_zone(values: pa.Array, zone: ZoneInfo) -> pa.Array:
    """:func:`in_zone` for a timestamp column: zoned values as the naive local times in
    ``zone``; naive ones as they are."""
    if values.type.tz is None:
        return values
    return pc.local_timestamp(values.cast(pa.timestamp(values.type.unit, tz=str(zone))))


class RowSource(Protocol):
    @property
    def row_count(self) -> int: ...

    @property
    def schema(self) -> pa.Schema: ...

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every row, in order, a batch at a time."""

    def head(self, rows: int, *, text_chars: int | None = None) -> pa.Table:
        """The first ``rows`` rows (for formats that show only part of the result), text cut
        to ``text_chars`` characters when given (see :func:`cut_text`)."""


Progress = Callable[[int], None]  # called with the number of rows written so far


class Exporter(Protocol):
    name: str  # the ?format= value
    media_type: str
    extension: str

    def write(
        self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress
    ) -> None: ...


class ParquetSource:
    """Rows of a stored result file."""

    def __init__(self, path: Path) -> None:
        self.file = pq.ParquetFile(path)

    def _group_rows(self) -> int:
        """The rows of the smallest row group (but the last). Generation closes a row group at
        8 MB of rows, so a batch no larger spans at most two groups: about 16 MB however wide
        the rows. (Parquet's own byte counts are of encoded data: 200 kB of repeated text
        counts as a few bytes there, so they cannot size a batch.)"""
        meta = self.file.metadata
        sizes = [int(meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
        return max(1, min(sizes[:-1] or sizes or [1]))

    @property
    def row_count(self) -> int:
        return int(self.file.metadata.num_rows)

    @property
    def schema(self) -> pa.Schema:
        return self.file.schema_arrow

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Batches of at most ``batch_rows`` rows and a row group's, read one ahead on another
        thread: Parquet decoding and the exporter's writing both release the GIL, so on two
        cores the reading costs almost nothing."""
        size = min(batch_rows, self._group_rows())
        yield from _read_ahead(self.file.iter_batches(batch_size=size))

    def head(self, rows: int, *, text_chars: int | None = None) -> pa.Table:
        taken: list[pa.RecordBatch] = []
        have = 0
        size = min(max(rows, 1), BATCH_ROWS, self._group_rows())
        for batch in self.file.iter_batches(batch_size=size):
            if have >= rows:
                break
            taken.append(cut_text(batch.slice(0, rows - have), text_chars))
            have += min(batch.num_rows, rows - have)
        return pa.Table.from_batches(taken, schema=self.schema)


def cut_text(batch: pa.RecordBatch, chars: int | None) -> pa.RecordBatch:
    """``batch`` with its text columns cut to ``chars`` characters in Arrow (``None``: as it
    is), so a head of wide text is never held, nor turned into Python strings, whole."""
    if chars is None:
        return batch
    for index, column in enumerate(batch.schema):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            batch = batch.set_column(
                index, column, pc.utf8_slice_codeunits(batch.column(index), 0, chars)
            )
    return batch


def _read_ahead(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The next batch is read on one helper thread while the caller works on this one. If the
    caller stops early, leaving waits only for the one batch being read: it cannot hang."""
    source = iter(batches)
    with ThreadPoolExecutor(1, thread_name_prefix="parquet-read-ahead") as reader:
        pending = reader.submit(next, source, None)
        while (batch := pending.result()) is not None:
            pending = reader.submit(next, source, None)
            yield batch


class TableSource:
    """Rows of an in-memory table (tests, and small derived results)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        yield from self.table.to_batches(max_chunksize=batch_rows)

    def head(self, rows: int, *, text_chars: int | None = None) -> pa.Table:
        return pa.Table.from_batches(
            [cut_text(b, text_chars) for b in self.table.slice(0, rows).to_batches()],
            schema=self.table.schema,
        )
