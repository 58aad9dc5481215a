"""Writing to the audit log. Entries are added in the caller's transaction, so an action and
its record are committed (or rolled back) together."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy.orm import Session

from broadsheet import models

SYSTEM = "system"
# Every action written, so the log's readers (and /openapi.json) know them all.
AuditAction = Literal[
    "delivery.attempted",
    "email.unsubscribed",
    "owner.notified",
    "tenant.updated",
    "tenant.webhook_secret_rotated",
]


def record(
    session: Session,
    tenant_id: uuid.UUID,
    action: AuditAction,
    subject_type: str,
    subject_id: uuid.UUID | None,
    *,
    actor: str = SYSTEM,
    **details: Any,
) -> None:
    """``action`` is ``<noun>.<verb>``, e.g. ``delivery.attempted``; ``details`` JSON values."""
    session.add(
        models.AuditEvent(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details or None,
        )
    )
