"""Dashboards get a time zone and shared filters.

A dashboard's widgets may carry templated parameter values (``{{today()}}``), evaluated in
the dashboard's IANA ``timezone``; its ``parameters`` are the shared filters that set the
widgets' report parameters. Existing rows are in UTC with no filters.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("dashboards") as batch:
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False)
        )
        batch.add_column(sa.Column("parameters", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dashboards") as batch:
        batch.drop_column("parameters")
        batch.drop_column("timezone")
