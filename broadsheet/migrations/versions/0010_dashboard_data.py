"""Dashboards serve data: jobs say who asked for them, dashboards refresh and embed, and a
schedule may send a dashboard.

- ``report_jobs.trigger``: ``api`` (a generate call), ``dashboard`` (a dashboard's widget) or
  ``schedule``. Jobs a schedule's execution made are marked ``schedule``, the rest ``api``.
  A partial unique index lets at most one dashboard job per (report, cache key) be queued or
  running, so a crowd opening a cold dashboard makes one job per widget, not per viewer.
- ``dashboards.refreshed_at``: the last forced refresh (one per 30 s).
- ``tenants.embed_secret``: the key embed tokens are signed with, encrypted at rest.
- ``report_schedules.dashboard_id``: a schedule names a report or a dashboard; its read model
  ``scheduled_reports_view`` carries either id, and its rows now go with their schedule (the
  database deletes schedules with their report or dashboard, where no code updates the read
  model).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = "trigger = 'dashboard' AND status IN ('queued', 'processing')"


def upgrade() -> None:
    with op.batch_alter_table("report_jobs") as batch:
        batch.add_column(
            sa.Column("trigger", sa.String(length=20), server_default="api", nullable=False)
        )
    op.execute(
        "UPDATE report_jobs SET trigger = 'schedule' WHERE id IN "
        "(SELECT job_id FROM report_executions WHERE job_id IS NOT NULL)"
    )
    op.create_index(
        "uq_report_jobs_dashboard_flight",
        "report_jobs",
        ["report_id", "cache_key"],
        unique=True,
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )
    with op.batch_alter_table("dashboards") as batch:
        batch.add_column(sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("embed_secret", sa.Text(), nullable=True))
    with op.batch_alter_table("report_schedules") as batch:
        batch.add_column(
            sa.Column(
                "dashboard_id",
                sa.Uuid(),
                sa.ForeignKey(
                    "dashboards.id",
                    name="fk_report_schedules_dashboard_id_dashboards",
                    ondelete="CASCADE",
                ),
                nullable=True,
            )
        )
        batch.alter_column("report_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_index("idx_report_schedules_dashboard_id", ["dashboard_id"])
    # The rows of schedules already deleted with their report, which the list still showed.
    op.execute(
        "DELETE FROM scheduled_reports_view WHERE id NOT IN (SELECT id FROM report_schedules)"
    )
    with op.batch_alter_table("scheduled_reports_view") as batch:
        batch.add_column(sa.Column("dashboard_id", sa.Uuid(), nullable=True))
        batch.alter_column("report_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_foreign_key(
            "fk_scheduled_reports_view_id_report_schedules",
            "report_schedules",
            ["id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    # Dashboards' schedules (with their executions and deliveries) cannot be kept without it.
    op.execute("DELETE FROM scheduled_reports_view WHERE report_id IS NULL")
    op.execute("DELETE FROM report_schedules WHERE report_id IS NULL")
    with op.batch_alter_table("scheduled_reports_view") as batch:
        batch.drop_constraint("fk_scheduled_reports_view_id_report_schedules", type_="foreignkey")
        batch.alter_column("report_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_column("dashboard_id")
    with op.batch_alter_table("report_schedules") as batch:
        batch.drop_index("idx_report_schedules_dashboard_id")
        batch.alter_column("report_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_constraint("fk_report_schedules_dashboard_id_dashboards", type_="foreignkey")
        batch.drop_column("dashboard_id")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("embed_secret")
    with op.batch_alter_table("dashboards") as batch:
        batch.drop_column("refreshed_at")
    op.drop_index("uq_report_jobs_dashboard_flight", table_name="report_jobs")
    with op.batch_alter_table("report_jobs") as batch:
        batch.drop_column("trigger")
