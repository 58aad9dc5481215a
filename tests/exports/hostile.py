"""A result full of values that break naive exporters, and its context."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from broadsheet.exports.base import ExportContext, ExportOptions, TableSource

TEXTS = [
    "plain",
    "comma, inside",
    'quote " inside',
    "new\nline",
    "crlf\r\ninside",
    "tab\tinside",
    "  padded  ",
    "",
    None,
    "=1+2",
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "-42",
    "\tleading tab",
    "\rleading cr",
    "Crème brûlée à São Paulo",
    "日本語 中文 한국어",
    "Привет, мир",
    "مرحبا بالعالم",
    "emoji 🎉📈",
]


def hostile_table() -> pa.Table:
    n = len(TEXTS)
    return pa.table(
        {
            "text": pa.array(TEXTS, pa.string()),
            "integer": pa.array([(-1) ** i * 10**i if i < 18 else i for i in range(n)], pa.int64()),
            "number": pa.array([i * 1.5 - 7.25 if i % 5 else None for i in range(n)], pa.float64()),
            "exact": pa.array(
                [Decimal("12345678901234567.89") if i == 0 else Decimal(i) / 4 for i in range(n)],
                pa.decimal128(20, 2),
            ),
            "day": pa.array([date(2024, 1, 1 + i) for i in range(n)], pa.date32()),
            "at": pa.array(
                [datetime(2024, 3, 10, 6 + i % 12, 30, tzinfo=UTC) for i in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "flag": pa.array([i % 3 == 0 if i != 4 else None for i in range(n)], pa.bool_()),
        }
    )


def hostile_context(
    table: pa.Table | None = None, options: ExportOptions | None = None, **changes: Any
) -> ExportContext:
    table = table if table is not None else hostile_table()
    types = {
        "text": "string",
        "integer": "integer",
        "number": "number",
        "exact": "decimal",
        "day": "date",
        "at": "timestamp",
        "flag": "boolean",
    }
    fields: dict[str, Any] = {
        "result_id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
        "report": {
            "id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "name": "Hostile Values 报告",
            "description": "Every value that breaks a naive exporter.",
            "category": "tests",
            "version": 3,
        },
        "generated_at": datetime(2024, 2, 1, 14, 0, tzinfo=UTC),
        "timezone": "America/New_York",
        "parameters": {"startDate": "2024-01-01", "region": "日本"},
        "columns": [{"name": f.name, "type": types.get(f.name, "string")} for f in table.schema],
        "row_count": table.num_rows,
        "summary": {"number": {"count": 16, "nulls": 5, "min": -5.75, "max": 23.75, "sum": 100.5}},
        "visualizations": [],
        "options": options or ExportOptions(),
    }
    fields.update(changes)
    return ExportContext(**fields)


def hostile_source(table: pa.Table | None = None) -> TableSource:
    return TableSource(table if table is not None else hostile_table())
