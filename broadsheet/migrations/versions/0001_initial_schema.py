"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-01

The whole schema of seed 000 (write and read models) and seed 004 (executions, deliveries),
with tenants, users, keys and data sources. JSON is JSONB and tags TEXT[] with GIN indexes on
PostgreSQL; SQLite gets JSON text and no GIN.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Portable column types: the same names in one history for SQLite and PostgreSQL.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TAGS = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
GIN_INDEXES = {
    "idx_dashboards_view_tags": "dashboards_view",
    "idx_report_definitions_view_tags": "report_definitions_view",
    "idx_dashboards_tags": "dashboards",
    "idx_report_definitions_tags": "report_definitions",
}


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "dashboards_view",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_by_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", TAGS, nullable=False),
        sa.Column("widget_count", sa.Integer(), nullable=False),
        sa.Column("last_accessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("access_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dashboards_view_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboards_view")),
    )
    with op.batch_alter_table("dashboards_view", schema=None) as batch_op:
        batch_op.create_index("idx_dashboards_view_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "idx_dashboards_view_last_accessed_at", ["last_accessed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dashboards_view_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "recent_reports_view",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("report_name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("parameters", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_by_name", sa.String(length=255), nullable=False),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recent_reports_view_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recent_reports_view")),
    )
    with op.batch_alter_table("recent_reports_view", schema=None) as batch_op:
        batch_op.create_index("idx_recent_reports_view_created_at", ["created_at"], unique=False)
        batch_op.create_index("idx_recent_reports_view_created_by", ["created_by"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recent_reports_view_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "report_definitions_view",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("timeframe", sa.String(length=20), nullable=True),
        sa.Column("data_source", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_by_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", TAGS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("parameter_count", sa.Integer(), nullable=False),
        sa.Column("visualization_count", sa.Integer(), nullable=False),
        sa.Column("last_execution_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("execution_count", sa.Integer(), nullable=False),
        sa.Column("average_execution_time_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_definitions_view_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_definitions_view")),
    )
    with op.batch_alter_table("report_definitions_view", schema=None) as batch_op:
        batch_op.create_index("idx_report_definitions_view_category", ["category"], unique=False)
        batch_op.create_index(
            "idx_report_definitions_view_created_at", ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_report_definitions_view_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "scheduled_reports_view",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("report_name", sa.String(length=255), nullable=False),
        sa.Column("schedule_name", sa.String(length=255), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_status", sa.String(length=20), nullable=True),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("export_format", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_scheduled_reports_view_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_reports_view")),
    )
    with op.batch_alter_table("scheduled_reports_view", schema=None) as batch_op:
        batch_op.create_index("idx_scheduled_reports_view_enabled", ["enabled"], unique=False)
        batch_op.create_index(
            "idx_scheduled_reports_view_next_run_at", ["next_run_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_scheduled_reports_view_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_users_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_users_tenant_id_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "dashboards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("layout", JSON, nullable=True),
        sa.Column("widgets", JSON, nullable=True),
        sa.Column("refresh_interval", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", TAGS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_dashboards_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dashboards_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboards")),
    )
    with op.batch_alter_table("dashboards", schema=None) as batch_op:
        batch_op.create_index("idx_dashboards_created_by", ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_dashboards_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "data_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url_encrypted", sa.Text(), nullable=False),
        sa.Column("statement_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("row_limit", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_data_sources_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_data_sources_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_sources")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_data_sources_tenant_id_name")),
    )
    with op.batch_alter_table("data_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_sources_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "report_definitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("timeframe", sa.String(length=20), nullable=True),
        sa.Column("data_source", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("parameters", JSON, nullable=True),
        sa.Column("visualizations", JSON, nullable=True),
        sa.Column("layout", JSON, nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", TAGS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_report_definitions_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_definitions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_definitions")),
    )
    with op.batch_alter_table("report_definitions", schema=None) as batch_op:
        batch_op.create_index("idx_report_definitions_category", ["category"], unique=False)
        batch_op.create_index("idx_report_definitions_created_by", ["created_by"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_report_definitions_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "report_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("parameters", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("result_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_report_jobs_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report_definitions.id"],
            name=op.f("fk_report_jobs_report_id_report_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_jobs")),
    )
    with op.batch_alter_table("report_jobs", schema=None) as batch_op:
        batch_op.create_index("idx_report_jobs_created_at", ["created_at"], unique=False)
        batch_op.create_index("idx_report_jobs_report_id", ["report_id"], unique=False)
        batch_op.create_index("idx_report_jobs_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_jobs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "report_schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("schedule_config", JSON, nullable=True),
        sa.Column("parameters", JSON, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("recipients", JSON, nullable=False),
        sa.Column("export_format", sa.String(length=20), nullable=False),
        sa.Column("misfire_policy", sa.String(length=20), nullable=False),
        sa.Column("misfire_grace_seconds", sa.Integer(), nullable=False),
        sa.Column("business_days_only", sa.Boolean(), nullable=False),
        sa.Column("holiday_calendar", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_report_schedules_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report_definitions.id"],
            name=op.f("fk_report_schedules_report_id_report_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_schedules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedules")),
    )
    with op.batch_alter_table("report_schedules", schema=None) as batch_op:
        batch_op.create_index("idx_report_schedules_enabled", ["enabled"], unique=False)
        batch_op.create_index("idx_report_schedules_next_run_at", ["next_run_at"], unique=False)
        batch_op.create_index("idx_report_schedules_report_id", ["report_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_report_schedules_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "report_executions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("result_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("file_url", sa.String(length=1000), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["report_jobs.id"],
            name=op.f("fk_report_executions_job_id_report_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["report_schedules.id"],
            name=op.f("fk_report_executions_schedule_id_report_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_executions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_executions")),
        sa.UniqueConstraint(
            "schedule_id",
            "scheduled_for",
            name=op.f("uq_report_executions_schedule_id_scheduled_for"),
        ),
    )
    with op.batch_alter_table("report_executions", schema=None) as batch_op:
        batch_op.create_index("idx_report_executions_status", ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_report_executions_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "report_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("parameters", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("visualizations", JSON, nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=True),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["report_jobs.id"],
            name=op.f("fk_report_results_job_id_report_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report_definitions.id"],
            name=op.f("fk_report_results_report_id_report_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_results_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_results")),
    )
    with op.batch_alter_table("report_results", schema=None) as batch_op:
        batch_op.create_index("idx_report_results_created_at", ["created_at"], unique=False)
        batch_op.create_index("idx_report_results_job_id", ["job_id"], unique=False)
        batch_op.create_index("idx_report_results_report_id", ["report_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_report_results_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_type", sa.String(length=20), nullable=False),
        sa.Column("recipient_value", sa.String(length=1000), nullable=False),
        sa.Column("recipient", JSON, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["report_executions.id"],
            name=op.f("fk_report_deliveries_execution_id_report_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_deliveries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_deliveries")),
        sa.UniqueConstraint(
            "execution_id",
            "recipient_type",
            "recipient_value",
            name=op.f("uq_report_deliveries_execution_id_recipient_type_recipient_value"),
        ),
    )
    with op.batch_alter_table("report_deliveries", schema=None) as batch_op:
        batch_op.create_index("idx_report_deliveries_status", ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_report_deliveries_tenant_id"), ["tenant_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        for index, table in GIN_INDEXES.items():
            op.create_index(index, table, ["tags"], postgresql_using="gin")


def downgrade() -> None:
    # Dropping a table drops its indexes; children first.
    for table in (
        "report_deliveries",
        "report_results",
        "report_executions",
        "report_schedules",
        "report_jobs",
        "report_definitions",
        "data_sources",
        "dashboards",
        "api_keys",
        "users",
        "scheduled_reports_view",
        "report_definitions_view",
        "recent_reports_view",
        "dashboards_view",
        "tenants",
    ):
        op.drop_table(table)
