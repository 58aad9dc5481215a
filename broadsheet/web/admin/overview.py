"""``GET /admin``: the admin sections, each with what it holds now."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from sqlalchemy import func, select

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.rendering import render
from broadsheet.web.routing import page_router

router = page_router()


@router.get("/admin")
def admin_home(
    request: Request, caller: Annotated[Principal, WebAllowed("tenant.admin")], session: SessionDep
) -> Response:
    tenant = caller.tenant_id
    sources = select(func.count()).where(models.DataSource.tenant_id == tenant)
    users = select(func.count()).where(models.User.tenant_id == tenant)
    keys = select(func.count()).where(
        models.ApiKey.tenant_id == tenant, models.ApiKey.revoked_at.is_(None)
    )
    return render(
        request,
        "admin/home.html.j2",
        {
            "sources": session.scalar(sources) or 0,
            "users": session.scalar(users) or 0,
            "keys": session.scalar(keys) or 0,
        },
    )
