"""The event outbox and event subscriptions (issue 16).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite gives autoincrement only to an INTEGER PRIMARY KEY; BIGINT elsewhere.
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
        "events",
        sa.Column("id", EVENT_ID, autoincrement=True, nullable=False),
        *_tenant("events"),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sqlite_autoincrement=True,  # ids are never reused, even after retention empties it
    )
    with op.batch_alter_table("events") as batch:
        batch.create_index("idx_events_tenant_id_id", ["tenant_id", "id"])
        batch.create_index("idx_events_time", ["time"])
    op.create_table(
        "event_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_tenant("event_subscriptions"),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("types", JSON, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("position", EVENT_ID, nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_event_subscriptions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_subscriptions")),
    )
    with op.batch_alter_table("event_subscriptions") as batch:
        batch.create_index(batch.f("ix_event_subscriptions_tenant_id"), ["tenant_id"])
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_tenant("event_deliveries"),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", EVENT_ID, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscriptions.id"],
            name=op.f("fk_event_deliveries_subscription_id_event_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_deliveries_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_event_deliveries_subscription_id_event_id")
        ),
    )
    with op.batch_alter_table("event_deliveries") as batch:
        batch.create_index("idx_event_deliveries_due", ["status", "next_attempt_at"])
        batch.create_index(
            "idx_event_deliveries_subject", ["subscription_id", "subject", "event_id"]
        )
        batch.create_index(batch.f("ix_event_deliveries_event_id"), ["event_id"])
        batch.create_index(batch.f("ix_event_deliveries_tenant_id"), ["tenant_id"])


def downgrade() -> None:
    op.drop_table("event_deliveries")
    op.drop_table("event_subscriptions")
    op.drop_table("events")
