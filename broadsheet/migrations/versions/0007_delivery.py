"""Delivery: the audit log, email unsubscribes, and the tenant's delivery settings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _tenant(table: str) -> list[sa.Column[object] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_tenant("audit_events"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index("idx_audit_events_tenant_at", ["tenant_id", "at"])
        batch.create_index(batch.f("ix_audit_events_tenant_id"), ["tenant_id"])
    op.create_table(
        "email_unsubscribes",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_tenant("email_unsubscribes"),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_unsubscribes")),
        sa.UniqueConstraint(
            "tenant_id", "address", name=op.f("uq_email_unsubscribes_tenant_id_address")
        ),
    )
    with op.batch_alter_table("email_unsubscribes") as batch:
        batch.create_index(batch.f("ix_email_unsubscribes_tenant_id"), ["tenant_id"])
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("allowed_email_domains", JSON, nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.Text(), nullable=True))
    with op.batch_alter_table("report_deliveries") as batch:
        # The sender's query: deliveries due now.
        batch.create_index("idx_report_deliveries_due", ["status", "next_attempt_at"])
    for table in ("report_executions", "report_deliveries"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("owner_notified_at", sa.DateTime(timezone=True), nullable=True)
            )
        # Failures from before owners were told are not news: do not mail them all now.
        rows = sa.table(table, sa.column("status"), sa.column("created_at"),
                        sa.column("owner_notified_at"))  # fmt: skip
        op.execute(
            rows.update()
            .where(rows.c.status == "failed")
            .values(owner_notified_at=rows.c.created_at)
        )


def downgrade() -> None:
    for table in ("report_executions", "report_deliveries"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("owner_notified_at")
    with op.batch_alter_table("report_deliveries") as batch:
        batch.drop_index("idx_report_deliveries_due")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("webhook_secret")
        batch.drop_column("allowed_email_domains")
    op.drop_table("email_unsubscribes")
    op.drop_table("audit_events")
