"""The demo tenant's data source and reports, so a fresh install has something to show.

Idempotent: each start adds what is missing and leaves what a person changed alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth import service as auth
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.datasources import demo_dataset
from broadsheet.datasources.schemas import DataSourceWrite
from broadsheet.datasources.service import DataSourceService
from broadsheet.reports.schemas import ReportDefinitionWrite
from broadsheet.reports.service import ReportService

SOURCE = demo_dataset.SOURCE_NAME
DEMO_USER = "Broadsheet demo"

REPORTS: list[dict[str, Any]] = [
    {
        # Seed 000's example definition, as written there.
        "name": "Monthly Performance Report",
        "description": "Comprehensive monthly performance analysis",
        "category": "performance",
        "timeframe": "monthly",
        "dataSource": SOURCE,
        "query": "SELECT * FROM portfolio_performance WHERE date BETWEEN :startDate AND :endDate",
        "parameters": [
            {"name": "startDate", "label": "Start Date", "type": "date", "required": True},
            {
                "name": "endDate",
                "label": "End Date",
                "type": "date",
                "required": True,
                "defaultValue": "now()",
            },
        ],
        "visualizations": [
            {
                "id": "perf-chart",
                "type": "line",
                "title": "Performance Over Time",
                "dataMapping": {"x": "date", "y": "return", "series": "strategy"},
                "options": {"showLegend": True, "yAxisLabel": "Return (%)"},
            }
        ],
        "layout": {
            "sections": [
                {"title": "Summary", "items": ["summary-table"]},
                {"title": "Performance Charts", "items": ["perf-chart", "benchmark-comparison"]},
            ]
        },
        "tags": ["performance", "monthly"],
    },
    {
        "name": "Strategy Scorecard",
        "description": "Average daily return against the benchmark, by strategy.",
        "category": "performance",
        "timeframe": "quarterly",
        "dataSource": SOURCE,
        "query": (
            'SELECT strategy, AVG("return") AS avg_return, AVG(benchmark_return) AS'
            ' avg_benchmark, AVG("return") - AVG(benchmark_return) AS alpha, COUNT(*) AS days'
            " FROM portfolio_performance WHERE date BETWEEN :startDate AND :endDate"
            " GROUP BY strategy ORDER BY alpha DESC"
        ),
        "parameters": [
            {"name": "startDate", "label": "Start Date", "type": "date", "required": True},
            {"name": "endDate", "label": "End Date", "type": "date", "required": True},
        ],
        "visualizations": [
            {
                "id": "alpha-bar",
                "type": "bar",
                "title": "Alpha by Strategy",
                "dataMapping": {"x": "strategy", "y": "alpha"},
            },
            {"id": "scorecard", "type": "table", "title": "Scorecard", "dataMapping": {}},
        ],
        "tags": ["performance", "strategies"],
    },
    {
        "name": "Price History",
        "description": "Daily open, high, low and close of one ticker.",
        "category": "markets",
        "timeframe": "daily",
        "dataSource": SOURCE,
        "query": (
            "SELECT date, open, high, low, close, volume FROM prices"
            " WHERE ticker = :ticker AND date BETWEEN :startDate AND :endDate ORDER BY date"
        ),
        "parameters": [
            {
                "name": "ticker",
                "label": "Ticker",
                "type": "enum",
                "required": True,
                "defaultValue": "ACME",
                "options": [{"label": t, "value": t} for t in demo_dataset.TICKERS],
            },
            {"name": "startDate", "label": "Start Date", "type": "date", "required": True},
            {"name": "endDate", "label": "End Date", "type": "date", "required": True},
        ],
        "visualizations": [
            {
                "id": "ohlc",
                "type": "candlestick",
                "title": "Price",
                "dataMapping": {
                    "x": "date",
                    "open": "open",
                    "high": "high",
                    "low": "low",
                    "close": "close",
                },
            }
        ],
        "tags": ["markets", "prices"],
    },
    {
        "name": "Trading Activity",
        "description": "Trades and notional by day and side, with a strategy-by-ticker heatmap.",
        "category": "trading",
        "timeframe": "weekly",
        "dataSource": SOURCE,
        "query": (
            "SELECT trade_date, strategy, ticker, side, COUNT(*) AS trades,"
            " SUM(notional) AS notional FROM trades"
            " WHERE trade_date BETWEEN :startDate AND :endDate"
            " GROUP BY trade_date, strategy, ticker, side ORDER BY trade_date"
        ),
        "parameters": [
            {"name": "startDate", "label": "Start Date", "type": "date", "required": True},
            {"name": "endDate", "label": "End Date", "type": "date", "required": True},
        ],
        "visualizations": [
            {
                "id": "notional-by-side",
                "type": "bar",
                "title": "Notional by Day",
                "dataMapping": {"x": "trade_date", "y": "notional", "series": "side"},
            },
            {
                "id": "strategy-ticker",
                "type": "heatmap",
                "title": "Trades by Strategy and Ticker",
                "dataMapping": {"x": "ticker", "y": "strategy", "value": "trades"},
            },
            {
                "id": "side-split",
                "type": "pie",
                "title": "Buy/Sell Split",
                "dataMapping": {"category": "side", "value": "notional"},
            },
        ],
        "tags": ["trading", "weekly"],
    },
    {
        # Seed 002's "Usage Summary": the report its weekly default schedule sends.
        "name": "Usage Summary",
        "description": "Last week's trading, by strategy: trades, volume and notional.",
        "category": "operations",
        "timeframe": "weekly",
        "dataSource": SOURCE,
        "query": (
            "SELECT strategy, COUNT(*) AS trades, SUM(quantity) AS shares,"
            " SUM(notional) AS notional, SUM(CASE WHEN is_closing THEN 1 ELSE 0 END)"
            " AS closing_trades FROM trades WHERE trade_date BETWEEN :startDate AND :endDate"
            " GROUP BY strategy ORDER BY notional DESC"
        ),
        "parameters": [
            {"name": "startDate", "label": "Week Start", "type": "date", "required": True},
            {"name": "endDate", "label": "Week End", "type": "date", "required": True},
        ],
        "visualizations": [
            {
                "id": "notional-vs-trades",
                "type": "scatter",
                "title": "Notional against Trades",
                "dataMapping": {"x": "trades", "y": "notional", "color": "strategy"},
            },
            {"id": "usage-table", "type": "table", "title": "Usage", "dataMapping": {}},
        ],
        "tags": ["usage", "weekly"],
    },
]


USAGE_SCHEDULE: dict[str, Any] = {
    # Seed 002's default: the Usage Summary as a PDF by email, Mondays 09:00 New York time,
    # covering the week before the fire.
    "name": "Usage Summary — weekly",
    "scheduleConfig": {
        "cadence": "weekly",
        "dayOfWeek": 1,
        "time": "09:00",
        "timezone": "America/New_York",
    },
    "parameters": {
        "startDate": "{{today().startOfWeek().minusWeeks(1)}}",
        "endDate": "{{today().startOfWeek().minusDays(1)}}",
    },
    "recipients": [{"type": "email", "address": "reports@example.com"}],
    "exportFormat": "pdf",
}


def install(
    session: Session, settings: Settings, tenant_slug: str, *, refresh: bool = False
) -> list[str]:
    """Make sure the demo source and reports exist in ``tenant_slug``; returns what it added.
    ``refresh`` makes the demo data anew, up to today."""
    added: list[str] = []
    path = demo_dataset.build(settings.shared_sources_dir / f"{SOURCE}.db", anew=refresh)
    if refresh:
        added.append(f"data of {SOURCE} up to {demo_dataset.business_days()[-1]}")
    owner = auth.system_principal(session, tenant_slug, DEMO_USER)
    sources = DataSourceService(session, settings)
    if sources.by_name(owner.tenant_id, SOURCE) is None:
        sources.create(
            owner,
            DataSourceWrite(
                name=SOURCE,
                url=f"sqlite:///{path}",
                description="Generated demo data: portfolio returns, prices and trades.",
            ),
        )
        added.append(f"data source {SOURCE}")
    reports = ReportService(session, settings)
    existing = set(
        session.scalars(
            select(models.ReportDefinition.name).where(
                models.ReportDefinition.tenant_id == owner.tenant_id
            )
        )
    )
    for body in REPORTS:
        if body["name"] not in existing:
            reports.create(owner, ReportDefinitionWrite.model_validate(body))
            added.append(f"report {body['name']}")
    if _install_schedule(session, settings, owner):
        added.append(f"schedule {USAGE_SCHEDULE['name']}")
    return added


def _install_schedule(session: Session, settings: Settings, owner: Principal) -> bool:
    from broadsheet.schedules.schemas import ReportScheduleWrite
    from broadsheet.schedules.service import ScheduleService

    taken = session.scalar(
        select(models.ReportSchedule.id).where(
            models.ReportSchedule.tenant_id == owner.tenant_id,
            models.ReportSchedule.name == USAGE_SCHEDULE["name"],
        )
    )
    report_id = session.scalar(
        select(models.ReportDefinition.id).where(
            models.ReportDefinition.tenant_id == owner.tenant_id,
            models.ReportDefinition.name == "Usage Summary",
        )
    )
    if taken or report_id is None:
        return False
    body = ReportScheduleWrite.model_validate({**USAGE_SCHEDULE, "reportId": report_id})
    ScheduleService(session, settings).create(owner, body)
    return True
