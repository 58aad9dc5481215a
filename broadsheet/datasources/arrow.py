"""Rows from a DB-API cursor → Arrow record batches with one fixed schema.

The schema is settled on the first batch: from the driver's type codes where it gives them
(PostgreSQL, MySQL/MariaDB), otherwise from the values (SQLite, whose declared DATE, TIMESTAMP
and BOOLEAN columns the connector already turns into Python dates and booleans). Later batches
are converted to that schema; a column whose values change type part-way (possible in SQLite)
fails with a message that says how to fix the query, rather than writing a file no reader can
trust.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc

# Broadsheet's column type names, as results and exports show them.
ColumnType = Literal[
    "string", "integer", "number", "decimal", "boolean", "date", "timestamp", "time"
]
TYPE_NAMES: tuple[str, ...] = get_args(ColumnType)

_PG_OIDS: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1083: pa.time64("us"),
    25: pa.string(),
    1042: pa.string(),
    1043: pa.string(),
    19: pa.string(),
    2950: pa.string(),
}
_MYSQL_FIELDS: dict[int, pa.DataType] = {
    1: pa.int64(),
    2: pa.int64(),
    3: pa.int64(),
    8: pa.int64(),
    9: pa.int64(),
    13: pa.int64(),
    4: pa.float64(),
    5: pa.float64(),
    10: pa.date32(),
    7: pa.timestamp("us"),
    12: pa.timestamp("us"),
    15: pa.string(),
    253: pa.string(),
    254: pa.string(),
    247: pa.string(),
    248: pa.string(),
    245: pa.string(),
}
MYSQL_LONGLONG = 8  # BIGINT; with the UNSIGNED flag its values reach 2**64 - 1
PG_NUMERIC = 1700
_DUCKDB_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
MYSQL_DECIMALS = (0, 246)


class MixedTypes(ValueError):
    """A column's values do not fit the type its first rows gave it."""


def type_name(arrow_type: pa.DataType) -> ColumnType:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "number"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_time(arrow_type):
        return "time"
    return "string"


def hinted_type(
    backend: str, description: Sequence[Any], *, unsigned: bool = False
) -> pa.DataType | None:
    """The Arrow type a driver's cursor.description entry implies, when it says enough.

    ``unsigned``: the column carries MySQL's UNSIGNED flag (not part of the DB-API
    description), so a BIGINT holds up to 2**64 - 1 and is kept exact as uint64.
    """
    code = description[1]
    if backend == "postgresql" and isinstance(code, int):
        if code == PG_NUMERIC:
            return _decimal(description)
        return _PG_OIDS.get(code)
    if backend in ("mysql", "mariadb") and isinstance(code, int):
        if code in MYSQL_DECIMALS:
            return _decimal(description)
        if code == MYSQL_LONGLONG and unsigned:
            return pa.uint64()
        return _MYSQL_FIELDS.get(code)
    if backend == "duckdb":
        if str(code) == "UBIGINT":
            return pa.uint64()
        if declared := _DUCKDB_DECIMAL.fullmatch(str(code)):
            # DuckDB names the type, e.g. DECIMAL(20,2) (SUM() of one too), hands out Decimals.
            precision, scale = int(declared[1]), int(declared[2])
            return pa.decimal128(precision, scale) if 0 < precision <= 38 else pa.float64()
    return None


def _decimal(description: Sequence[Any]) -> pa.DataType:
    # Exact decimals where the column declares precision and scale; an unconstrained NUMERIC
    # (AVG(), SUM() of numerics) has no fixed scale, so it becomes a float.
    precision, scale = description[4], description[5]
    if isinstance(precision, int) and isinstance(scale, int) and 0 < precision <= 38:
        return pa.decimal128(precision, max(scale, 0))
    return pa.float64()


def _value_type(values: Sequence[Any]) -> pa.DataType:
    sample = next((v for v in values if v is not None), None)
    if sample is None:
        return pa.string()  # nothing to go on: all null so far
    if isinstance(sample, bool):
        return pa.bool_()
    if isinstance(sample, int):
        if any(isinstance(v, float) for v in values):
            return pa.float64()
        return _integer_type(values)
    if isinstance(sample, float):
        return pa.float64()
    if isinstance(sample, Decimal):
        return pa.float64()
    if isinstance(sample, datetime):
        return pa.timestamp("us", tz="UTC") if sample.tzinfo else pa.timestamp("us")
    if isinstance(sample, date):
        return pa.date32()
    if isinstance(sample, time):
        return pa.time64("us")
    return pa.string()


