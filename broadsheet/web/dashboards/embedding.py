"""The embed dialog's ``POST /dashboards/{id}/embed`` (editors and admins): a link to the
read-only embedded dashboard (``dashboards.embed``), the chosen filters fixed at the values
the page showed, for as long as asked; with htmx only the dialog's result is swapped in."""

from __future__ import annotations

from html import escape
from typing import Annotated
from zoneinfo import ZoneInfo

import anyio.to_thread
from fastapi import Request, Response

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.dashboards import embed, filters
from broadsheet.dashboards.service import DashboardService
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.errors import ValidationFailed
from broadsheet.jobs.endpoints import ExecutorDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.time import utc_now
from broadsheet.web.dashboards import board as boards
from broadsheet.web.dashboards.page import EmbedState, render_board
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.rendering import render
from broadsheet.web.routing import page_router

router = page_router()


@router.post("/dashboards/{dashboard_id}/embed")
async def create_embed(
    request: Request,
    dashboard_id: str,
    caller: Annotated[Principal, WebAllowed("dashboard.embed")],
    form: Form,
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
    settings: SettingsDep,
) -> Response:
    """An embed link fixing the chosen filters at the values the page showed."""
    asked = boards.asked_filters(form)

    def issue() -> EmbedState:
        row = DashboardService(session).get(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
        expires = _seconds(str(form.get("expiresIn", "")))
        if expires is None:
            low, high = embed.MIN_EXPIRES_SECONDS, embed.MAX_EXPIRES_SECONDS
            message = f"choose how long the link works: {low} to {high} seconds"
            return EmbedState(FormState(form, {"expiresIn": message}))
        definitions = row.parameters or []
        try:
            given = filters.parse(definitions, asked)
            values = filters.in_use(definitions, given, utc_now(), ZoneInfo(row.timezone))
        except ValidationFailed as error:
            return EmbedState(FormState.failed(form, error))
        known = {str(f["name"]) for f in definitions}
        locked = {
            name: values[name]
            for name in (str(v) for v in form.getlist("lock"))
            if name in known and values.get(name) is not None
        }
        tenant = session.get(models.Tenant, caller.tenant_id)
        assert tenant is not None  # the signed-in user's own
        secret = embed.embed_secret(tenant, settings)
        token, expires_at = embed.issue(secret, row, locked, expires)
        url = f"{settings.base_url}/embed/dashboards/{token}"
        snippet = (
            f'<iframe src="{escape(url)}" title="{escape(row.name)}" width="100%" '
            'height="600" loading="lazy"></iframe>'
        )
        labels = {str(f["name"]): str(f["label"]) for f in definitions}
        return EmbedState(
            FormState(form),
            {
                "url": url,
                "snippet": snippet,
                "expires": f"{expires_at:%Y-%m-%d %H:%M} UTC",
                "expires_iso": expires_at.isoformat(),
                "locked": ", ".join(labels[n] for n in locked) or "none",
            },
        )

    state = await anyio.to_thread.run_sync(issue)
    failed = state.link is None
    if request.headers.get("HX-Request"):
        return render(request, "dashboards/_embed_result.html.j2", {"embed": state})
    board = await boards.read(session, runtime, executor, caller, dashboard_id, asked, count=False)
    return render_board(
        request,
        board,
        caller,
        embedding=state,
        failed=state.form if failed else None,
        status_code=422 if failed else 200,
    )


def _seconds(text: str) -> int | None:
    try:
        seconds = int(text)
    except ValueError:
        return None
    return seconds if embed.MIN_EXPIRES_SECONDS <= seconds <= embed.MAX_EXPIRES_SECONDS else None
