"""Writing to the audit log. Entries are added in the caller's transaction, so an action and
its record are committed (or rolled back) together."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from broadsheet import models

SYSTEM = "system"


def record(
    session: Session,
    tenant_id: uuid.UUID,
    action: str,
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
