"""Data sources: admin-only CRUD, encrypted URLs, connection tests against real servers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.models import DataSource, Role
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body

SOURCES = "/api/v1/datasources"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


def create(client: TestClient, admin: Caller, **body: Any) -> Any:
    return client.post(SOURCES, json={"name": "warehouse", **body}, headers=admin.headers)


def pg_url() -> str:
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    return url


def test_password_is_masked_and_encrypted_at_rest(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    url = "postgresql://reporter:s3cr3t-pw@db.internal:5432/analytics"
    created = create(client, admin, url=url, statementTimeoutSeconds=30, rowLimit=5000)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["url"] == "postgresql+psycopg://reporter:***@db.internal:5432/analytics"
    assert (body["statementTimeoutSeconds"], body["rowLimit"], body["kind"]) == (30, 5000, "sql")
    listed = client.get(SOURCES, headers=admin.headers)
    assert "s3cr3t-pw" not in listed.text and "s3cr3t-pw" not in created.text
    with sessions() as session:
        row = session.scalars(select(DataSource)).one()
        assert "s3cr3t-pw" not in row.url_encrypted and "reporter" not in row.url_encrypted

    # Sending back the masked URL (as a client that read it would) keeps the password.
    source_id = body["id"]
    put = client.put(
        f"{SOURCES}/{source_id}",
        json={"name": "warehouse", "url": body["url"], "rowLimit": 10},
        headers=admin.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["rowLimit"] == 10
    with sessions() as session:
        from broadsheet.datasources.service import DataSourceService

        service = DataSourceService(session, client.app.state.settings)  # type: ignore[attr-defined]
        assert "s3cr3t-pw" in service.url_of(session.scalars(select(DataSource)).one())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("oracle://scott:tiger@db/orcl", "unsupported scheme 'oracle'"),
        ("http://example.com/db", "unsupported scheme 'http'"),
        ("not a url", "not a database URL"),
        ("sqlite:////etc/passwd", "tenant's folders"),
        ("sqlite:///../../broadsheet.db", "tenant's folders"),
        ("duckdb:////tmp/elsewhere.duckdb", "tenant's folders"),
        ("sqlite:///file:x.db?uri=true", "not allowed"),
    ],
)
def test_unsupported_urls_are_422(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], url: str, message: str
) -> None:
    response = create(client, admin, url=url)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    error = response.json()["errors"][0]
    assert error["field"] == "url" and message in error["message"]
    with sessions() as session:
        assert session.scalars(select(DataSource)).all() == []


def test_metadata_database_cannot_be_a_source(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    assert settings.database_url.startswith(("sqlite", "postgresql"))
    path = Path(settings.data_dir, "metadata.db").resolve()
    assert create(client, admin, url=f"sqlite:///{path}").status_code == 422


def test_connection_tests(client: TestClient, admin: Caller, tenancy: Tenancy) -> None:
    tenancy.demo("acme")
    demo = next(s for s in client.get(SOURCES, headers=admin.headers).json())
    ok = client.post(f"{SOURCES}/{demo['id']}/test", headers=admin.headers).json()
    assert ok["ok"] is True and ok["serverVersion"].startswith("3.")

    pg = create(client, admin, url=pg_url()).json()
    result = client.post(f"{SOURCES}/{pg['id']}/test", headers=admin.headers).json()
    assert result["ok"] is True, result
    assert int(result["serverVersion"].split(".")[0]) >= 12

    refused = create(client, admin, name="down", url="postgresql://u:pw-123@127.0.0.1:1/x").json()
    failed = client.post(f"{SOURCES}/{refused['id']}/test", headers=admin.headers).json()
    assert failed["ok"] is False
    assert "refused" in failed["error"].lower() and "pw-123" not in failed["error"]


def test_mariadb_connection(client: TestClient, admin: Caller) -> None:
    url = os.environ.get("BROADSHEET_TEST_MYSQL_URL", "")
    if not url:
        service_missing("MariaDB (BROADSHEET_TEST_MYSQL_URL)")
    source = create(client, admin, name="mariadb", url=url).json()
    assert source["url"].startswith("mysql+pymysql://")
    result = client.post(f"{SOURCES}/{source['id']}/test", headers=admin.headers).json()
    assert result["ok"] is True, result


def test_missing_sqlite_file_is_not_created(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    path = settings.source_dirs_for("acme")[0] / f"{uuid.uuid4()}.db"
    source = create(client, admin, name="ghost", url=f"sqlite:///{path}").json()
    result = client.post(f"{SOURCES}/{source['id']}/test", headers=admin.headers).json()
    assert result == {
        "ok": False,
        "latencyMs": None,
        "serverVersion": None,
        "error": result["error"],
    }
    assert "unable to open" in result["error"]
    assert not path.exists()


def test_names_are_unique_and_sources_in_use_are_kept(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    tenancy.demo("acme")
    duplicate = create(client, admin, name="portfolio_analytics", url="duckdb:///:memory:")
    assert duplicate.status_code == 409
    demo = client.get(SOURCES, headers=admin.headers).json()[0]
    deleting = client.delete(f"{SOURCES}/{demo['id']}", headers=admin.headers)
    assert deleting.status_code == 409
    assert "used by 5 report(s)" in deleting.json()["detail"]
    renaming = client.put(
        f"{SOURCES}/{demo['id']}",
        json={"name": "renamed", "url": demo["url"]},
        headers=admin.headers,
    )
    assert renaming.status_code == 409

    spare = create(client, admin, name="spare", url="duckdb:///:memory:").json()
    assert client.delete(f"{SOURCES}/{spare['id']}", headers=admin.headers).status_code == 204
    assert client.get(f"{SOURCES}/{spare['id']}", headers=admin.headers).status_code == 404


def test_reports_can_use_a_new_source(client: TestClient, admin: Caller) -> None:
    create(client, admin, url=pg_url())
    query = (
        "SELECT CURRENT_DATE AS date, 'x' AS strategy, 1.5 AS \"return\""
        " WHERE CURRENT_DATE BETWEEN :startDate AND :endDate"
    )
    body = report_body(dataSource="warehouse", query=query)
    created = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert created.status_code == 201
    assert created.json()["dataSource"] == "warehouse"


def test_duckdb_file_source(client: TestClient, admin: Caller, settings: Settings) -> None:
    import duckdb

    path = settings.source_dirs_for("acme")[0] / f"{uuid.uuid4()}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
    source = create(client, admin, name="lake", url=f"duckdb:///{path}").json()
    result = client.post(f"{SOURCES}/{source['id']}/test", headers=admin.headers).json()
    assert result["ok"] is True, result


def test_duckdb_decimals_stay_exact(client: TestClient, admin: Caller, settings: Settings) -> None:
    """DuckDB hands out Decimals with a declared DECIMAL(p,s): every digit reaches the result
    and the exports, never a double's nearest value."""
    import duckdb

    from tests.jobs.helpers import result, run

    path = settings.source_dirs_for("acme")[0] / f"{uuid.uuid4()}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE t AS SELECT * FROM (VALUES"
            " (12345678901234567.89::DECIMAL(20,2)), (-0.01::DECIMAL(20,2))) AS v(amount)"
        )
    assert create(client, admin, name="lake", url=f"duckdb:///{path}").status_code == 201
    body = report_body(
        name="Exact",
        dataSource="lake",
        query="SELECT amount, SUM(amount) OVER () AS total FROM t ORDER BY amount DESC",
        parameters=[],
        visualizations=[],
    )
    created = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    job = run(client, admin, created.json()["id"], {})
    assert job["status"] == "completed", job
    data = result(client, admin, job["resultId"])["data"]
    assert [c["type"] for c in data["columns"]] == ["decimal", "decimal"]
    shown = [(row["amount"], row["total"]) for row in data["rows"]]
    assert [tuple(str(v) for v in pair) for pair in shown] == [
        ("12345678901234567.89", "12345678901234567.88"),
        ("-0.01", "12345678901234567.88"),
    ]
    exported = client.get(
        f"/api/v1/reports/results/{job['resultId']}/export",
        params={"format": "csv"},
        headers=admin.headers,
    )
    assert "12345678901234567.89" in exported.text and "12345678901234567.88" in exported.text


