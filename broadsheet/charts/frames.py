"""Arrow tables cut down to what a chart can show, and turned into JSON-able rows.

Everything proportional to the result's size happens here, vectorised in Arrow (group by, sort,
filter, take); Python only ever touches the bounded output.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]


def column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """The first column called ``name``: a query may return two columns of the same name."""
    return table.column(table.column_names.index(name))


def project(table: pa.Table, names: list[str]) -> pa.Table:
    """The named columns, each once, as a table whose names are unique."""
    return pa.table({name: column(table, name) for name in dict.fromkeys(names)})


def drop_invalid(table: pa.Table, names: list[str]) -> pa.Table:
    """Rows whose named columns are all present (and finite, for floats): a point without a
    position cannot be drawn, and would only use up the point budget."""
    mask = None
    for name in dict.fromkeys(names):
        values = table.column(name)
        valid = pc.is_valid(values)
        if pa.types.is_floating(values.type):
            valid = pc.and_(valid, pc.is_finite(values))
        mask = valid if mask is None else pc.and_(mask, valid)
    return table if mask is None else table.filter(mask)


def aggregate(table: pa.Table, keys: list[str], value: str, how: str) -> pa.Table:
    """One row per group of ``keys``, sorted by them, as columns ``k0``…``kN`` and ``v``.

    Positional names keep this right when the mapping uses one column twice (``x`` = ``y``).
    ``count`` counts rows, nulls included, as Vega-Lite's count does.
    """
    data = {f"k{i}": column(table, key) for i, key in enumerate(keys)}
    values = column(table, value)
    if pa.types.is_decimal(values.type):
        values = values.cast(pa.float64())
    data["v"] = values
    names = list(data)[:-1]
    spec = ("v", "count", pc.CountOptions(mode="all")) if how == "count" else ("v", how)
    grouped = pa.table(data).group_by(names, use_threads=False).aggregate([spec])
    grouped = grouped.select([*names, f"v_{how}"]).rename_columns([*names, "v"])
    return grouped.sort_by([(name, "ascending") for name in names])


def keep_largest(grouped: pa.Table, by: str, budget: int) -> pa.Table:
    """At most ``budget`` rows of an ``aggregate`` result, keeping whole categories of ``by``
    (so no stack or heatmap column is left half drawn), largest total ``|v|`` first."""
    if grouped.num_rows <= budget:
        return grouped
    weight = pc.fill_null(pc.abs(grouped.column("v")), 0)
    work = pa.table({"k": grouped.column(by), "w": weight})
    per_key = work.group_by(["k"], use_threads=False).aggregate([("w", "sum"), ([], "count_all")])
    per_key = per_key.sort_by([("w_sum", "descending"), ("k", "ascending")])
    fits = pc.less_equal(pc.cumulative_sum(per_key.column("count_all")), budget)
    kept = per_key.filter(fits).column("k").combine_chunks()
    if len(kept) == 0:  # the largest category alone has more groups than the budget
        order = pc.sort_indices(work, sort_keys=[("w", "descending")])[:budget]
        return grouped.take(pc.sort_indices(order))
    return grouped.filter(pc.is_in(grouped.column(by), value_set=kept))


def stride_positions(count: int, budget: int) -> list[int]:
    """``budget`` evenly spaced positions in ``range(count)``, first and last included
    (all of them when they fit). Deterministic: the same data always gives the same chart."""
    if count <= budget:
        return list(range(count))
    step = (count - 1) / (budget - 1)
    return [round(i * step) for i in range(budget)]


def take(table: pa.Table, positions: list[int]) -> pa.Table:
    if len(positions) == table.num_rows:
        return table
    return table.take(pa.array(positions, pa.int64()))


def to_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-able dicts: ISO 8601 dates and times (an aware timestamp keeps its offset),
    decimals as floats, NaN and infinities as null, binary values as null."""
    names = table.column_names
    columns = [_python_values(table.column(i)) for i in range(table.num_columns)]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


_PLAIN = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_boolean)
_BINARY = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary)


def _python_values(values: pa.ChunkedArray) -> list[Any]:
    kind = values.type
    if pa.types.is_dictionary(kind):
        return _python_values(values.cast(kind.value_type))
    if any(test(kind) for test in _BINARY) or str(kind) == "binary_view":
        return [None] * len(values)
    if pa.types.is_decimal(kind):
        values = values.cast(pa.float64())
    elif getattr(kind, "unit", None) == "ns":
        # Python's datetime stops at microseconds; Arrow refuses to drop the nanoseconds itself.
        values = values.cast(_in_microseconds(kind), safe=False)
    try:
        python = values.to_pylist()
    except ValueError:  # e.g. nanosecond timestamps nested in a list or struct
        return [None] * len(values)
    if any(test(kind) for test in _PLAIN):
        return list(python)
    return [jsonable(value) for value in python]


def _in_microseconds(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz=kind.tz)
    if pa.types.is_time64(kind):
        return pa.time64("us")
    return pa.duration("us")


def jsonable(value: Any) -> Any:
    """One Python value from Arrow as JSON: see ``to_rows``. Durations become seconds."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)
