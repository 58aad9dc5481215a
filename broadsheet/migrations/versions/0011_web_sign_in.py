"""People sign in to the web UI.

- ``users.password_hash``: argon2id; None for users that only have API keys. Users are found
  by email alone at sign-in (``idx_users_email``): an email may be a user in several tenants.
- ``web_sessions``: a signed-in browser, keyed by the SHA-256 of its cookie's token.
- ``sign_in_throttles``: failed sign-ins per account and per client address, with the lock
  they earned, so every process throttles the same guesser.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.Text(), nullable=True))
        batch.create_index("idx_users_email", ["email"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_web_sessions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions") as batch:
        batch.create_index(batch.f("ix_web_sessions_tenant_id"), ["tenant_id"])
        batch.create_index(batch.f("ix_web_sessions_user_id"), ["user_id"])
        batch.create_index(batch.f("ix_web_sessions_last_seen_at"), ["last_seen_at"])
    op.create_table(
        "sign_in_throttles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_throttles")),
    )
    with op.batch_alter_table("sign_in_throttles") as batch:
        batch.create_index(batch.f("ix_sign_in_throttles_last_failed_at"), ["last_failed_at"])


def downgrade() -> None:
    op.drop_table("sign_in_throttles")
    op.drop_table("web_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("idx_users_email")
        batch.drop_column("password_hash")
