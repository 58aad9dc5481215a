"""The demo data source and reports a fresh install starts with."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import demo
from broadsheet.datasources import demo_dataset
from broadsheet.models import DataSource, ReportDefinition
from tests.factories import Tenancy


def table_digest(path: Path) -> dict[str, tuple[int, str]]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(
                "SELECT COUNT(*), group_concat(x, '|')"
                f" FROM (SELECT quote({cols}) AS x FROM {table})"
            ).fetchone()
            for table, cols in {
                "portfolio_performance": 'date || strategy || "return" || benchmark_return',
                "prices": "date || ticker || open || high || low || close || volume",
                "trades": "trade_id || executed_at || side || quantity || price || is_closing",
            }.items()
        }
    finally:
        conn.close()


def test_dataset_is_deterministic_and_complete(tmp_path: Path) -> None:
    first = table_digest(demo_dataset.build(tmp_path / "a.db"))
    second = table_digest(demo_dataset.build(tmp_path / "b.db"))
    assert first == second
    days = sum(1 for _ in demo_dataset.business_days())
    assert days > 1000  # four years of business days
    assert first["portfolio_performance"][0] == days * len(demo_dataset.STRATEGIES)
    assert first["prices"][0] == days * len(demo_dataset.TICKERS)
    assert first["trades"][0] > days * 2
    conn = sqlite3.connect(tmp_path / "a.db")
    low_high = conn.execute(
        "SELECT COUNT(*) FROM prices WHERE low > high OR close > high"
    ).fetchone()
    assert low_high == (0,)
    types = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(trades)")}
    assert (types["executed_at"], types["trade_date"], types["is_closing"]) == (
        "TIMESTAMP",
        "DATE",
        "BOOLEAN",
    )


def test_install_is_idempotent_and_keeps_edits(
    tenancy: Tenancy, sessions: sessionmaker[Session], client: TestClient
) -> None:
    tenancy.demo("demo")
    admin = tenancy.key("demo")
    report = next(
        r
        for r in client.get("/api/v1/reports", headers=admin.headers).json()
        if r["name"] == "Usage Summary"
    )
    definition = client.get(f"/api/v1/reports/{report['id']}", headers=admin.headers).json()
    client.put(
        f"/api/v1/reports/{report['id']}",
        json=dict(definition, description="ours now"),
        headers=admin.headers,
    )
    tenancy.demo("demo")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DataSource)) == 1
        names = session.scalars(select(ReportDefinition.name)).all()
        edited = session.scalar(
            select(ReportDefinition).where(ReportDefinition.name == "Usage Summary")
        )
    assert sorted(names) == sorted(r["name"] for r in demo.REPORTS)
    assert edited is not None and edited.description == "ours now" and edited.version == 2


def test_seed_report_is_as_the_seed_writes_it(client: TestClient, tenancy: Tenancy) -> None:
    tenancy.demo("demo")
    admin = tenancy.key("demo")
    listed = client.get(
        "/api/v1/reports", params={"q": "Monthly Performance"}, headers=admin.headers
    )
    (meta,) = listed.json()
    report = client.get(f"/api/v1/reports/{meta['id']}", headers=admin.headers).json()
    assert report["dataSource"] == "portfolio_analytics"
    assert report["query"] == (
        "SELECT * FROM portfolio_performance WHERE date BETWEEN :startDate AND :endDate"
    )
    assert [p["name"] for p in report["parameters"]] == ["startDate", "endDate"]
    assert report["visualizations"][0]["id"] == "perf-chart"
    assert report["tags"] == ["performance", "monthly"]


def test_demo_queries_run_against_the_dataset(settings_dir_db: Path) -> None:
    """Every demo query is valid SQL over the generated tables (bound with sample values)."""
    conn = sqlite3.connect(settings_dir_db)
    for report in demo.REPORTS:
        values = {"startDate": "2024-01-01", "endDate": "2024-03-31", "ticker": "ACME"}
        rows = conn.execute(report["query"], values).fetchall()
        assert rows, report["name"]
