"""``/api/v1/dashboards``: dashboard definitions (issue 14, first slice).

``GET /api/v1/dashboards/{id}`` answers the stored definition (the same fields as a PUT's
answer) and counts one access. Seed 000's ``Dashboard`` document — each widget with its
``data`` and the dashboard's ``lastUpdated`` — comes with the next slice, which serves the
widgets' results; nothing here pretends to have data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response, status

from broadsheet.auth.dependencies import CurrentUser, Editor
from broadsheet.dashboards.schemas import (
    DashboardDefinition,
    DashboardDefinitionWrite,
    DashboardFilters,
    DashboardMetadata,
)
from broadsheet.dashboards.service import DashboardService, definition
from broadsheet.dependencies import SessionDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import Page, page_params
from broadsheet.routing import api_router

DashboardId = Annotated[str, Path(alias="dashboardId", description="A dashboard id.")]

router = api_router("/api/v1/dashboards", "dashboards")


@router.get("", response_model=list[DashboardMetadata], summary="List available dashboards")
def list_dashboards(
    request: Request,
    response: Response,
    caller: CurrentUser,
    session: SessionDep,
    filters: Annotated[DashboardFilters, Query()],
    page: Annotated[Page, Depends(page_params)],
) -> list[DashboardMetadata]:
    items, total = DashboardService(session).list(caller.tenant_id, filters, page)
    page.set_headers(request, response, total)
    return items


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DashboardDefinition,
    summary="Create a new dashboard",
)
def create_dashboard(
    body: DashboardDefinitionWrite, caller: Editor, session: SessionDep
) -> DashboardDefinition:
    return definition(DashboardService(session).create(caller, body))


@router.get(
    "/{dashboardId}",
    response_model=DashboardDefinition,
    summary="Get dashboard definition (widget data: not yet)",
)
def get_dashboard(
    dashboard_id: DashboardId, caller: CurrentUser, session: SessionDep
) -> DashboardDefinition:
    row = DashboardService(session).read(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    return definition(row)


@router.put(
    "/{dashboardId}", response_model=DashboardDefinition, summary="Update dashboard definition"
)
def update_dashboard(
    dashboard_id: DashboardId,
    body: DashboardDefinitionWrite,
    caller: Editor,
    session: SessionDep,
) -> DashboardDefinition:
    service = DashboardService(session)
    return definition(service.update(caller, parse_id(dashboard_id, "dashboard"), body))


@router.delete("/{dashboardId}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete dashboard")
def delete_dashboard(dashboard_id: DashboardId, caller: Editor, session: SessionDep) -> Response:
    DashboardService(session).delete(caller.tenant_id, parse_id(dashboard_id, "dashboard"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