def test_editors_read_a_sources_tables_and_columns(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    tenancy.demo("acme")
    editor = tenancy.key("acme", Role.editor, name="ed")
    demo = next(s for s in client.get(SOURCES, headers=admin.headers).json())
    answer = client.get(f"{SOURCES}/{demo['id']}/schema", headers=editor.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["truncated"] is False
    tables = {t["name"]: t for t in body["tables"]}
    assert {"portfolio_performance", "prices", "trades"} <= set(tables)
    performance = tables["portfolio_performance"]
    assert performance["schema"] is None
    assert [c["name"] for c in performance["columns"]] == [
        "date",
        "strategy",
        "return",
        "benchmark_return",
    ]
    assert performance["columns"][0]["type"] == "DATE"

    viewer = tenancy.key("acme", Role.viewer, name="vi")
    assert client.get(f"{SOURCES}/{demo['id']}/schema", headers=viewer.headers).status_code == 403
    other = tenancy.key("globex", Role.admin, name="gi")
    assert client.get(f"{SOURCES}/{demo['id']}/schema", headers=other.headers).status_code == 404


def test_a_postgres_sources_schemas_are_listed_and_odd_names_are_data(
    client: TestClient, admin: Caller
) -> None:
    url = pg_url()
    schema = f"bs_schema_{uuid.uuid4().hex[:8]}"
    odd = 'odd "name"; DROP TABLE x; --'
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        quoted = odd.replace('"', '""')
        conn.execute(text(f'CREATE TABLE "{schema}".orders (id bigint, "{quoted}" text)'))
    try:
        source = create(client, admin, url=url).json()
        body = client.get(f"{SOURCES}/{source['id']}/schema", headers=admin.headers).json()
        ours = [t for t in body["tables"] if t["schema"] == schema]
        assert ours == [
            {
                "schema": schema,
                "name": "orders",
                "columns": [{"name": "id", "type": "BIGINT"}, {"name": odd, "type": "TEXT"}],
            }
        ]
        assert not [
            t for t in body["tables"] if t["schema"] in ("pg_catalog", "information_schema")
        ]
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_an_unreadable_source_is_a_422_not_a_500(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    path = settings.source_dirs_for("acme")[0] / f"{uuid.uuid4()}.db"
    source = create(client, admin, name="ghost", url=f"sqlite:///{path}").json()
    answer = client.get(f"{SOURCES}/{source['id']}/schema", headers=admin.headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "dataSource"
    assert "unable to open" in answer.json()["errors"][0]["message"]
