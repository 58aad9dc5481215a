"""The audit trail: who did what to which object, when, from where (append-only, hash-chained).

Each tenant's entries form one chain: ``seq`` counts them, and each entry's ``hash`` covers its
content and the previous entry's ``hash`` (``broadsheet.audit.chain``). ``AuditChain`` is the
chain's head, locked by every append, and its anchor: where the chain starts after retention
deleted the oldest entries.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, tenant_fk, uuid_pk

# The previous hash of a chain's first entry.
GENESIS = "0" * 64


class AuditEvent(Base):
    """One thing that happened, e.g. ``report.updated`` or ``delivery.sent``.

    ``actor_type`` is ``user``, ``key``, ``embed`` or ``system``; ``actor_id`` the user's, the
    key's or the dashboard's id (None for Broadsheet's own work).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index("idx_audit_events_tenant_at", "tenant_id", "at"),
        Index("idx_audit_events_object", "tenant_id", "object_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID | None]
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # {field: {old, new}}; a secret field as {"changed": true} only.
    changes: Mapped[dict[str, Any] | None]
    # What an explicit action adds (a delivery's recipient and outcome, say).
    details: Mapped[dict[str, Any] | None]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChain(Base):
    """A tenant's chain: its last entry (locked while an entry is appended, so appends are
    serialized) and its anchor (the entry retention deleted last; ``GENESIS`` and 0 before)."""

    __tablename__ = "audit_chains"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    anchor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    anchor_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
