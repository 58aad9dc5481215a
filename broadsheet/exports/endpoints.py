from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import FileResponse

from broadsheet.audit import log as audit
from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import RuntimeDep, SessionDep
from broadsheet.exports.base import MAX_PDF_MAX_ROWS
from broadsheet.exports.formats import ExportFormat
from broadsheet.exports.registry import EXPORTERS
from broadsheet.exports.service import ExportService
from broadsheet.kit.ids import parse_id
from broadsheet.routing import api_router

ResultId = Annotated[str, Path(alias="resultId", description="A result id.")]

router = api_router("/api/v1/reports", "exports")


@router.get(
    "/results/{resultId}/export",
    summary="Export report in specified format",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file, as an attachment",
            "content": {e.media_type.split(";")[0]: {} for e in EXPORTERS.values()},
        }
    },
)
def export_result(
    result_id: ResultId,
    caller: Annotated[Principal, Allowed("export.download")],
    session: SessionDep,
    runtime: RuntimeDep,
    format: Annotated[ExportFormat, Query(description="The file's format.")],
    bom: Annotated[bool, Query(description="CSV: start with a UTF-8 BOM (for Excel).")] = False,
    pdf_max_rows: Annotated[
        int | None,
        Query(alias="pdfMaxRows", ge=1, le=MAX_PDF_MAX_ROWS, description="PDF: table rows."),
    ] = None,
) -> FileResponse:
    result = parse_id(result_id, "result")
    made = ExportService(session, runtime.storage).export(
        caller.tenant_id,
        result,
        format,
        bom=bom,
        pdf_max_rows=pdf_max_rows,
    )
    audit.record(session, caller.tenant_id, "export.downloaded", "result", result, format=format)
    return FileResponse(
        made.path,
        media_type=made.media_type,
        headers={"Content-Disposition": made.content_disposition},
    )
