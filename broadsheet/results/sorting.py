"""Pages of a result's rows sorted by one column over the whole result (the result page's
column headers): stable (equal values keep the query's order) and nulls last, either way.

The cost is bounded and paid once per column and direction:

- The order is worked out from the sort column alone (never the other columns), by Arrow's
  stable ``sort_indices``, and kept in storage beside the result as a Parquet file of row
  numbers (``<result>/sorted/<dataset>/<column index>-<asc|desc>.parquet``), so the next page
  in that order reads 50 numbers instead of sorting again. It goes when the result goes
  (everything under the result's key does).
- A page then reads only the row groups its rows live in, one at a time, keeping just those
  rows: memory stays about one row group whatever the result's size.
- Results of more than ``MAX_SORT_ROWS`` rows are not sorted (the page says so and offers the
  downloads): the sort column and its order of up to 2,000,000 rows take tens of megabytes
  and well under a second; a hundred million would not.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from broadsheet.kit.jsonvalues import jsonable
from broadsheet.storage import Storage

MAX_SORT_ROWS = 2_000_000
ORDER_COLUMN = "row"
ORDER_GROUP_ROWS = 65_536
DIRECTIONS = {"asc": "ascending", "desc": "descending"}


class CannotSort(ValueError):
    """The column's values have no order Arrow knows (nothing a result holds today)."""


def sortable(row_count: int) -> bool:
    return row_count <= MAX_SORT_ROWS


def sorted_page(
    storage: Storage,
    storage_key: str,
    dataset: str,
    column: str,
    direction: str,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Rows [offset, offset+limit) of the dataset in ``column``'s order, as JSON-safe dicts
    (as ``parquet.read_page`` gives them). ``direction`` is ``asc`` or ``desc``."""
    data = storage.local_path(f"{storage_key}{dataset}.parquet")
    parquet = pq.ParquetFile(data)
    names = parquet.schema_arrow.names
    if column not in names or direction not in DIRECTIONS:
        raise CannotSort(f"no column {column!r} to sort {direction!r} by")
    key = f"{storage_key}sorted/{dataset}/{names.index(column)}-{direction}.parquet"
    if not storage.exists(key):
        _write_order(storage, key, parquet, column, DIRECTIONS[direction])
    numbers = _slice(storage.local_path(key), offset, limit)
    return _rows_at(parquet, numbers)


def _write_order(
    storage: Storage, key: str, parquet: pq.ParquetFile, column: str, order: str
) -> None:
    values = parquet.read(columns=[column])
    try:
        # Arrow's sort is stable, and puts NaN after the numbers and nulls after everything,
        # whichever the direction (its default null placement, at the end).
        indices = pc.sort_indices(values, sort_keys=[(column, order)])
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise CannotSort(f"the values of {column!r} cannot be ordered: {exc}") from None
    del values
    scratch = storage.scratch_file(".parquet")
    try:
        table = pa.table({ORDER_COLUMN: indices.cast(pa.int64())})
        pq.write_table(table, scratch, row_group_size=ORDER_GROUP_ROWS, compression="zstd")
        storage.put_file(key, scratch)  # two at once write the same file: either is right
    finally:
        scratch.unlink(missing_ok=True)


def _slice(order: Path, offset: int, limit: int) -> list[int]:
    """Row numbers [offset, offset+limit) of the stored order, from its row groups in range."""
    parquet = pq.ParquetFile(order)
    numbers: list[int] = []
    start = 0
    for index in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(index).num_rows
        end = start + size
        if end > offset and start < offset + limit:
            group = parquet.read_row_group(index, columns=[ORDER_COLUMN]).column(0)
            first = max(offset - start, 0)
            numbers.extend(group.slice(first, offset + limit - start - first).to_pylist())
        if end >= offset + limit:
            break
        start = end
    return numbers


def _rows_at(parquet: pq.ParquetFile, numbers: list[int]) -> list[dict[str, Any]]:
    """The rows at ``numbers`` (positions in the file), in that order, reading each row group
    that holds any of them once."""
    starts = []
    start = 0
    for index in range(parquet.num_row_groups):
        starts.append(start)
        start += parquet.metadata.row_group(index).num_rows
    wanted: dict[int, list[int]] = {}
    for number in numbers:
        group = bisect.bisect_right(starts, number) - 1
        wanted.setdefault(group, []).append(number)
    found: dict[int, dict[str, Any]] = {}
    for group, members in wanted.items():
        table = parquet.read_row_group(group)
        local = pa.array([n - starts[group] for n in members], type=pa.int64())
        for number, row in zip(members, table.take(local).to_pylist(), strict=True):
            found[number] = {k: jsonable(v) for k, v in row.items()}
        del table
    return [found[n] for n in numbers]
