"""Dashboards' pages (reading them; edit mode is ``layout``):

- ``GET /dashboards``: the list (``q``, ``tag``, ``page``); ``New dashboard`` for editors.
- ``GET|POST /dashboards/new``: name and description → an empty dashboard, opened to edit.
- ``GET /dashboards/{id}?p.<name>=…``: the dashboard, its filter bar and its widgets; the
  page's own no-script reloads add ``wait`` (they are not counted as visits).
- ``GET /dashboards/{id}/widgets/{widgetId}?p.…``: one widget, for htmx to swap in.
- ``GET /dashboards/{id}/charts/{resultId}/{vizId}.svg``: a widget's chart, as the server
  draws it.
- ``GET /dashboards/{id}/pdf?p.…``: the whole dashboard as one PDF (an attachment).
- ``GET|POST /dashboards/{id}/delete`` (editors): confirm, then delete; back to the list.

The embed dialog's ``POST /dashboards/{id}/embed`` is ``embedding``.
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Request, Response

from broadsheet.auth.principal import Principal
from broadsheet.dashboards import pdf, widget_html
from broadsheet.dashboards.schemas import DashboardFilters
from broadsheet.dashboards.service import DashboardService
from broadsheet.dependencies import RuntimeDep, SessionDep
from broadsheet.errors import Forbidden, NotFound, ValidationFailed
from broadsheet.jobs.endpoints import ExecutorDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import Page
from broadsheet.results.service import ResultService
from broadsheet.web.dashboards import board as boards
from broadsheet.web.dashboards import edit_forms
from broadsheet.web.dashboards.page import can_edit, render_board
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.moments import maybe_moment
from broadsheet.web.paging import Pager, link, page_number
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import page_router

router = page_router()
PAGE_SIZE = 20
MAX_SEARCH = 200
MAX_TAG = 50


# --- the list ----------------------------------------------------------------------------------


@router.get("/dashboards")
def dashboard_list(
    request: Request,
    caller: Annotated[Principal, WebAllowed("dashboard.read")],
    session: SessionDep,
    q: str | None = None,
    tag: str | None = None,
    page: str | None = None,
    done: str | None = None,
) -> Response:
    search = DashboardFilters(
        q=(q or "").strip()[:MAX_SEARCH] or None, tag=(tag or "").strip()[:MAX_TAG] or None
    )
    service = DashboardService(session)
    asked = Pager(page_number(page), PAGE_SIZE, 0)
    items, total = service.list(caller.tenant_id, search, Page(PAGE_SIZE, asked.offset))
    pager = Pager.clamped(asked.page, PAGE_SIZE, total)
    if pager.page != asked.page:  # past the end: the last page instead
        items, total = service.list(caller.tenant_id, search, Page(PAGE_SIZE, pager.offset))
        pager = Pager.clamped(pager.page, PAGE_SIZE, total)
    query = {k: v for k, v in (("q", search.q), ("tag", search.tag)) if v}
    return render(
        request,
        "dashboards/list.html.j2",
        {
            "items": [
                {
                    "id": d.id,
                    "name": d.name,
                    "description": d.description,
                    "tags": d.tags,
                    "widgets": d.widget_count,
                    "accessed": maybe_moment(d.last_accessed_at),
                }
                for d in items
            ],
            "total": total,
            "pager": pager,
            "page_link": lambda n: link("/dashboards", {**query, "page": n}),
            "query": query,
            "form": FormState(query),
            "can_edit": can_edit(caller),
            "notice": "The dashboard is deleted." if done == "deleted" else None,
        },
    )


# --- a new dashboard ---------------------------------------------------------------------------


@router.get("/dashboards/new")
def new_dashboard_form(
    request: Request, caller: Annotated[Principal, WebAllowed("dashboard.write")]
) -> Response:
    return render(request, "dashboards/new.html.j2", {"form": FormState()})


@router.post("/dashboards/new")
def create_dashboard(
    request: Request,
    caller: Annotated[Principal, WebAllowed("dashboard.write")],
    form: Form,
    session: SessionDep,
) -> Response:
    tags = edit_forms.split_tags(str(form.get("tags", "")))
    try:
        body = edit_forms.checked(
            {
                "name": str(form.get("name", "")).strip(),
                "description": str(form.get("description", "")).strip() or None,
                "tags": tags,
                "widgets": [],
            }
        )
        row = DashboardService(session).create(caller, body)
    except ValidationFailed as error:
        state = FormState.failed(form, error)
        state.errors = {k.partition("[")[0]: v for k, v in state.errors.items()}
        return render(request, "dashboards/new.html.j2", {"form": state}, status_code=422)
    return see_other(f"/dashboards/{row.id}/edit?done=created")


# --- deleting one -------------------------------------------------------------------------------


@router.get("/dashboards/{dashboard_id}/delete")
def confirm_delete(
    request: Request,
    dashboard_id: str,
    caller: Annotated[Principal, WebAllowed("dashboard.write")],
    session: SessionDep,
) -> Response:
    row = DashboardService(session).get(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    return render(request, "dashboards/delete.html.j2", {"doc": row})


@router.post("/dashboards/{dashboard_id}/delete")
def delete_dashboard(
    dashboard_id: str,
    caller: Annotated[Principal, WebAllowed("dashboard.write")],
    session: SessionDep,
) -> Response:
    DashboardService(session).delete(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    return see_other("/dashboards?done=deleted")


# --- one dashboard -----------------------------------------------------------------------------


@router.get("/dashboards/{dashboard_id}")
async def show_dashboard(
    request: Request,
    dashboard_id: str,
    caller: Annotated[Principal, WebAllowed("dashboard.read")],
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
) -> Response:
    params = request.query_params
    asked = boards.asked_filters(params)
    if params.get("edit"):
        if not can_edit(caller):
            raise Forbidden("editing a dashboard needs the editor role")
        did = parse_id(dashboard_id, "dashboard")
        query = urlencode({f"{boards.PREFIX}{k}": v for k, v in asked.items()})
        return see_other(f"/dashboards/{did}/edit" + (f"?{query}" if query else ""))
    wait = _wait(params.get("wait"))
    board = await boards.read(
        session, runtime, executor, caller, dashboard_id, asked, count=wait is None, wait=wait or 0
    )
    return render_board(request, board, caller, status_code=422 if board.errors else 200)


def _wait(text: str | None) -> float | None:
    """The no-script reload's ``wait``; None for a person's own visit."""
    if text is None:
        return None
    try:
        wait = float(text)
    except ValueError:
        return 0.0
    return min(max(wait, 0.0), boards.MAX_WAIT_SECONDS) if math.isfinite(wait) else 0.0


@router.get("/dashboards/{dashboard_id}/widgets/{widget_id}")
async def show_widget(
    request: Request,
    dashboard_id: str,
    widget_id: str,
    caller: Annotated[Principal, WebAllowed("dashboard.read")],
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
) -> Response:
    editing = request.query_params.get("edit") == "1" and can_edit(caller)
    board = await boards.read(
        session,
        runtime,
        executor,
        caller,
        dashboard_id,
        boards.asked_filters(request.query_params),
        count=False,
        only=widget_id,
    )
    labels = {f"{boards.PREFIX}{f.name}": f.label for f in board.doc.parameters}
    return render(
        request,
        "dashboards/_widget.html.j2",
        {
            "w": boards.widget_views(board, editing=editing)[0],
            "doc": board.doc,
            "shared": widget_html.macros(),
            "editing": editing,
            "arrange_errors": {},
            "filter_problems": [f"{labels.get(k, k)}: {v}" for k, v in board.errors.items()],
        },
    )


@router.get("/dashboards/{dashboard_id}/charts/{result_id}/{viz_file}")
def widget_chart(
    dashboard_id: str,
    result_id: str,
    viz_file: str,
    caller: Annotated[Principal, WebAllowed("dashboard.read")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """A chart of the tenant's result, drawn by the server (an ``<img>`` on the page)."""
    DashboardService(session).get(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    viz_id, _, kind = viz_file.rpartition(".")
    if kind != "svg" or not viz_id:
        raise NotFound(f"no chart file {viz_file!r}")
    body, media_type = ResultService(session, runtime.storage).image(
        caller.tenant_id, parse_id(result_id, "result"), viz_id, "svg"
    )
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/dashboards/{dashboard_id}/pdf")
def dashboard_pdf(
    request: Request,
    dashboard_id: str,
    caller: Annotated[Principal, WebAllowed("export.download")],
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
) -> Response:
    """The dashboard's PDF with the page's filter values; it waits for the widgets' jobs
    (up to 60 s) like the API's export, and counts one access."""
    row = DashboardService(session).read(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    made = pdf.export_pdf(
        session,
        runtime,
        executor,
        row,
        boards.asked_filters(request.query_params),
        requested_by=caller.user_id,
    )
    return Response(
        made.content,
        media_type=pdf.MEDIA_TYPE,
        headers={"Content-Disposition": made.content_disposition, "Cache-Control": "no-store"},
    )
