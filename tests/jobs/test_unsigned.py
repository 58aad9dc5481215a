"""Unsigned 64-bit integers stay exact, from MariaDB's BIGINT UNSIGNED to every file."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from broadsheet.datasources.arrow import BatchBuilder, MixedTypes
from broadsheet.kit import dburl
from broadsheet.runtime import Runtime
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body
from tests.jobs.helpers import run

VALUES = [0, 2**63, 2**64 - 1]  # 2**64 - 1 = 18446744073709551615


@pytest.fixture
def admin(tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


@pytest.fixture
def mariadb_table() -> Iterator[tuple[str, str]]:
    """A BIGINT UNSIGNED column holding 0, 2**63 and 2**64 - 1 (and a NULL), in its own table."""
    url = os.environ.get("BROADSHEET_TEST_MYSQL_URL", "")
    if not url:
        service_missing("MariaDB (BROADSHEET_TEST_MYSQL_URL)")
    table = f"unsigned_{uuid.uuid4().hex[:8]}"
    engine = create_engine(dburl.normalize(url))
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY, u BIGINT UNSIGNED)"))
            conn.execute(
                text(f"INSERT INTO {table} VALUES (1, :a), (2, :b), (3, :c), (4, NULL)"),
                dict(zip("abc", VALUES, strict=True)),
            )
        yield url, table
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_bigint_unsigned_is_exact_from_mariadb_to_every_file(
    client: TestClient, admin: Caller, runtime: Runtime, mariadb_table: tuple[str, str]
) -> None:
    url, table = mariadb_table
    created = client.post(
        "/api/v1/datasources", json={"name": "maria", "url": url}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    body = report_body(
        name="Unsigned",
        dataSource="maria",
        query=f"SELECT id, u FROM {table} ORDER BY id",
        parameters=[],
        visualizations=[],
        layout=None,
    )
    response = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    job = run(client, admin, str(response.json()["id"]), {})
    assert job["status"] == "completed", job
    result_id = job["resultId"]

    # The stored result: uint64, every value exact.
    stored = pq.read_table(runtime.storage.local_path(f"results/{result_id}/main.parquet"))
    assert stored.schema.field("u").type == pa.uint64()
    assert stored.column("u").to_pylist() == [*VALUES, None]
    page = client.get(f"/api/v1/reports/results/{result_id}", headers=admin.headers).json()
    data = page["data"]
    assert {"name": "u", "type": "integer"} in data["columns"]
    assert [row["u"] for row in data["rows"]] == [*VALUES, None]
    summary = data["summary"]["u"]  # exact too: Arrow's own uint64 sum would wrap around
    assert int(summary["sum"]) == sum(VALUES) and int(summary["max"]) == 2**64 - 1

    def export(fmt: str) -> bytes:
        got = client.get(
            f"/api/v1/reports/results/{result_id}/export",
            params={"format": fmt},
            headers=admin.headers,
        )
        assert got.status_code == 200, (fmt, got.text[:300])
        return got.content

    exported = pq.read_table(io.BytesIO(export("parquet")))
    assert exported.column("u").to_pylist() == [*VALUES, None]
    rows = list(csv.reader(io.StringIO(export("csv").decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == [str(v) for v in VALUES] + [""]
    raw = export("json").decode("utf-8")
    # Integers outside ±(2**53 - 1) are strings of their digits (a reader that parses JSON
    # numbers as doubles would round them), the others numbers. Python's json reads a bare
    # big integer exactly, so the raw text is checked: the digits in quotes, never bare.
    for big in VALUES[1:]:
        assert f'"{big}"' in raw, (big, raw[:500])
        assert str(big) not in raw.replace(f'"{big}"', ""), (big, raw[:500])
    document: Any = json.loads(raw)
    assert [r["u"] for r in document["rows"]] == [0, str(2**63), str(2**64 - 1), None]
    book = openpyxl.load_workbook(io.BytesIO(export("excel")), read_only=True)
    sheet = book["Data"]
    cells = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)][: len(VALUES)]
    # A cell is a number where a double holds the value exactly, otherwise text: never rounded.
    assert [int(c) if isinstance(c, float) else int(str(c)) for c in cells] == VALUES


def test_a_value_past_its_column_type_is_named_in_the_error() -> None:
    builder = BatchBuilder(["u"], [pa.int64()])
    builder.build([(0,)])
    with pytest.raises(MixedTypes, match=r"column 'u' holds 18446744073709551615, which does not"):
        builder.build([(2**64 - 1,)])


def test_untyped_integers_past_int64_keep_every_digit() -> None:
    # DuckDB's UBIGINT and HUGEINT, or any driver that gives no type: chosen from the values.
    assert BatchBuilder(["u"], [None]).build([(1,), (2**64 - 1,)]).schema[0].type == pa.uint64()
    wide = BatchBuilder(["h"], [None]).build([(-(2**70),), (1,)])
    assert wide.schema[0].type == pa.decimal128(38, 0)
    assert wide.column(0).to_pylist()[0] == -(2**70)
