"""Making (once) and finding an export of a result.

An export is kept in storage beside its result under a key made of the format and the
options that change its bytes, and served from there next time. Two identical requests at
once wait for one rendering: a lock per key in this process, and on PostgreSQL an advisory
lock shared by every process.
"""

from __future__ import annotations

import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.errors import ValidationFailed
from broadsheet.exports.base import (
    DEFAULT_PDF_MAX_ROWS,
    ExportContext,
    Exporter,
    ExportOptions,
    ParquetSource,
    Progress,
)
from broadsheet.exports.filenames import content_disposition
from broadsheet.exports.registry import EXPORTERS, FORMATS
from broadsheet.reports.schemas import MAIN_DATASET
from broadsheet.results.service import ResultService
from broadsheet.storage import Storage

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Export:
    path: Path
    media_type: str
    content_disposition: str
    size: int


def exporter_for(fmt: str | None) -> Exporter:
    if not fmt or fmt not in EXPORTERS:
        given = f"'{fmt}' is not a format" if fmt else "a format is required"
        raise ValidationFailed.field("format", f"{given}; use one of: {', '.join(FORMATS)}")
    return EXPORTERS[fmt]


class ExportService:
    def __init__(self, session: Session, storage: Storage) -> None:
        self.session = session
        self.storage = storage

    def export(
        self,
        tenant_id: uuid.UUID,
        result_id: uuid.UUID,
        fmt: str | None,
        *,
        bom: bool = False,
        pdf_max_rows: int | None = None,
        progress: Progress | None = None,
    ) -> Export:
        """The export file, made now if it was not made before. ``pdf_max_rows`` defaults to
        the report's own ``pdfMaxRows``."""
        exporter = exporter_for(fmt)
        result = ResultService(self.session, self.storage).get(tenant_id, result_id)
        report = self.session.get(models.ReportDefinition, result.report_id)
        assert report is not None, "results go with their report"
        rows_cap = pdf_max_rows or report.pdf_max_rows or DEFAULT_PDF_MAX_ROWS
        options = ExportOptions(bom=bom, pdf_max_rows=rows_cap)
        key = f"{result.storage_key}exports/{exporter.name}-{options.key(exporter.name)}"
        key += f".{exporter.extension}"
        if not self.storage.exists(key):
            with self._exclusive(key):
                if not self.storage.exists(key):  # someone else may have made it meanwhile
                    self._render(exporter, context(result, report, options), key, progress)
        return Export(
            path=self.storage.local_path(key),
            media_type=exporter.media_type,
            content_disposition=content_disposition(
                report.name, result.created_at, report.timezone, exporter.extension
            ),
            size=self.storage.size(key),
        )

    def _render(
        self, exporter: Exporter, ctx: ExportContext, key: str, progress: Progress | None
    ) -> None:
        source = ParquetSource(self.storage.local_path(f"{ctx_prefix(key)}{MAIN_DATASET}.parquet"))
        scratch = self.storage.scratch_file(f".{exporter.extension}")
        try:
            with scratch.open("wb") as out:
                exporter.write(ctx, source, out, progress or (lambda _rows: None))
            self.storage.put_file(key, scratch)
        finally:
            scratch.unlink(missing_ok=True)

    @contextmanager
    def _exclusive(self, key: str) -> Iterator[None]:
        with _locks_guard:
            lock = _locks.setdefault(key, threading.Lock())
        with lock:
            if self.session.get_bind().dialect.name != "postgresql":
                yield
                return
            number = zlib.crc32(key.encode())
            self.session.execute(text("SELECT pg_advisory_lock(:k)"), {"k": number})
            try:
                yield
            finally:
                self.session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": number})


def ctx_prefix(key: str) -> str:
    """``results/<id>/exports/x.csv`` → ``results/<id>/``."""
    return key.split("exports/", 1)[0]


def context(
    result: models.ReportResult, report: models.ReportDefinition, options: ExportOptions
) -> ExportContext:
    data = result.data or {}
    return ExportContext(
        result_id=str(result.id),
        report={
            "id": str(report.id),
            "name": report.name,
            "description": report.description,
            "category": report.category,
            "version": report.version,
        },
        generated_at=result.created_at,
        timezone=report.timezone,
        parameters=result.parameters or {},
        columns=data.get("columns", []),
        row_count=result.row_count,
        summary=data.get("summary", {}),
        visualizations=result.visualizations or [],
        options=options,
    )
