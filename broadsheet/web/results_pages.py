"""``/results/{id}``: a result to read, sort, page through and download.

- ``GET /results/{id}?page=N&sort=<column>&dir=asc|desc&dataset=<name>``: the summary (rows,
  execution time, parameters, when), the charts (``result_view``), 50 rows a page sorted
  over the whole result by a column header's link (``broadsheet.results.sorting``), the
  downloads, and the report's other results. A page past the end shows the last; a sort by
  a column the result lacks is no sort. With htmx the table's links swap the table alone
  (``HX-Target: result-rows``) and keep the address.
- ``GET /results/{id}/charts/<vizId>.svg`` (the drawing, as the API's), ``.json`` (the spec
  and its data, for vega-embed).
- ``GET /results/{id}/download/{csv|excel|pdf|json}``: the export as an attachment, made by
  ``ExportService`` as the API's export.

Another tenant's result, and an expired one, is the 404 page.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.responses import FileResponse, JSONResponse

from broadsheet.auth.principal import Principal
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.errors import NotFound
from broadsheet.exports.service import ExportService
from broadsheet.kit.pagination import Page
from broadsheet.reports.schemas import MAIN_DATASET
from broadsheet.reports.service import ReportService
from broadsheet.results import sorting
from broadsheet.results.service import IMAGE_TYPES, ResultService
from broadsheet.web import result_view
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.moments import moment
from broadsheet.web.paging import Pager, link, page_number
from broadsheet.web.rendering import fragment, render
from broadsheet.web.reports import shown_parameters
from broadsheet.web.routing import page_router

router = page_router()
TEMPLATE = "results/show.html.j2"
ROWS_ID = "result-rows"
PER_PAGE = 50
EARLIER = 10
# The page's download links, in order: (format, link text).
DOWNLOADS = (
    ("csv", "Download CSV"),
    ("excel", "Download Excel"),
    ("pdf", "Download PDF"),
    ("json", "Download JSON"),
)
CHART_CACHE = "private, max-age=3600"


@router.get("/results/{result_id:uuid}")
def result_page(
    request: Request,
    result_id: uuid.UUID,
    caller: Annotated[Principal, WebAllowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    page: str | None = None,
    sort: str | None = None,
    dir: str | None = None,
    dataset: str | None = None,
) -> Response:
    results = ResultService(session, runtime.storage)
    row = results.get(caller.tenant_id, result_id)
    report = ReportService(session, settings).get(caller.tenant_id, row.report_id)
    data = row.data or {}
    datasets: dict[str, Any] = data.get("datasets") or {}
    main = data.get("mainDataset") or MAIN_DATASET
    chosen = dataset if dataset in datasets else main
    info = datasets.get(chosen) or {"columns": [], "rowCount": 0}
    declared = info["columns"]
    names = [str(c["name"]) for c in declared]
    total = int(info["rowCount"])
    pager = Pager.clamped(page_number(page), PER_PAGE, total)
    sort = sort if sort in names else None
    direction = dir if dir in sorting.DIRECTIONS else "asc"
    can_sort = sorting.sortable(total)
    rows: list[dict[str, Any]] = []
    if total and chosen in datasets:
        if sort and can_sort:
            try:
                rows = sorting.sorted_page(
                    runtime.storage,
                    row.storage_key or "",
                    chosen,
                    sort,
                    direction,
                    pager.offset,
                    PER_PAGE,
                )
            except sorting.CannotSort:
                sort = None  # shown in the query's order rather than not at all
        if not sort or not can_sort:
            rows = results.read(caller.tenant_id, row.id, pager.page, PER_PAGE, chosen).data.rows
    path = f"/results/{row.id}"
    query = {
        "dataset": chosen if chosen != main else None,
        "sort": sort,
        "dir": direction if sort else None,
    }
    values: dict[str, Any] = {
        "result": row,
        "report": report,
        "rows_id": ROWS_ID,
        "dataset": chosen,
        "datasets": [
            (name, link(path, {"dataset": name if name != main else None})) for name in datasets
        ],
        "columns": result_view.columns(path, query, declared, sort, direction, can_sort),
        "cells": result_view.cells(rows, declared),
        "pager": pager,
        "page_link": lambda number: link(path, {**query, "page": number}),
        "sorted_by": sort,
        "direction": result_view.SORT_NAMES[direction],
        "can_sort": can_sort,
        "max_sort_rows": sorting.MAX_SORT_ROWS,
        "swapped": False,
    }
    if request.headers.get("HX-Target") == ROWS_ID and not request.headers.get(
        "HX-History-Restore-Request"
    ):
        return fragment(request, TEMPLATE, "rows", {**values, "swapped": True})
    labels = {str(p["name"]): str(p.get("label") or p["name"]) for p in report.parameters or []}
    earlier, earlier_total = results.list_for_report(caller.tenant_id, report.id, Page(EARLIER, 0))
    values.update(
        {
            "generated": moment(row.created_at, report.timezone),
            "generated_utc": moment(row.created_at),
            "expires": moment(row.expires_at, report.timezone) if row.expires_at else None,
            "parameters": shown_parameters(row.parameters, labels),
            "charts": result_view.charts(
                row.id, list(row.visualizations or []), list(report.visualizations or [])
            ),
            "downloads": [(f"{path}/download/{fmt}", text) for fmt, text in DOWNLOADS],
            "earlier": [
                {"id": r.id, "at": moment(r.created_at, report.timezone), "rows": r.row_count}
                for r in earlier
            ],
            "earlier_total": earlier_total,
        }
    )
    return render(request, TEMPLATE, values)


@router.get("/results/{result_id:uuid}/charts/{viz_file}")
def chart_file(
    result_id: uuid.UUID,
    viz_file: str,
    caller: Annotated[Principal, WebAllowed("report.read")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    viz_id, _, kind = viz_file.rpartition(".")
    results = ResultService(session, runtime.storage)
    if kind == "json" and viz_id:
        row = results.get(caller.tenant_id, result_id)
        viz = next((v for v in row.visualizations or [] if v.get("id") == viz_id), None)
        data = (viz or {}).get("data") or {}
        if "spec" not in data:
            raise NotFound(f"no chart '{viz_id}' in result {result_id}")
        payload = {"spec": data["spec"], "chartData": data.get("chartData", [])}
        return JSONResponse(payload, headers={"Cache-Control": CHART_CACHE})
    if kind not in IMAGE_TYPES or not viz_id:
        raise NotFound(f"no chart file {viz_file!r}")
    body, media_type = results.image(caller.tenant_id, result_id, viz_id, kind)
    return Response(body, media_type=media_type, headers={"Cache-Control": CHART_CACHE})


@router.get("/results/{result_id:uuid}/download/{fmt}")
def download(
    result_id: uuid.UUID,
    fmt: str,
    caller: Annotated[Principal, WebAllowed("export.download")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    if fmt not in dict(DOWNLOADS):
        raise NotFound(f"no download as {fmt!r}")
    made = ExportService(session, runtime.storage).export(caller.tenant_id, result_id, fmt)
    return FileResponse(
        made.path,
        media_type=made.media_type,
        headers={"Content-Disposition": made.content_disposition},
    )
