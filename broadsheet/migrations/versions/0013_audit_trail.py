"""The audit trail: an actor's type and id, an object in place of a subject, the request's
address and id, field changes, and a hash chain per tenant (with ``audit_chains``, its head and
anchor). Existing entries are converted and chained in the order they were written.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
GENESIS = "0" * 64

events = sa.table(
    "audit_events",
    sa.column("id", sa.Uuid()),
    sa.column("tenant_id", sa.Uuid()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("subject_type", sa.String()),
    sa.column("subject_id", sa.Uuid()),
    sa.column("details", JSON),
    sa.column("seq", sa.BigInteger()),
    sa.column("actor_type", sa.String()),
    sa.column("actor_id", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.Uuid()),
    sa.column("ip", sa.String()),
    sa.column("request_id", sa.String()),
    sa.column("changes", JSON),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
chains = sa.table(
    "audit_chains",
    sa.column("tenant_id", sa.Uuid()),
    sa.column("last_seq", sa.BigInteger()),
    sa.column("last_hash", sa.String()),
    sa.column("anchor_seq", sa.BigInteger()),
    sa.column("anchor_hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("actor_type", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("actor_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("object_type", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("object_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("ip", sa.String(length=45), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("changes", JSON, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_chains",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_audit_chains_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_chains")),
    )
    _convert(op.get_bind())
    with op.batch_alter_table("audit_events") as batch:
        for name in ("seq", "actor_type", "object_type", "prev_hash", "hash"):
            batch.alter_column(name, nullable=False)
        batch.drop_column("actor")
        batch.drop_column("subject_type")
        batch.drop_column("subject_id")
        batch.create_unique_constraint(
            batch.f("uq_audit_events_tenant_id_seq"), ["tenant_id", "seq"]
        )
        batch.create_index("idx_audit_events_object", ["tenant_id", "object_id"])


def _actor(old: str) -> tuple[str, str | None]:
    """``system``, a user's id, or the name of something else that acted (kept as a system
    actor's id)."""
    if old == "system":
        return "system", None
    try:
        return "user", str(uuid.UUID(old))
    except ValueError:
        return "system", old[:64]


def _action(action: str, details: dict[str, Any] | None) -> str:
    if action == "delivery.attempted":  # now one action for a send and one for a failure
        return "delivery.sent" if (details or {}).get("outcome") == "sent" else "delivery.failed"
    return action


def _convert(bind: sa.Connection) -> None:
    from broadsheet.audit.chain import digest

    rows = bind.execute(
        sa.select(events).order_by(events.c.tenant_id, events.c.at, events.c.id)
    ).mappings()
    heads: dict[uuid.UUID, tuple[int, str]] = {}
    for row in rows.all():
        seq, prev = heads.get(row["tenant_id"], (0, GENESIS))
        at: datetime = row["at"]
        actor_type, actor_id = _actor(row["actor"])
        values: dict[str, Any] = {
            "seq": seq + 1,
            "tenant_id": row["tenant_id"],
            "at": at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
            "actor_type": actor_type,
            "actor_id": actor_id,
            "action": _action(row["action"], row["details"]),
            "object_type": row["subject_type"],
            "object_id": row["subject_id"],
            "ip": None,
            "request_id": None,
            "changes": None,
            "details": row["details"],
            "prev_hash": prev,
        }
        values["hash"] = digest(values, prev)
        del values["at"]  # unchanged
        bind.execute(sa.update(events).where(events.c.id == row["id"]).values(**values))
        heads[row["tenant_id"]] = (seq + 1, values["hash"])
    if heads:
        bind.execute(
            sa.insert(chains),
            [
                {
                    "tenant_id": t,
                    "last_seq": s,
                    "last_hash": h,
                    "anchor_seq": 0,
                    "anchor_hash": GENESIS,
                }
                for t, (s, h) in heads.items()
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("subject_type", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("subject_id", sa.Uuid(), nullable=True))
    bind = op.get_bind()
    bind.execute(
        sa.update(events).values(
            actor=sa.case(
                (events.c.actor_id.is_(None), events.c.actor_type),
                else_=sa.func.substr(events.c.actor_id, 1, 64),
            ),
            subject_type=events.c.object_type,
            subject_id=events.c.object_id,
            action=sa.case(
                (events.c.action.in_(["delivery.sent", "delivery.failed"]), "delivery.attempted"),
                else_=events.c.action,
            ),
        )
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("idx_audit_events_object")
        batch.drop_constraint(batch.f("uq_audit_events_tenant_id_seq"), type_="unique")
        for name in ("seq", "actor_type", "actor_id", "object_type", "object_id", "ip",
                     "request_id", "changes", "prev_hash", "hash"):  # fmt: skip
            batch.drop_column(name)
        batch.alter_column("actor", nullable=False)
        batch.alter_column("subject_type", nullable=False)
    op.drop_table("audit_chains")
