"""Executions keep the parameter values their fire resolved to.

A fire's values are worked out once, when its execution is recorded, and every retry and
recipient reuses them; before this, each attempt evaluated the templates again. Executions
recorded before it have none and work theirs out at their next attempt.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("report_executions") as batch:
        batch.add_column(sa.Column("parameters", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_executions") as batch:
        batch.drop_column("parameters")
