"""Embedding: tokens and the tenant's secret under ``/api/v1`` (with an API key), and the
embedded dashboard under ``/embed/dashboards/<token>`` (with the token alone).

- ``POST /api/v1/dashboards/{id}/embed`` (editor, admin): a token with some filters fixed.
- ``GET /api/v1/embed/secret``, ``POST /api/v1/embed/secret/rotate`` (admin): the HS256 key,
  for signing tokens elsewhere; rotating it revokes every token signed before.
- ``GET /embed/dashboards/<token>``: the page (counts one access; its ``?wait=`` reloads do
  not); ``/data``: the API's ``Dashboard`` document (not counted); ``/export?format=pdf``: the
  dashboard's PDF (counted); ``/charts/<resultId>/<vizId>.svg``: the charts the document links.

A token that opens nothing is a 401 with no data: problem+json, or for the page a small page.
Jobs an embedded view queues are made for the dashboard's creator.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.dashboards import embed, embed_page, filters, pdf, projections
from broadsheet.dashboards.data import DashboardData, Reading
from broadsheet.dashboards.embed import EmbedGrant, EmbedLink, EmbedRequest, EmbedSecret
from broadsheet.dashboards.endpoints import Wait  # the same bounds as the API's read
from broadsheet.dashboards.schemas import DashboardDocument
from broadsheet.dashboards.service import DashboardService
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.errors import BroadsheetError, NotFound, ValidationFailed
from broadsheet.jobs.endpoints import ExecutorDep
from broadsheet.kit.ids import parse_id
from broadsheet.models import JobTrigger
from broadsheet.results.service import ResultService
from broadsheet.routing import api_router

DashboardId = Annotated[str, Path(alias="dashboardId", description="A dashboard id.")]
Token = Annotated[str, Path(description="The embed token (a JWT).")]
MAX_WAIT_SECONDS = 30
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "The token is tampered, expired, revoked or malformed"}
}

api = api_router("/api/v1", "embedding")
pages = api_router("/embed/dashboards", "embedded dashboards")
router = APIRouter()


# --- with an API key -----------------------------------------------------------------------


@api.post(
    "/dashboards/{dashboardId}/embed",
    status_code=status.HTTP_201_CREATED,
    response_model=EmbedLink,
    summary="A link to embed the dashboard, some filters fixed",
)
def create_embed(
    dashboard_id: DashboardId,
    body: EmbedRequest,
    caller: Annotated[Principal, Allowed("dashboard.embed")],
    session: SessionDep,
    settings: SettingsDep,
) -> EmbedLink:
    row = DashboardService(session).get(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    filters.check(row.parameters or [], body.parameters, "parameters.")
    secret = embed.embed_secret(_tenant(session, caller), settings)
    token, expires_at = embed.issue(secret, row, body.parameters, body.expires_in)
    return EmbedLink(
        url=f"{settings.base_url}/embed/dashboards/{token}", token=token, expires_at=expires_at
    )


@api.get("/embed/secret", response_model=EmbedSecret, summary="The tenant's embed secret")
def get_embed_secret(
    caller: Annotated[Principal, Allowed("tenant.admin")],
    session: SessionDep,
    settings: SettingsDep,
) -> EmbedSecret:
    return EmbedSecret(secret=embed.embed_secret(_tenant(session, caller), settings))


@api.post(
    "/embed/secret/rotate",
    response_model=EmbedSecret,
    summary="A new embed secret; every token signed before stops working",
)
def rotate_embed_secret(
    caller: Annotated[Principal, Allowed("tenant.admin")],
    session: SessionDep,
    settings: SettingsDep,
) -> EmbedSecret:
    secret = embed.embed_secret(_tenant(session, caller), settings, rotate=True)
    return EmbedSecret(secret=secret)


def _tenant(session: Session, caller: Principal) -> models.Tenant:
    tenant = session.get(models.Tenant, caller.tenant_id)
    assert tenant is not None  # the caller's key belongs to it
    return tenant


# --- with the token alone ------------------------------------------------------------------


@pages.get(
    "/{token}",
    response_class=HTMLResponse,
    summary="The embedded dashboard, as a page",
    responses={
        200: {"content": {"text/html": {}}},
        401: {"content": {"text/html": {}}, "description": UNAUTHORIZED[401]["description"]},
    },
)
async def embed_page_view(
    request: Request,
    token: Token,
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
) -> HTMLResponse:
    settings = runtime.settings
    unlocked = filters.from_query(request.query_params)
    try:
        wait, reload = _page_wait(request.query_params.get("wait"))
        data = DashboardData(session, runtime, executor)

        def plan() -> Reading:
            grant, reading = _plan(session, data, settings, token, unlocked)
            if not reload:  # the page's own reloads, waiting for jobs, are not new visits
                projections.count_access(session, grant.dashboard_id)
            data.hand_over(reading)
            return reading

        reading = await anyio.to_thread.run_sync(plan)
        await data.settle(reading, wait)
        doc = await anyio.to_thread.run_sync(
            data.assemble, reading, lambda result_id, viz_id: _chart_path(token, result_id, viz_id)
        )
    except BroadsheetError as error:
        page = embed_page.error_page(
            settings, _ERROR_TITLES.get(error.status, "Error"), error.detail
        )
        return HTMLResponse(page.html, status_code=error.status, headers=page.headers)
    page = embed_page.render(doc, settings, token=token, unlocked=unlocked)
    return HTMLResponse(page.html, headers=page.headers)


@pages.get(
    "/{token}/data",
    response_model=DashboardDocument,
    summary="The embedded dashboard's data (the API's Dashboard document)",
    responses={
        **UNAUTHORIZED,
        403: {"description": "A `p.<name>` sets a filter the token fixes"},
        422: {"description": "A bad `wait`, or a bad or unknown `p.<name>` filter"},
    },
)
async def embed_data(
    request: Request,
    token: Token,
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
    wait: Wait = 0,
) -> DashboardDocument:
    settings = runtime.settings
    data = DashboardData(session, runtime, executor)
    unlocked = filters.from_query(request.query_params)

    def plan() -> Reading:
        _, reading = _plan(session, data, settings, token, unlocked)
        data.hand_over(reading)
        return reading

    reading = await anyio.to_thread.run_sync(plan)
    await data.settle(reading, wait)
    base = f"{settings.base_url}/embed/dashboards/"
    return await anyio.to_thread.run_sync(
        data.assemble,
        reading,
        lambda result_id, viz_id: base + _chart_path(token, result_id, viz_id),
    )


@pages.get(
    "/{token}/export",
    response_class=Response,
    summary="The embedded dashboard as one PDF",
    responses={
        200: {"content": {"application/pdf": {}}},
        **UNAUTHORIZED,
        403: {"description": "A `p.<name>` sets a filter the token fixes"},
    },
)
def embed_export(
    request: Request,
    token: Token,
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
    export_format: Annotated[
        Literal["pdf"], Query(alias="format", description="Only `pdf`.")
    ] = "pdf",
) -> Response:
    """Waits up to 60 s for the widgets' jobs, like the API's export; counts one access."""
    grant, row = embed.open_token(session, runtime.settings, token)
    projections.count_access(session, row.id)
    made = pdf.export_pdf(
        session,
        runtime,
        executor,
        row,
        filters.from_query(request.query_params),
        locked=grant.locked,
        requested_by=None,
        trigger=JobTrigger.dashboard,
    )
    return Response(
        made.content,
        media_type=pdf.MEDIA_TYPE,
        headers={"Content-Disposition": made.content_disposition, "Cache-Control": "no-store"},
    )


@pages.get(
    "/{token}/charts/{resultId}/{vizFile}",
    response_class=Response,
    summary="A chart of the embedded dashboard, as SVG",
    responses={200: {"content": {"image/svg+xml": {}}}, **UNAUTHORIZED},
)
def embed_chart(
    token: Token,
    result_id: Annotated[str, Path(alias="resultId", description="A result id.")],
    viz_file: Annotated[str, Path(alias="vizFile", description="`<vizId>.svg`")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """Only a chart of a result the dashboard shows: the token's tenant's, of a report and
    visualization one of its chart widgets shows, made with the values the token fixes."""
    grant, row = embed.open_token(session, runtime.settings, token)
    viz_id, _, kind = viz_file.rpartition(".")
    if kind != "svg" or not viz_id:
        raise NotFound(f"no chart file {viz_file!r}; ask for <vizId>.svg")
    service = ResultService(session, runtime.storage)
    result = service.get(grant.tenant_id, parse_id(result_id, "result"))
    if not _shows(row, grant, result, viz_id):
        raise NotFound(f"no chart {viz_id!r} of result {result.id} in this dashboard")
    body, media_type = service.image(grant.tenant_id, result.id, viz_id, kind)
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


# --- helpers -------------------------------------------------------------------------------


_ERROR_TITLES = {
    401: "This dashboard cannot be shown",
    403: "This filter is fixed",
    404: "Not found",
    422: "Bad filter value",
}


def _plan(
    session: Session,
    data: DashboardData,
    settings: Settings,
    token: str,
    unlocked: dict[str, str],
) -> tuple[EmbedGrant, Reading]:
    grant, row = embed.open_token(session, settings, token)
    reading = data.prepare(
        row, unlocked, locked=grant.locked, requested_by=None, trigger=JobTrigger.dashboard
    )
    return grant, reading


def _page_wait(text: str | None) -> tuple[float, bool]:
    """The page's ``?wait=`` (seconds), and whether it was given: only its reloads give it."""
    if text is None:
        return 0.0, False
    try:
        wait = float(text)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_SECONDS:  # NaN too
        raise ValidationFailed.field(
            "wait", f"must be a number of seconds, 0 to {MAX_WAIT_SECONDS}"
        )
    return wait, True


