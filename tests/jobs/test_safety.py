"""Hostile and failing queries: each gets a clear outcome, never a 500 or a half result."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.runtime import Runtime
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body
from tests.jobs.helpers import generate, report_id, result, run, wait


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def pg_source(client: TestClient, admin: Caller, **extra: Any) -> str:
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    body = {"name": "pg", "url": url, **extra}
    response = client.post("/api/v1/datasources", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return str(body["name"])


def create_report(client: TestClient, admin: Caller, **fields: Any) -> Any:
    body = report_body(**{"parameters": [], "visualizations": [], "layout": None, **fields})
    return client.post("/api/v1/reports", json=body, headers=admin.headers)


def report(client: TestClient, admin: Caller, **fields: Any) -> str:
    response = create_report(client, admin, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_sql_in_parameters_is_only_ever_a_value(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    rid = report(
        client,
        admin,
        name="By Strategy",
        query="SELECT * FROM trades WHERE strategy = :strategy",
        parameters=[{"name": "strategy", "label": "S", "type": "string", "required": True}],
    )
    conn = sqlite3.connect(Path(settings.shared_sources_dir, "portfolio_analytics.db"))
    trades = conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
    for attack in ("x' OR '1'='1", "'; DROP TABLE trades; --", "Momentum' --"):
        job = run(client, admin, rid, {"strategy": attack})
        assert job["status"] == "completed", job
        assert result(client, admin, job["resultId"])["data"]["totalRows"] == 0
    honest = run(client, admin, rid, {"strategy": "Momentum"})
    assert result(client, admin, honest["resultId"])["data"]["totalRows"] > 100
    assert trades > 1000
    assert conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == trades
    typed = report_id(client, admin, "Monthly Performance Report")
    bad = client.post(
        f"/api/v1/reports/{typed}/generate",
        json={"startDate": "2024-01-01' OR '1'='1", "endDate": "2024-02-01"},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "startDate"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE trades", "only SELECT"),
        ("DELETE FROM trades", "only SELECT"),
        ("SELECT 1; DELETE FROM trades", "one statement"),
        ("WITH gone AS (DELETE FROM trades RETURNING *) SELECT * FROM gone", "DELETE"),
        ("SELECT * INTO copy FROM trades", "INTO"),
        ("ATTACH DATABASE '/tmp/x.db' AS x", "only SELECT"),
        ("SELECT * FROM no_such_table", "no such table"),
        ("SELECT * FROM trades WHERE side = :side", ":side"),
        ('SELECT "x', "not closed"),  # an unterminated quoted name: 500 once
        ("SELECT 'a", "not closed"),
    ],
)
def test_unsafe_or_broken_queries_are_refused_when_saved(
    client: TestClient, admin: Caller, sql: str, message: str
) -> None:
    response = create_report(client, admin, query=sql)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "query" and message in error["message"]


def test_a_query_changed_behind_the_apis_back_still_cannot_write(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    rid = report(client, admin, name="Sneaky", query="SELECT 1 AS x")
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportDefinition)
            .where(models.ReportDefinition.id == uuid.UUID(rid))
            .values(query="DELETE FROM trades")
        )
    job = run(client, admin, rid, {})
    assert job["status"] == "failed" and "only SELECT" in job["error"]


def test_mapping_must_name_real_columns(client: TestClient, admin: Caller) -> None:
    viz = {"id": "c", "type": "line", "dataMapping": {"x": "date", "y": "retrun"}}
    response = create_report(
        client,
        admin,
        query='SELECT date, "return" FROM portfolio_performance',
        visualizations=[viz],
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "visualizations[0].dataMapping.y" and "retrun" in error["message"]


def test_statement_timeout_fails_the_job(client: TestClient, admin: Caller) -> None:
    source = pg_source(client, admin, statementTimeoutSeconds=1)
    rid = report(client, admin, name="Slow", dataSource=source, query="SELECT pg_sleep(5) AS slept")
    started = time.monotonic()
    job = run(client, admin, rid, {})
    assert job["status"] == "failed"
    assert "longer than 1 s" in job["error"] and "statement timeout" in job["error"]
    assert time.monotonic() - started < 4


def test_sqlite_runaway_query_is_interrupted(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    slow = client.post(
        "/api/v1/datasources",
        json={"name": "demo_slow", "url": demo_url(client, admin), "statementTimeoutSeconds": 1},
        headers=admin.headers,
    )
    assert slow.status_code == 201, slow.text
    rid = report(
        client,
        admin,
        name="Forever",
        dataSource="demo_slow",
        query=(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) FROM c"
        ),
    )
    job = run(client, admin, rid, {})
    assert job["status"] == "failed" and "statement timeout" in job["error"]


def demo_url(client: TestClient, admin: Caller) -> str:
    sources = client.get("/api/v1/datasources", headers=admin.headers).json()
    masked = next(s["url"] for s in sources if s["name"] == "portfolio_analytics")
    return str(masked)


def test_row_limit_fails_the_job_clearly(client: TestClient, admin: Caller) -> None:
    client.post(
        "/api/v1/datasources",
        json={"name": "small", "url": demo_url(client, admin), "rowLimit": 100},
        headers=admin.headers,
    )
    rid = report(client, admin, name="Too Big", dataSource="small", query="SELECT * FROM trades")
    job = run(client, admin, rid, {})
    assert job["status"] == "failed"
    assert "more than 100 rows" in job["error"] and "row limit" in job["error"]
    assert job["resultId"] is None


def test_database_errors_are_reported_without_credentials(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    with_password = url.replace("postgres@", "postgres:hunter2-secret@")
    client.post(
        "/api/v1/datasources", json={"name": "pw", "url": with_password}, headers=admin.headers
    )
    rid = report(
        client,
        admin,
        name="Division",
        dataSource="pw",
        query="SELECT 1 / (:d - 3) AS x",
        parameters=[{"name": "d", "label": "D", "type": "number", "required": True}],
    )
    job = run(client, admin, rid, {"d": 3})
    assert job["status"] == "failed"
    assert "division by zero" in job["error"] and "hunter2" not in job["error"]


def test_cancel_a_running_job(client: TestClient, admin: Caller, settings: Settings) -> None:
    source = pg_source(client, admin, statementTimeoutSeconds=60)
    rid = report(
        client, admin, name="Long", dataSource=source, query="SELECT pg_sleep(30) AS slept"
    )
    job = generate(client, admin, rid, {})
    deadline = time.monotonic() + 10
    while (
        client.get(f"/api/v1/reports/jobs/{job['id']}", headers=admin.headers).json()["status"]
        != "processing"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    cancelled = client.post(f"/api/v1/reports/jobs/{job['id']}/cancel", headers=admin.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # The worker notices at its next heartbeat and interrupts the query: the thread is free
    # again long before pg_sleep(30) would have ended.
    nxt = run(
        client,
        admin,
        report_id(client, admin, "Usage Summary"),
        {"startDate": "2024-01-01", "endDate": "2024-01-07"},
    )
    assert nxt["status"] == "completed"
    assert time.monotonic() - started < 10
    final = wait(client, admin, job["id"])
    assert final["status"] == "cancelled" and final["resultId"] is None


def test_cache_reuses_a_recent_result(client: TestClient, admin: Caller) -> None:
    rid = report(
        client,
        admin,
        name="Cached",
        query="SELECT * FROM prices WHERE ticker = :t",
        parameters=[{"name": "t", "label": "T", "type": "string", "required": True}],
        cacheTtlSeconds=600,
    )
    first = run(client, admin, rid, {"t": "ACME"})
    again = generate(client, admin, rid, {"t": "ACME"})
    assert again["status"] == "completed" and again["cached"] is True
    assert again["resultId"] == first["resultId"] and first["cached"] is False
    other = run(client, admin, rid, {"t": "BRNX"})
    assert other["cached"] is False and other["resultId"] != first["resultId"]


def test_named_datasets(client: TestClient, admin: Caller) -> None:
    rid = report(
        client,
        admin,
        name="Two Views",
        query="SELECT * FROM trades WHERE trade_date = '2024-01-02'",
        datasets={"by_side": "SELECT side, SUM(notional) AS notional FROM trades GROUP BY side"},
        visualizations=[
            {
                "id": "sides",
                "type": "pie",
                "dataset": "by_side",
                "dataMapping": {"category": "side", "value": "notional"},
            },
        ],
    )
    job = run(client, admin, rid, {})
    body = result(client, admin, job["resultId"], dataset="by_side")
    assert body["data"]["dataset"] == "by_side" and body["data"]["totalRows"] == 2
    assert {r["side"] for r in body["data"]["rows"]} == {"BUY", "SELL"}
    assert set(body["data"]["datasets"]) == {"main", "by_side"}
    assert not body["visualizations"][0].get("error")
    missing = client.get(
        f"/api/v1/reports/results/{job['resultId']}",
        params={"dataset": "nope"},
        headers=admin.headers,
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "dataset"


def test_expired_results_are_swept(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    settings: Settings,
    runtime: Runtime,
) -> None:
    from broadsheet.jobs import recovery
    from broadsheet.kit.time import utc_now

    job = run(
        client,
        admin,
        report_id(client, admin, "Strategy Scorecard"),
        {"startDate": "2024-01-01", "endDate": "2024-01-31"},
    )
    folder = Path(settings.resolved_storage_url.removeprefix("file://"), "results", job["resultId"])
    assert folder.is_dir()
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportResult).values(expires_at=utc_now() - timedelta(seconds=1))
        )
    gone = client.get(f"/api/v1/reports/results/{job['resultId']}", headers=admin.headers)
    assert gone.status_code == 404  # expired is gone before the sweep, too
    assert recovery.sweep_expired_results(runtime) == 1
    assert not folder.exists()
    with sessions() as session:
        assert session.get(models.ReportResult, uuid.UUID(job["resultId"])) is None


@pytest.mark.parametrize(
    ("sql", "backend"),
    [("SELECT 'a\\'", "mysql"), ('SELECT "x', "sqlite"), ("SELECT $$x", "postgresql")],
)
def test_unterminated_strings_are_refused_by_the_guard_on_every_dialect(
    sql: str, backend: str
) -> None:
    from broadsheet.datasources import sqlguard

    with pytest.raises(sqlguard.UnsafeQuery, match="not closed"):
        sqlguard.check_read_only(sql, backend)
