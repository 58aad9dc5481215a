"""``/api/v1/dashboards``: definitions, and one dashboard with its widgets' data.

``GET /api/v1/dashboards/{id}`` is seed 000's ``Dashboard``: it counts one access, queues the
jobs stale widgets need (see ``dashboards.data``) and answers at once, or after waiting up to
``?wait=`` seconds for them — on the event loop, so waiting viewers hold no request thread.
Filter values come as ``?p.<name>=``.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Path, Query, Request, Response, status

from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.dashboards import filters, pdf
from broadsheet.dashboards.data import DashboardData, Reading
from broadsheet.dashboards.schemas import (
    DashboardDefinition,
    DashboardDefinitionWrite,
    DashboardDocument,
    DashboardFilters,
    DashboardMetadata,
    DashboardRefresh,
    WidgetJob,
)
from broadsheet.dashboards.service import DashboardService, definition
from broadsheet.dependencies import RuntimeDep, SessionDep
from broadsheet.errors import ValidationFailed
from broadsheet.jobs.endpoints import ExecutorDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import PageDep
from broadsheet.routing import api_router

DashboardId = Annotated[str, Path(alias="dashboardId", description="A dashboard id.")]
Wait = Annotated[
    int, Query(ge=0, le=30, description="Seconds (0 to 30) to wait for the widgets' jobs.")
]

router = api_router("/api/v1/dashboards", "dashboards")


@router.get("", response_model=list[DashboardMetadata], summary="List available dashboards")
def list_dashboards(
    caller: Annotated[Principal, Allowed("dashboard.read")],
    session: SessionDep,
    filters: Annotated[DashboardFilters, Query()],
    page: PageDep,
) -> list[DashboardMetadata]:
    items, total = DashboardService(session).list(caller.tenant_id, filters, page)
    return page.answer(items, total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DashboardDefinition,
    summary="Create a new dashboard",
)
def create_dashboard(
    body: DashboardDefinitionWrite,
    caller: Annotated[Principal, Allowed("dashboard.write")],
    session: SessionDep,
) -> DashboardDefinition:
    return definition(DashboardService(session).create(caller, body))


@router.get(
    "/{dashboardId}",
    response_model=DashboardDocument,
    summary="Get dashboard definition and data",
    responses={422: {"description": "A bad `wait`, or a bad or unknown `p.<name>` filter."}},
)
async def get_dashboard(
    request: Request,
    dashboard_id: DashboardId,
    caller: Annotated[Principal, Allowed("dashboard.read")],
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
    wait: Wait = 0,
) -> DashboardDocument:
    data = DashboardData(session, runtime, executor)
    reading = await _settled_read(request, dashboard_id, caller, data, wait)
    return await anyio.to_thread.run_sync(data.assemble, reading)


async def _settled_read(
    request: Request, dashboard_id: str, caller: Principal, data: DashboardData, wait: float
) -> Reading:
    """Count one access, queue the jobs stale widgets need and wait up to ``wait`` seconds
    for them, on the event loop: a waiting viewer holds no request thread."""
    raw = filters.from_query(request.query_params)

    def plan() -> Reading:
        service = DashboardService(data.session)
        row = service.read(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
        reading = data.prepare(row, raw, requested_by=caller.user_id)
        data.hand_over(reading)
        return reading

    reading = await anyio.to_thread.run_sync(plan)
    await data.settle(reading, wait)
    return reading


@router.post(
    "/{dashboardId}/refresh",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DashboardRefresh,
    summary="Queue every widget's report now, whatever its age",
    responses={429: {"description": "Refreshed less than 30 s ago (see `Retry-After`)."}},
)
def refresh_dashboard(
    request: Request,
    dashboard_id: DashboardId,
    caller: Annotated[Principal, Allowed("dashboard.refresh")],
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
) -> DashboardRefresh:
    service = DashboardService(session)
    row = service.get(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    raw = filters.from_query(request.query_params)
    filters.parse(row.parameters or [], raw)  # a 422 takes no window
    # The window first: a refused call must queue nothing (and on SQLite a savepoint that
    # opens the transaction commits on release, so nothing may be queued before it).
    service.claim_refresh(row)
    data = DashboardData(session, runtime, executor)
    reading = data.prepare(row, raw, requested_by=caller.user_id, force=True)
    data.hand_over(reading)
    jobs = [
        WidgetJob(widget_id=slot.widget["id"], job_id=slot.feed.job.id)
        for slot in reading.slots
        if slot.feed is not None and slot.feed.job is not None
    ]
    return DashboardRefresh(filters=reading.filters, jobs=jobs)


@router.put(
    "/{dashboardId}", response_model=DashboardDefinition, summary="Update dashboard definition"
)
def update_dashboard(
    dashboard_id: DashboardId,
    body: DashboardDefinitionWrite,
    caller: Annotated[Principal, Allowed("dashboard.write")],
    session: SessionDep,
) -> DashboardDefinition:
    service = DashboardService(session)
    return definition(service.update(caller, parse_id(dashboard_id, "dashboard"), body))


@router.delete("/{dashboardId}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete dashboard")
def delete_dashboard(
    dashboard_id: DashboardId,
    caller: Annotated[Principal, Allowed("dashboard.write")],
    session: SessionDep,
) -> Response:
    DashboardService(session).delete(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{dashboardId}/export",
    response_class=Response,
    summary="Export the whole dashboard as one PDF",
    responses={
        200: {"description": "The PDF, as an attachment", "content": {"application/pdf": {}}},
        422: {"description": "A `format` other than pdf, or a bad or unknown `p.<name>` filter."},
    },
)
async def export_dashboard(
    request: Request,
    dashboard_id: DashboardId,
    caller: Annotated[Principal, Allowed("export.download")],
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
    format: Annotated[
        str | None,
        Query(description="The file's format: pdf.", json_schema_extra={"enum": ["pdf"]}),
    ] = None,
) -> Response:
    """One PDF of the dashboard with the filters given as ``p.<name>``: it counts one access
    and waits up to 60 s for the widgets' jobs (on the event loop, holding no request
    thread), then sets every widget in grid order (see ``dashboards.pdf``)."""
    if format != "pdf":
        given = f"'{format}' is not a format" if format else "a format is required"
        raise ValidationFailed.field("format", f"{given}; a dashboard exports as: pdf")
    data = DashboardData(session, runtime, executor)
    reading = await _settled_read(request, dashboard_id, caller, data, pdf.WAIT_SECONDS)

    def render() -> pdf.DashboardPdf:
        document = data.assemble(reading)
        return pdf.render_document(session, runtime, caller.tenant_id, document)

    made = await anyio.to_thread.run_sync(render)
    return Response(
        made.content,
        media_type=pdf.MEDIA_TYPE,
        headers={"Content-Disposition": made.content_disposition},
    )
