from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.datasources.schemas import MAX_ROW_LIMIT
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.errors import NotFound
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import PageDep
from broadsheet.reports.service import ReportService
from broadsheet.results.schemas import ReportResult, ResultSummary
from broadsheet.results.service import IMAGE_TYPES, ResultService
from broadsheet.routing import api_router

ResultId = Annotated[str, Path(alias="resultId", description="A result id.")]
ReportId = Annotated[str, Path(alias="reportId", description="A report id.")]
MAX_PAGE_SIZE = 10_000
# A result holds at most MAX_ROW_LIMIT rows, so no later page has any (even of one row).
MAX_PAGE = MAX_ROW_LIMIT

router = api_router("/api/v1/reports", "results")


@router.get("/results/{resultId}", response_model=ReportResult, summary="Get generated result")
def get_result(
    result_id: ResultId,
    caller: Annotated[Principal, Allowed("report.read")],
    session: SessionDep,
    runtime: RuntimeDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page of rows.")] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = 100,
    dataset: Annotated[
        str | None,
        Query(max_length=63, description="Which dataset's rows; default the main query's."),
    ] = None,
) -> ReportResult:
    service = ResultService(session, runtime.storage)
    return service.read(caller.tenant_id, parse_id(result_id, "result"), page, page_size, dataset)


@router.get(
    "/results/{resultId}/visualizations/{vizFile}",
    summary="A chart as SVG or PNG",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
def get_chart(
    result_id: ResultId,
    viz_file: Annotated[str, Path(alias="vizFile", description="`<vizId>.svg` or `.png`")],
    caller: Annotated[Principal, Allowed("report.read")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    viz_id, _, kind = viz_file.rpartition(".")
    if kind not in IMAGE_TYPES or not viz_id:
        raise NotFound(f"no chart file {viz_file!r}; ask for <vizId>.svg or <vizId>.png")
    body, media_type = ResultService(session, runtime.storage).image(
        caller.tenant_id, parse_id(result_id, "result"), viz_id, kind
    )
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{reportId}/results", response_model=list[ResultSummary], summary="A report's results")
def list_results(
    report_id: ReportId,
    caller: Annotated[Principal, Allowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    page: PageDep,
) -> list[ResultSummary]:
    report = ReportService(session, settings).get(caller.tenant_id, parse_id(report_id, "report"))
    items, total = ResultService(session, runtime.storage).list_for_report(
        caller.tenant_id, report.id, page
    )
    return page.answer(items, total)
