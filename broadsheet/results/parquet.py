"""Writing a query's batches to Parquet, and reading pages and columns back.

The writer keeps at most one row group's batches in memory (bounded by bytes and by rows) and
a running summary per column; the reader touches only the row groups a page needs, so page
9,000 of a million rows costs the same as page 1, and a page of wide rows reads one bounded
row group, not the whole result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from broadsheet.datasources.arrow import type_name
from broadsheet.kit.jsonvalues import jsonable
from broadsheet.storage import Storage

# A row group holds at most this much (Arrow bytes, or rows); see _RowGroups.
ROW_GROUP_BYTES = 8 * 2**20
ROW_GROUP_ROWS = 50_000


@dataclass
class ColumnSummary:
    kind: str
    count: int = 0
    nulls: int = 0
    minimum: Any = None
    maximum: Any = None
    total: Any = None

    def add(self, array: pa.Array) -> None:
        self.nulls += array.null_count
        self.count += len(array) - array.null_count
        if self.kind not in ("integer", "number", "decimal", "date", "timestamp"):
            return
        if len(array) == array.null_count:
            return
        low, high = pc.min_max(array).values()
        self.minimum = _smaller(self.minimum, low.as_py())
        self.maximum = _larger(self.maximum, high.as_py())
        if self.kind in ("integer", "number", "decimal"):
            part = _sum(array, low.as_py(), high.as_py())
            self.total = part if self.total is None else self.total + part

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "nulls": self.nulls}
        if self.minimum is not None:
            out["min"] = jsonable(self.minimum)
            out["max"] = jsonable(self.maximum)
        if self.total is not None:
            out["sum"] = jsonable(self.total)
            out["mean"] = jsonable(float(self.total) / self.count) if self.count else None
        return out


def _sum(array: pa.Array, low: Any, high: Any) -> Any:
    """The array's sum, exact for integers: Arrow adds 64-bit integers in 64 bits and wraps
    around silently (2**63 + 2**63 is 0 in uint64), so where that could happen it adds them
    as decimals."""
    if pa.types.is_integer(array.type):
        count = len(array) - array.null_count
        if max(abs(low), abs(high)) * count > 2**63 - 1:
            return int(pc.sum(array.cast(pa.decimal128(20, 0))).as_py())
    return pc.sum(array).as_py()


def _smaller(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b < a) else a


def _larger(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b > a) else a


@dataclass
class Written:
    key: str
    columns: list[dict[str, str]]
    row_count: int
    size_bytes: int
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)


class _RowGroups:
    """Batches gathered into row groups of up to ``ROW_GROUP_BYTES`` / ``ROW_GROUP_ROWS``.

    The query's first batches are small on purpose (they measure the rows); gathering them
    keeps row groups from being tiny, and the limits keep a row group of wide rows (which a
    page or a chart reads whole) from being huge. A batch past a limit is a group of its own,
    written at once.
    """

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self.writer = writer
        self.held: list[pa.RecordBatch] = []
        self.rows = 0
        self.bytes = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if self.held and (
            self.rows + batch.num_rows > ROW_GROUP_ROWS
            or self.bytes + batch.nbytes > ROW_GROUP_BYTES
        ):
            self.flush()
        self.held.append(batch)
        self.rows += batch.num_rows
        self.bytes += batch.nbytes
        if self.rows >= ROW_GROUP_ROWS or self.bytes >= ROW_GROUP_BYTES:
            self.flush()  # full: written now, not held while the next batch is fetched

    def flush(self) -> None:
        if self.held:
            table = pa.Table.from_batches(self.held)
            self.writer.write_table(table, row_group_size=max(self.rows, 1))
        self.held, self.rows, self.bytes = [], 0, 0


def write(batches: Iterable[pa.RecordBatch], storage: Storage, key: str) -> Written:
    scratch = storage.scratch_file(".parquet")
    writer: pq.ParquetWriter | None = None
    groups: _RowGroups | None = None
    summaries: dict[str, ColumnSummary] = {}
    rows = 0
    schema: pa.Schema | None = None
    try:
        for batch in batches:
            if writer is None:
                schema = batch.schema
                writer = pq.ParquetWriter(scratch, schema, compression="zstd")
                groups = _RowGroups(writer)
                summaries = {f.name: ColumnSummary(type_name(f.type)) for f in schema}
            if batch.num_rows:
                assert groups is not None
                groups.add(batch)
                for name, column in zip(batch.schema.names, batch.columns, strict=True):
                    summaries[name].add(column)
            rows += batch.num_rows
            del batch  # held by the row group alone, and only until it is written
        if writer is None:
            raise ValueError("the query produced no result set")
        assert groups is not None
        groups.flush()
        writer.close()
        writer = None
        size = scratch.stat().st_size
        storage.put_file(key, scratch)
    finally:
        if writer is not None:
            writer.close()
        scratch.unlink(missing_ok=True)
    assert schema is not None
    return Written(
        key=key,
        columns=[{"name": f.name, "type": type_name(f.type)} for f in schema],
        row_count=rows,
        size_bytes=size,
        summary={name: s.as_json() for name, s in summaries.items()},
    )


def read_page(path: Path, offset: int, limit: int) -> list[dict[str, Any]]:
    """Rows [offset, offset+limit) as JSON-safe dicts, reading only the row groups needed."""
    parquet = pq.ParquetFile(path)
    wanted: list[pa.Table] = []
    start = 0
    for index in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(index).num_rows
        end = start + size
        if end > offset and start < offset + limit:
            first = max(offset - start, 0)  # within this group
            wanted.append(
                parquet.read_row_group(index).slice(first, offset + limit - start - first)
            )
        if end >= offset + limit:
            break
        start = end
    if not wanted:
        return []
    table = pa.concat_tables(wanted)
    return [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


def read_columns(
    path: Path, columns: list[str] | None = None, max_rows: int | None = None
) -> pa.Table:
    """The given columns; past ``max_rows``, evenly spaced row groups holding about that many."""
    parquet = pq.ParquetFile(path, memory_map=True)
    total = parquet.metadata.num_rows
    if max_rows is None or total <= max_rows or parquet.num_row_groups < 2:
        return parquet.read(columns=columns)
    groups = parquet.num_row_groups
    wanted = max(1, min(groups, -(-groups * max_rows // total)))  # ceil(groups * share)
    picked = sorted({round(i * groups / wanted) for i in range(wanted)})
    return parquet.read_row_groups(picked, columns=columns)


def read_head(path: Path, rows: int) -> pa.Table:
    """The first ``rows`` rows, all columns, reading only the row groups they live in."""
    parquet = pq.ParquetFile(path)
    tables: list[pa.Table] = []
    have = 0
    for index in range(parquet.num_row_groups):
        if have >= rows:
            break
        group = parquet.read_row_group(index)
        tables.append(group.slice(0, rows - have))
        have += min(group.num_rows, rows - have)
    return pa.concat_tables(tables) if tables else parquet.schema_arrow.empty_table()
