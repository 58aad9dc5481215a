"""One migration history for SQLite and PostgreSQL that matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from broadsheet import migrate
from broadsheet.models import Base

PG_ONLY_INDEXES = {
    "idx_report_definitions_tags",
    "idx_report_definitions_view_tags",
    "idx_dashboards_tags",
    "idx_dashboards_view_tags",
}


def test_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    if engine.dialect.name == "sqlite":
        # Autogenerate ignores ddl_if(): the GIN indexes are PostgreSQL's alone on purpose.
        diff = [d for d in diff if not (d[0] == "add_index" and d[1].name in PG_ONLY_INDEXES)]
    assert diff == []


def test_seed_tables_and_indexes_exist(engine: Engine) -> None:
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    assert {
        "report_definitions",
        "report_jobs",
        "report_results",
        "dashboards",
        "report_schedules",
        "report_definitions_view",
        "dashboards_view",
        "recent_reports_view",
        "scheduled_reports_view",
        "report_executions",
        "report_deliveries",
        "tenants",
        "users",
        "api_keys",
        "data_sources",
    } <= tables
    indexes = {i["name"] for t in tables for i in inspector.get_indexes(t)}
    assert {
        "idx_report_jobs_status",
        "idx_report_schedules_next_run_at",
        "idx_scheduled_reports_view_next_run_at",
        "idx_recent_reports_view_created_by",
    } <= indexes
    assert (indexes >= PG_ONLY_INDEXES) == (engine.dialect.name == "postgresql")
    uniques = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("report_executions")
    }
    assert ("schedule_id", "scheduled_for") in uniques
    if engine.dialect.name == "postgresql":
        columns = {c["name"]: c["type"] for c in inspector.get_columns("report_definitions")}
        assert type(columns["parameters"]).__name__ == "JSONB"
        assert type(columns["tags"]).__name__ == "ARRAY"


def test_downgrade_and_upgrade_again(database_url: str, engine: Engine) -> None:
    migrate.downgrade(database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(database_url)
    assert "report_definitions" in inspect(engine).get_table_names()
