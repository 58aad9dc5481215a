"""``GET /admin/audit?action=&page=N``: the tenant's audit log, newest first, 50 a page, as
``GET /api/v1/audit`` reads it; filtered by action. A page past the end shows the last; an
action that is not one of the log's shows every entry, with the filter saying so."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import get_args

from fastapi import Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.audit.log import AuditAction
from broadsheet.dependencies import SessionDep
from broadsheet.web.dependencies import WebAdmin
from broadsheet.web.forms import FormState
from broadsheet.web.moments import Moment, moment
from broadsheet.web.paging import Pager, link, page_number
from broadsheet.web.rendering import render
from broadsheet.web.routing import page_router

router = page_router()
PER_PAGE = 50
ACTIONS: tuple[str, ...] = get_args(AuditAction)


@dataclass(frozen=True)
class Entry:
    at: Moment
    action: str
    actor: str
    subject: str
    details: str


@router.get("/admin/audit")
def audit_log(
    request: Request,
    caller: WebAdmin,
    session: SessionDep,
    action: str | None = None,
    page: str | None = None,
) -> Response:
    chosen = action if action in ACTIONS else None
    query = select(models.AuditEvent).where(models.AuditEvent.tenant_id == caller.tenant_id)
    if chosen:
        query = query.where(models.AuditEvent.action == chosen)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pager = Pager.clamped(page_number(page), PER_PAGE, total)
    rows = session.scalars(
        query.order_by(models.AuditEvent.at.desc(), models.AuditEvent.id)
        .limit(PER_PAGE)
        .offset(pager.offset)
    ).all()
    names = _people(session, caller.tenant_id, {row.actor for row in rows})
    return render(
        request,
        "admin/audit.html.j2",
        {
            "entries": [
                Entry(
                    at=moment(row.at),
                    action=row.action,
                    actor=names.get(row.actor, row.actor),
                    subject=f"{row.subject_type} {row.subject_id or ''}".strip(),
                    details=json.dumps(row.details, ensure_ascii=False) if row.details else "",
                )
                for row in rows
            ],
            "pager": pager,
            "filter_form": FormState({"action": chosen or ""}),
            "actions": [(a, a) for a in ACTIONS],
            "chosen": chosen,
            "page_link": lambda n: link("/admin/audit", {"action": chosen, "page": n}),
        },
    )


def _people(session: Session, tenant_id: uuid.UUID, actors: set[str]) -> dict[str, str]:
    """The names of the actors that are users of the tenant (others, like ``system``, stay)."""
    ids = []
    for actor in actors:
        try:
            ids.append(uuid.UUID(actor))
        except ValueError:
            continue
    if not ids:
        return {}
    users = session.execute(
        select(models.User.id, models.User.name, models.User.email).where(
            models.User.tenant_id == tenant_id, models.User.id.in_(ids)
        )
    ).all()
    return {str(ident): email or name for ident, name, email in users}
