"""API keys' scopes, expiry and rotation: ``scopes`` (a JSON list), ``expires_at``, and for a
rotated key ``replaced_by`` and ``grace_until``. Existing keys get every scope their user's
role can use, so they keep doing what they did.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# As broadsheet.auth.permissions.role_scopes says today (a migration keeps its own copy: the
# table may change later, what existing keys were given must not).
ROLE_SCOPES = {
    "viewer": ["read", "run"],
    "editor": ["read", "run", "write"],
    "admin": ["read", "run", "write", "admin"],
}


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scopes", JSON, nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("replaced_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_api_keys_replaced_by_api_keys"),
            "api_keys",
            ["replaced_by"],
            ["id"],
            ondelete="SET NULL",
        )
    keys = sa.table("api_keys", sa.column("scopes", JSON), sa.column("user_id", sa.Uuid()))
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("role", sa.String()))
    for role, scopes in ROLE_SCOPES.items():
        op.execute(
            keys.update()
            .where(keys.c.user_id.in_(sa.select(users.c.id).where(users.c.role == role)))
            .values(scopes=scopes)
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("scopes", existing_type=JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(batch.f("fk_api_keys_replaced_by_api_keys"), type_="foreignkey")
        batch.drop_column("grace_until")
        batch.drop_column("replaced_by")
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
