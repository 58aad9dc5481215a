"""The demo data source and reports a fresh install starts with."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from broadsheet import demo
from broadsheet.cli import app
from broadsheet.config import Settings
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
    first = table_digest(demo_dataset.build(tmp_path / "a.db", date(2026, 3, 4)))
    second = table_digest(demo_dataset.build(tmp_path / "b.db", date(2026, 3, 4)))
    assert first == second
    days = demo_dataset.DAYS
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


def two_years_before(day: date) -> date:
    return day.replace(year=day.year - 2, day=min(day.day, 28 if day.month == 2 else 31))


@pytest.mark.parametrize(
    "until",
    [date(2026, 3, 4), date(2026, 12, 6), date(2028, 2, 29), date(2027, 1, 4)],
    ids=str,
)
def test_dataset_covers_the_two_years_up_to_the_day_it_is_made(until: date) -> None:
    days = demo_dataset.business_days(until)
    assert days == sorted(set(days)) and all(d.weekday() < 5 for d in days)
    assert days[-1] <= until and (until - days[-1]).days < 3  # a weekend at most
    start = two_years_before(until)
    wanted = [start + timedelta(n) for n in range((until - start).days + 1)]
    assert set(days) >= {d for d in wanted if d.weekday() < 5}


def values(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row without its date (and the trades' times of day), in date order."""
    conn = sqlite3.connect(path)
    try:
        return {
            "performance": conn.execute(
                'SELECT strategy, "return", benchmark_return FROM portfolio_performance'
                " ORDER BY date, strategy"
            ).fetchall(),
            "prices": conn.execute(
                "SELECT ticker, open, high, low, close, volume FROM prices ORDER BY date, ticker"
            ).fetchall(),
            "trades": conn.execute(
                "SELECT trade_id, time(executed_at), strategy, ticker, side, quantity, price,"
                " notional, is_closing FROM trades ORDER BY trade_id"
            ).fetchall(),
        }
    finally:
        conn.close()


def dates(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [
            row[0]
            for row in conn.execute("SELECT DISTINCT trade_date FROM trades ORDER BY trade_date")
        ]
    finally:
        conn.close()


def test_another_day_shifts_the_dates_and_keeps_the_values(tmp_path: Path) -> None:
    spring = demo_dataset.build(tmp_path / "spring.db", date(2026, 3, 4))
    winter = demo_dataset.build(tmp_path / "winter.db", date(2026, 12, 6))
    assert values(spring) == values(winter)
    assert dates(spring)[-1] == "2026-03-04" and dates(winter)[-1] == "2026-12-04"
    assert dates(spring) == [d.isoformat() for d in demo_dataset.business_days(date(2026, 3, 4))]


def test_made_up_to_today_so_last_week_has_numbers(tmp_path: Path) -> None:
    """The README's schedule asks for the week before its fire: the demo answers it."""
    today = datetime.now(UTC).date()
    path = demo_dataset.build(tmp_path / "today.db")
    last_weekday = today - timedelta(days=max(0, today.weekday() - 4))
    assert dates(path)[-1] == last_weekday.isoformat()
    conn = sqlite3.connect(path)
    last_week = {
        "startDate": (today - timedelta(days=7)).isoformat(),
        "endDate": today.isoformat(),
        "ticker": "ACME",
    }
    for report in demo.REPORTS:
        assert conn.execute(report["query"], last_week).fetchall(), report["name"]


def test_a_file_of_an_older_format_is_made_anew_and_a_current_one_kept(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    old = sqlite3.connect(path)  # the first release's file: four fixed years, user_version 0
    old.execute("CREATE TABLE portfolio_performance (date DATE)")
    old.commit()
    old.close()
    demo_dataset.build(path, date(2026, 3, 4))
    assert dates(path)[-1] == "2026-03-04"
    demo_dataset.build(path, date(2026, 12, 6))  # current format: kept as it was made
    assert dates(path)[-1] == "2026-03-04"
    path.write_bytes(b"not a database")
    demo_dataset.build(path, date(2026, 12, 6))
    assert dates(path)[-1] == "2026-12-04"


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


def test_demo_refresh_makes_the_data_anew_up_to_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROADSHEET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    path = Settings(data_dir=tmp_path).shared_sources_dir / f"{demo_dataset.SOURCE_NAME}.db"
    demo_dataset.build(path, date(2025, 3, 4))
    kept = CliRunner().invoke(app, ["demo"])
    assert kept.exit_code == 0 and "added report Usage Summary" in kept.output, kept.output
    assert dates(path)[-1] == "2025-03-04"
    today = datetime.now(UTC).date()
    last_weekday = (today - timedelta(days=max(0, today.weekday() - 4))).isoformat()
    refreshed = CliRunner().invoke(app, ["demo", "--refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    assert refreshed.output.strip() == f"added data of portfolio_analytics up to {last_weekday}"
    assert dates(path)[-1] == last_weekday


def test_start_up_makes_week_old_demo_data_anew(tmp_path: Path) -> None:
    """A server left running for months: at its next start the data reaches today again."""
    from broadsheet import startup
    from broadsheet.db import make_engine, make_sessionmaker

    settings = Settings(data_dir=tmp_path, secret_key="test-secret-key-for-broadsheet")
    path = settings.shared_sources_dir / f"{demo_dataset.SOURCE_NAME}.db"
    today = datetime.now(UTC).date()
    demo_dataset.build(path, today - timedelta(days=30))
    assert demo_dataset.stale(path)
    engine = make_engine(settings.resolved_database_url)
    try:
        startup.prepare(settings, make_sessionmaker(engine))
        assert dates(path)[-1] == demo_dataset.business_days()[-1].isoformat()
        assert not demo_dataset.stale(path)
        fresh = path.stat().st_mtime_ns
        startup.prepare(settings, make_sessionmaker(engine))  # fresh data is kept as it is
        assert path.stat().st_mtime_ns == fresh
    finally:
        engine.dispose()
