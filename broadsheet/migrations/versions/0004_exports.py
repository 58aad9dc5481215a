"""Exports: a report's own cap on PDF table rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_definitions") as batch:
        batch.add_column(sa.Column("pdf_max_rows", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_definitions") as batch:
        batch.drop_column("pdf_max_rows")
