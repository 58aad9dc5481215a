"""``GET /api/v1/audit``: the tenant's audit trail, newest first (admins).

Filters: ``actor`` (``<type>:<id>``, or ``system``), ``action``, ``objectType``, ``objectId``
(``subjectId`` is its older name), ``from`` (inclusive) and ``to`` (exclusive). Pages like
every list; ``?format=csv`` downloads every entry the filters select as CSV.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import Response
from sqlalchemy import Select, select

from broadsheet import models
from broadsheet.audit import csv_export
from broadsheet.audit.context import Actor
from broadsheet.audit.log import AuditAction
from broadsheet.audit.schemas import AuditEntry
from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep
from broadsheet.errors import ValidationFailed
from broadsheet.kit.pagination import PageDep
from broadsheet.routing import api_router

router = api_router("/api/v1/audit", "audit")
Event = models.AuditEvent
ObjectType = Literal[
    "dashboard",
    "data_source",
    "delivery",
    "email",
    "event_subscription",
    "execution",
    "key",
    "report",
    "result",
    "schedule",
    "tenant",
    "user",
]


def parse_actor(value: str) -> Actor:
    """``user:<id>``, ``key:<id>``, ``embed:<id>``, ``system`` or ``system:<name>``."""
    kind, _, ident = value.partition(":")
    if kind not in ("user", "key", "embed", "system") or (kind != "system" and not ident):
        raise ValidationFailed.field(
            "actor", "write <type>:<id>, the type one of user, key, embed, system"
        )
    return Actor(kind, ident or None)  # type: ignore[arg-type]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def filtered(
    tenant_id: uuid.UUID,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[models.AuditEvent]:
    """The tenant's entries the filters select, newest first."""
    query = select(Event).where(Event.tenant_id == tenant_id)
    if actor:
        who = parse_actor(actor)
        query = query.where(Event.actor_type == who.type)
        if who.id is not None or who.type != "system":
            query = query.where(Event.actor_id == who.id)
    if action:
        query = query.where(Event.action == action)
    if object_type:
        query = query.where(Event.object_type == object_type)
    if object_id:
        query = query.where(Event.object_id == object_id)
    if start is not None:
        query = query.where(Event.at >= _utc(start))
    if end is not None:
        query = query.where(Event.at < _utc(end))
    return query.order_by(Event.at.desc(), Event.seq.desc())


@router.get(
    "",
    response_model=list[AuditEntry],
    summary="The audit log",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV"}},
)
def list_audit(
    caller: Annotated[Principal, Allowed("audit.read")],
    session: SessionDep,
    page: PageDep,
    action: Annotated[AuditAction | None, Query(description="Only this action's entries.")] = None,
    actor: Annotated[
        str | None,
        Query(max_length=80, description="`<type>:<id>` (user, key, embed) or `system`."),
    ] = None,
    object_type: Annotated[ObjectType | None, Query(alias="objectType")] = None,
    object_id: Annotated[uuid.UUID | None, Query(alias="objectId")] = None,
    subject_id: Annotated[
        uuid.UUID | None, Query(alias="subjectId", description="The older name of objectId.")
    ] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="From this instant (inclusive).")
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="Before this instant (exclusive).")
    ] = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="`csv`: every selected entry, as a file.")
    ] = "json",
) -> Any:
    if object_id and subject_id and object_id != subject_id:
        raise ValidationFailed.field("subjectId", "give objectId or subjectId, not both")
    query = filtered(
        caller.tenant_id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id or subject_id,
        start=start,
        end=end,
    )
    if format == "csv":
        every = session.scalars(query.execution_options(yield_per=500))
        return Response(
            csv_export.render(AuditEntry.of(row) for row in every),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )
    rows, total = page.fetch(session, query)
    return page.answer([AuditEntry.of(row) for row in rows], total)
