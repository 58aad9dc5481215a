"""Report generation: named datasets, time zone and cache TTL on reports; cache key and
progress on jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("report_definitions") as batch:
        batch.add_column(sa.Column("datasets", JSON, nullable=True))
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False)
        )
        batch.add_column(sa.Column("cache_ttl_seconds", sa.Integer(), nullable=True))
    with op.batch_alter_table("report_jobs") as batch:
        batch.add_column(sa.Column("cache_key", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("rows_fetched", sa.Integer(), server_default="0", nullable=False)
        )
        batch.create_index("idx_report_jobs_cache", ["report_id", "cache_key"])


def downgrade() -> None:
    with op.batch_alter_table("report_jobs") as batch:
        batch.drop_index("idx_report_jobs_cache")
        batch.drop_column("rows_fetched")
        batch.drop_column("cache_key")
    with op.batch_alter_table("report_definitions") as batch:
        batch.drop_column("cache_ttl_seconds")
        batch.drop_column("timezone")
        batch.drop_column("datasets")
