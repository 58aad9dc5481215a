from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response, status

from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import PageDep
from broadsheet.reports.schemas import (
    ReportDefinition,
    ReportDefinitionWrite,
    ReportFilters,
    ReportMetadata,
)
from broadsheet.reports.service import ReportService, definition
from broadsheet.routing import api_router

ReportId = Annotated[str, Path(alias="reportId", description="A report id.")]

router = api_router("/api/v1/reports", "reports")


@router.get("", response_model=list[ReportMetadata], summary="List available reports")
def list_reports(
    caller: Annotated[Principal, Allowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
    filters: Annotated[ReportFilters, Query()],
    page: PageDep,
) -> list[ReportMetadata]:
    items, total = ReportService(session, settings).list(caller.tenant_id, filters, page)
    return page.answer(items, total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportMetadata,
    summary="Create a new report definition",
)
def create_report(
    body: ReportDefinitionWrite,
    caller: Annotated[Principal, Allowed("report.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportMetadata:
    service = ReportService(session, settings)
    return service.metadata(service.create(caller, body).id)


@router.get("/{reportId}", response_model=ReportDefinition, summary="Get report definition")
def get_report(
    report_id: ReportId,
    caller: Annotated[Principal, Allowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportDefinition:
    row = ReportService(session, settings).get(caller.tenant_id, parse_id(report_id, "report"))
    return definition(row)


@router.put("/{reportId}", response_model=ReportDefinition, summary="Update report definition")
def update_report(
    report_id: ReportId,
    body: ReportDefinitionWrite,
    caller: Annotated[Principal, Allowed("report.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportDefinition:
    service = ReportService(session, settings)
    return definition(service.update(caller, parse_id(report_id, "report"), body))


@router.delete(
    "/{reportId}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete report definition"
)
def delete_report(
    report_id: ReportId,
    caller: Annotated[Principal, Allowed("report.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    ReportService(session, settings).delete(caller.tenant_id, parse_id(report_id, "report"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
