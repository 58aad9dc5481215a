"""``GET /admin/audit?action=&page=N``: the tenant's audit log, newest first, 50 a page, as
``GET /api/v1/audit`` reads it; filtered by action. A page past the end shows the last; an
action that is not one of the log's shows every entry, with the filter saying so."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, get_args

from fastapi import Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.audit.log import AuditAction
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep
from broadsheet.web.dependencies import WebAllowed
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
    details: list[tuple[str, str]]


@router.get("/admin/audit")
def audit_log(
    request: Request,
    caller: Annotated[Principal, WebAllowed("audit.read")],
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
        query.order_by(models.AuditEvent.at.desc(), models.AuditEvent.seq.desc())
        .limit(PER_PAGE)
        .offset(pager.offset)
    ).all()
    names = {
        **_people(session, caller.tenant_id, {r.actor_id for r in rows if r.actor_type == "user"}),
        **_keys(session, caller.tenant_id, {r.actor_id for r in rows if r.actor_type == "key"}),
    }
    return render(
        request,
        "admin/audit.html.j2",
        {
            "entries": [
                Entry(
                    at=moment(row.at),
                    action=row.action,
                    actor=names.get(row.actor_id or "", _actor(row)),
                    subject=f"{row.object_type} {row.object_id or ''}".strip(),
                    details=_details(row),
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


def _actor(row: models.AuditEvent) -> str:
    return f"{row.actor_type}:{row.actor_id}" if row.actor_id else row.actor_type


# A changed value longer than this is cut short on the page (the API and CSV have it whole).
VALUE_CHARS = 80


def _details(row: models.AuditEvent) -> list[tuple[str, str]]:
    """Each changed field as (name, "old → new"), a created object's as (name, new), a
    deleted one's as (name, old), a secret's as (name, "changed"); then the details."""
    shown: list[tuple[str, str]] = []
    for name, change in (row.changes or {}).items():
        if not isinstance(change, dict) or "old" not in change:
            shown.append((name, "changed"))
        elif change["old"] is None:
            shown.append((name, _short(change.get("new"))))
        elif change.get("new") is None:
            shown.append((name, f"{_short(change['old'])} → none"))
        else:
            shown.append((name, f"{_short(change['old'])} → {_short(change['new'])}"))
    shown.extend((name, _short(value)) for name, value in (row.details or {}).items())
    return shown


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _keys(session: Session, tenant_id: uuid.UUID, actors: set[str | None]) -> dict[str, str]:
    """The names of the actors that are keys of the tenant, as "key <name>"."""
    ids = _uuids(actors)
    if not ids:
        return {}
    keys = session.execute(
        select(models.ApiKey.id, models.ApiKey.name).where(
            models.ApiKey.tenant_id == tenant_id, models.ApiKey.id.in_(ids)
        )
    ).all()
    return {str(ident): f"key {name}" for ident, name in keys}


def _uuids(values: set[str | None]) -> list[uuid.UUID]:
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value or ""))
        except ValueError:
            continue
    return ids


def _people(session: Session, tenant_id: uuid.UUID, actors: set[str | None]) -> dict[str, str]:
    """The names of the actors that are users of the tenant (others show as ``<type>:<id>``)."""
    ids = _uuids(actors)
    if not ids:
        return {}
    users = session.execute(
        select(models.User.id, models.User.name, models.User.email).where(
            models.User.tenant_id == tenant_id, models.User.id.in_(ids)
        )
    ).all()
    return {str(ident): email or name for ident, name, email in users}
