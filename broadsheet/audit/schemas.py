"""What the API answers for an audit row (``GET /api/v1/audit`` and its CSV)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from broadsheet import models
from broadsheet.audit.log import AuditAction
from broadsheet.kit.schema import ApiModel

ActorType = Literal["user", "key", "embed", "system"]


class AuditActor(ApiModel):
    type: ActorType
    id: str | None


class AuditObject(ApiModel):
    type: str
    id: uuid.UUID | None


class AuditEntry(ApiModel):
    id: uuid.UUID
    at: datetime
    actor: AuditActor
    action: AuditAction
    object: AuditObject
    tenant_id: uuid.UUID
    ip: str | None
    request_id: str | None
    changes: dict[str, Any] | None
    details: dict[str, Any] | None
    hash: str

    @classmethod
    def of(cls, row: models.AuditEvent) -> AuditEntry:
        return cls(
            id=row.id,
            at=row.at,
            actor=AuditActor(type=row.actor_type, id=row.actor_id),
            action=row.action,
            object=AuditObject(type=row.object_type, id=row.object_id),
            tenant_id=row.tenant_id,
            ip=row.ip,
            request_id=row.request_id,
            changes=row.changes,
            details=row.details,
            hash=row.hash,
        )