def _chart_path(token: str, result_id: Any, viz_id: str) -> str:
    # Relative to /embed/dashboards/: the page's images resolve against the page's own URL.
    return f"{token}/charts/{result_id}/{quote(viz_id, safe='')}.svg"


def _shows(
    row: models.Dashboard, grant: EmbedGrant, result: models.ReportResult, viz_id: str
) -> bool:
    """Some chart widget of ``row`` shows this report's visualization ``viz_id``, and the
    result was made with every value the token fixes for that widget's parameters."""
    fixed: dict[str, dict[str, Any]] = {}  # widget id -> {parameter: locked value}
    for flt in row.parameters or []:
        name = str(flt["name"])
        if name not in grant.locked or grant.locked[name] is None:
            continue
        for target in flt.get("targets") or []:
            fixed.setdefault(str(target["widgetId"]), {})[str(target["parameter"])] = grant.locked[
                name
            ]
    made_with = result.parameters or {}
    for widget in row.widgets or []:
        source = widget.get("source") or {}
        if (
            widget.get("type") == "visualization"
            and str(source.get("reportId")) == str(result.report_id)
            and source.get("visualizationId") == viz_id
            and all(
                _same(made_with.get(name), value)
                for name, value in fixed.get(str(widget["id"]), {}).items()
            )
        ):
            return True
    return False


def _same(used: Any, locked: Any) -> bool:
    # A template (a date such as {{today()}}) was resolved when the result was made.
    if isinstance(locked, str) and "{{" in locked:
        return True
    return bool(used == locked or str(used).lower() == str(locked).lower())


router.include_router(api)
router.include_router(pages)
