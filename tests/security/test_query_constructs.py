"""Report queries may not reach past their source: ATTACH, COPY, PRAGMA, INSTALL/LOAD,
load_extension, the file-reading functions of each database and MySQL's LOAD DATA and
INTO OUTFILE are refused when a report is saved, with a 422 that names the construct. Each
backend is a real database (SQLite and DuckDB files, PostgreSQL, MariaDB)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from broadsheet.config import Settings
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body

SOURCES = "/api/v1/datasources"
REPORTS = "/api/v1/reports"

REFUSED: dict[str, list[tuple[str, str]]] = {
    "sqlite": [
        ("ATTACH DATABASE '/etc/passwd' AS p", "ATTACH"),
        ("PRAGMA database_list", "PRAGMA"),
        ("SELECT load_extension('/tmp/evil.so') AS x", "load_extension()"),
        ("SELECT readfile('/etc/passwd') AS x", "readfile()"),
        ("VACUUM INTO '/tmp/copy.db'", "only SELECT"),
    ],
    "duckdb": [
        ("ATTACH '/tmp/other.duckdb' AS o", "ATTACH"),
        ("COPY t TO '/tmp/out.csv'", "COPY"),
        ("PRAGMA database_list", "PRAGMA"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "only SELECT"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
        ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto()"),
        ("SELECT * FROM read_parquet('/tmp/x.parquet')", "read_parquet()"),
        ("SELECT * FROM read_json('/tmp/x.json')", "read_json()"),
        ("SELECT * FROM read_text('/etc/hostname')", "read_text()"),
        ("SELECT * FROM glob('/etc/*')", "glob()"),
        ("SELECT * FROM sqlite_scan('/tmp/x.db', 't')", "sqlite_scan()"),
        ("SELECT * FROM '/etc/passwd'", "names a file or URL"),
        ("SELECT * FROM 'https://example.com/data.csv'", "names a file or URL"),
        ("SELECT getenv('BROADSHEET_SECRET_KEY') AS k", "getenv()"),
        ("SELECT * FROM query('SELECT 1')", "query()"),
    ],
    "postgresql": [
        ("COPY (SELECT 1) TO '/tmp/out.csv'", "COPY"),
        ("SELECT pg_read_file('/etc/passwd') AS x", "pg_read_file()"),
        ("SELECT lo_import('/etc/passwd') AS x", "lo_import()"),
        ("SELECT * FROM pg_ls_dir('.') AS d", "pg_ls_dir()"),
    ],
    "mysql": [
        ("SELECT 1 AS a INTO OUTFILE '/tmp/out.csv'", "INTO OUTFILE"),
        ("SELECT 1 AS a INTO DUMPFILE '/tmp/out.bin'", "INTO DUMPFILE"),
        ("LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "LOAD DATA"),
        ("SELECT load_file('/etc/passwd') AS x", "load_file()"),
    ],
}
ALLOWED = {
    "sqlite": "SELECT a, upper('x') AS b FROM t",
    "duckdb": "SELECT a, upper('x') AS b FROM t",
    "postgresql": "SELECT 1 AS a, upper('x') AS b",
    "mysql": "SELECT 1 AS a, upper('x') AS b",
}


def source_url(backend: str, settings: Settings) -> str:
    folder = settings.source_dirs_for("acme")[0]
    folder.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = folder / f"{uuid.uuid4().hex}.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (a INTEGER)")
        conn.close()
        return f"sqlite:///{path}"
    if backend == "duckdb":
        path = folder / f"{uuid.uuid4().hex}.duckdb"
        duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1 AS a").close()
        return f"duckdb:///{path}"
    name = {"postgresql": "BROADSHEET_TEST_DATABASE_URL", "mysql": "BROADSHEET_TEST_MYSQL_URL"}
    url = os.environ.get(name[backend], "")
    if not url:
        service_missing(f"{backend} ({name[backend]})")
    return url


def save(client: TestClient, caller: Caller, source: str, sql: str) -> Any:
    body = report_body(
        name=f"Probe {uuid.uuid4()}", dataSource=source, query=sql, parameters=[],
        visualizations=[],
    )  # fmt: skip
    return client.post(REPORTS, json=body, headers=caller.headers)


@pytest.mark.parametrize("backend", list(REFUSED))
def test_constructs_that_reach_past_the_source_are_refused_by_name(
    client: TestClient, tenancy: Tenancy, settings: Settings, tmp_path: Path, backend: str
) -> None:
    admin = tenancy.key("acme")
    made = client.post(
        SOURCES, json={"name": "src", "url": source_url(backend, settings)}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    for sql, named in REFUSED[backend]:
        response = save(client, admin, "src", sql)
        assert response.status_code == 422, (sql, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        (error,) = response.json()["errors"]
        assert error["field"] == "query"
        assert named in error["message"], (sql, error)
    allowed = save(client, admin, "src", ALLOWED[backend])
    assert allowed.status_code == 201, allowed.text
