"""The audit log: who did what to which object, when (append-only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, tenant_fk, uuid_pk


class AuditEvent(Base):
    """One thing that happened, e.g. ``delivery.attempted`` on a delivery.

    ``actor`` is a user id, or ``system`` for the scheduler and its deliveries.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("idx_audit_events_tenant_at", "tenant_id", "at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    at: Mapped[datetime] = mapped_column(default=utc_now)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID | None]
    details: Mapped[dict[str, Any] | None]