_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)


def _integer_type(values: Sequence[Any]) -> pa.DataType:
    """int64, unless a value needs more: uint64 for 2**63 up to 2**64 - 1 (none negative),
    else an exact decimal while one holds them, else text. Never a rounded float."""
    numbers = [v for v in values if isinstance(v, int)]
    low, high = min(numbers), max(numbers)
    if _INT64[0] <= low and high <= _INT64[1]:
        return pa.int64()
    if _UINT64[0] <= low and high <= _UINT64[1]:
        return pa.uint64()
    if max(-low, high) < 10**38:
        return pa.decimal128(38, 0)
    return pa.string()


def _integer_range(arrow_type: pa.DataType) -> tuple[int, int]:
    bits = arrow_type.bit_width
    if pa.types.is_signed_integer(arrow_type):
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


class BatchBuilder:
    def __init__(self, names: list[str], hints: list[pa.DataType | None]) -> None:
        self.names = names
        self.hints = hints
        self.schema: pa.Schema | None = None

    def settle(self, rows: Sequence[Sequence[Any]]) -> pa.Schema:
        """The column types: the driver's, else chosen from these rows (the first ones seen)."""
        if self.schema is None:
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.names]
            types = [h or _value_type(c) for h, c in zip(self.hints, columns, strict=True)]
            self.schema = pa.schema(
                [pa.field(n, t) for n, t in zip(self.names, types, strict=True)]
            )
        return self.schema

    def build(self, rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
        schema = self.settle(rows)
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.names]
        arrays = [self._array(field, values) for field, values in zip(schema, columns, strict=True)]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _array(self, field: pa.Field, values: Sequence[Any]) -> pa.Array:
        array = _converted(values, field.type)
        if array is not None:
            if pa.types.is_floating(field.type) and pc.any(pc.is_inf(array)).as_py():
                _no_finite_overflow(field, values)
            return array
        if pa.types.is_string(field.type):
            return pa.array([None if v is None else _text(v) for v in values], type=pa.string())
        if pa.types.is_integer(field.type):
            low, high = _integer_range(field.type)
            outside = next(
                (
                    v
                    for v in values
                    if isinstance(v, int) and not isinstance(v, bool) and not low <= v <= high
                ),
                None,
            )
            if outside is not None:
                raise MixedTypes(
                    f"column '{field.name}' holds {outside}, which does not fit its type "
                    f"({field.type}: {low} to {high}); CAST it to DECIMAL(38, 0) or to text "
                    "in the query"
                )
        found = sorted({type(v).__name__ for v in values if v is not None})
        raise MixedTypes(
            f"column '{field.name}' started as {type_name(field.type)} but later rows hold "
            f"{', '.join(found)}; CAST it to one type in the query"
        )


def _converted(values: Sequence[Any], kind: pa.DataType) -> pa.Array | None:
    """``values`` as an array of ``kind``; for a float column, numbers of any Python type (a
    Decimal past a double's range becomes infinity, which the caller checks); else None."""
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        pass
    if pa.types.is_floating(kind):
        try:
            return pa.array([None if v is None else float(v) for v in values], pa.float64())
        except (TypeError, ValueError, OverflowError):
            pass
    return None


def _no_finite_overflow(field: pa.Field, values: Sequence[Any]) -> None:
    """A finite number a double cannot hold (an unconstrained NUMERIC of 400 digits) becomes
    infinity in a float column: refused with a way out, never written as ``inf``."""
    for value in values:
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            continue
        if isinstance(value, Decimal) and not value.is_finite():
            continue  # a NUMERIC 'Infinity' is infinity indeed
        try:
            fits = not math.isinf(float(value))
        except OverflowError:  # an int past a double's range
            fits = False
        if not fits:
            raise MixedTypes(
                f"column '{field.name}' holds {Decimal(value):.3E}, which a double cannot "
                "hold (it would be infinity); CAST it to NUMERIC(p, s) with a precision of "
                "at most 38, or to text, in the query"
            )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
