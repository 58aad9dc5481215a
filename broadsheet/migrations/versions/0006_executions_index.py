"""Executions: drop an index that repeated the unique constraint's.

``idx_report_executions_schedule`` (schedule_id, scheduled_for) was the same index as the one
behind ``uq_report_executions_schedule_id_scheduled_for``: every fire paid for two.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_executions") as batch:
        batch.drop_index("idx_report_executions_schedule")


def downgrade() -> None:
    with op.batch_alter_table("report_executions") as batch:
        batch.create_index("idx_report_executions_schedule", ["schedule_id", "scheduled_for"])
