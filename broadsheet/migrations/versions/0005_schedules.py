"""Schedules: executions wait for their next attempt after a failed generation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_executions") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("idx_report_executions_schedule", ["schedule_id", "scheduled_for"])


def downgrade() -> None:
    with op.batch_alter_table("report_executions") as batch:
        batch.drop_index("idx_report_executions_schedule")
        batch.drop_column("next_attempt_at")
