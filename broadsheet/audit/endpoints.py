"""``GET /api/v1/audit``: the tenant's audit log, newest first (admins)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import select

from broadsheet import models
from broadsheet.audit.log import AuditAction
from broadsheet.auth.dependencies import Admin
from broadsheet.dependencies import SessionDep
from broadsheet.kit.pagination import PageDep
from broadsheet.kit.schema import ApiModel
from broadsheet.routing import api_router

router = api_router("/api/v1/audit", "audit")


class AuditEntry(ApiModel):
    id: uuid.UUID
    at: datetime
    actor: str
    action: AuditAction
    subject_type: str
    subject_id: uuid.UUID | None
    details: dict[str, Any] | None


@router.get("", response_model=list[AuditEntry], summary="The audit log")
def list_audit(
    caller: Admin,
    session: SessionDep,
    page: PageDep,
    action: Annotated[AuditAction | None, Query(description="Only this action's entries.")] = None,
    subject: Annotated[uuid.UUID | None, Query(alias="subjectId")] = None,
) -> list[AuditEntry]:
    query = select(models.AuditEvent).where(models.AuditEvent.tenant_id == caller.tenant_id)
    if action:
        query = query.where(models.AuditEvent.action == action)
    if subject:
        query = query.where(models.AuditEvent.subject_id == subject)
    rows, total = page.fetch(
        session, query.order_by(models.AuditEvent.at.desc(), models.AuditEvent.id)
    )
    return page.answer([AuditEntry.model_validate(row) for row in rows], total)
