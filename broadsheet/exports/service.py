"""Making (once) and finding an export of a result.

An export is kept in storage beside its result under a key made of the format and the
options that change its bytes, and served from there next time. Two identical requests at
once wait for one rendering: a lock per key in this process, and on PostgreSQL an advisory
lock shared by every process.
"""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.db import done_with_database
from broadsheet.errors import ValidationFailed
from broadsheet.exports.base import (
    DEFAULT_PDF_MAX_ROWS,
    MAX_PDF_MAX_ROWS,
    ExportContext,
    Exporter,
    ExportOptions,
    ParquetSource,
    Progress,
)
from broadsheet.exports.filenames import content_disposition
from broadsheet.exports.registry import EXPORTERS, FORMATS
from broadsheet.kit.gc import release_memory
from broadsheet.metrics import record as metrics
from broadsheet.reports.schemas import MAIN_DATASET
from broadsheet.reports.service import report_snapshot
from broadsheet.results.service import ResultService
from broadsheet.storage import Storage

LOCK_WAIT_SECONDS = 600
LOCK_POLL_SECONDS = 0.2
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Export:
    key: str  # where it is kept in artifact storage
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
        the report's own ``pdfMaxRows``.

        Everything is read from the database first; then the connection goes back to the
        pool, so a long render (or a wait for someone else's) never holds one.
        """
        exporter = exporter_for(fmt)
        result = ResultService(self.session, self.storage).get(tenant_id, result_id)
        report = report_as_run(self.session, result)
        cap = min(
            pdf_max_rows or report.get("pdfMaxRows") or DEFAULT_PDF_MAX_ROWS, MAX_PDF_MAX_ROWS
        )
        # Caps past the row count make the same file: one cache entry for all of them.
        options = ExportOptions(bom=bom, pdf_max_rows=min(cap, max(result.row_count, 1)))
        key = f"{result.storage_key}exports/{exporter.name}-{options.key(exporter.name)}"
        key += f".{exporter.extension}"
        source = (
            f"{result.storage_key}{(result.data or {}).get('mainDataset', MAIN_DATASET)}.parquet"
        )
        ctx = context(result, report, options)
        engine = self.session.get_bind()
        done_with_database(self.session)  # read-only so far: the connection goes back
        if not self.storage.exists(key):
            with _exclusive(key, engine, self.storage):
                if not self.storage.exists(key):  # someone else may have made it meanwhile
                    self._render(exporter, ctx, source, key, progress)
        return Export(
            key=key,
            path=self.storage.local_path(key),
            media_type=exporter.media_type,
            content_disposition=content_disposition(
                ctx.report_name, ctx.generated_at, ctx.timezone, exporter.extension
            ),
            size=self.storage.size(key),
        )

    def _render(
        self,
        exporter: Exporter,
        ctx: ExportContext,
        source: str,
        key: str,
        progress: Progress | None,
    ) -> None:
        rows = ParquetSource(self.storage.local_path(source))
        scratch = self.storage.scratch_file(f".{exporter.extension}")
        ctx = replace(ctx, scratch_dir=scratch.parent)
        try:
            with metrics.timed_phase("export"), scratch.open("wb") as out:
                exporter.write(ctx, rows, out, progress or (lambda _rows: None))
            self.storage.put_file(key, scratch)
        finally:
            scratch.unlink(missing_ok=True)
            release_memory()  # a wide result's batches would keep the process large


@contextmanager
def _exclusive(key: str, engine: Any, storage: Storage) -> Iterator[None]:
    """One renderer per export file: a lock in this process, and on PostgreSQL an advisory
    lock on a connection of its own, tried (not waited on) so a waiter holds no connection
    and stops waiting as soon as the file exists."""
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if engine.dialect.name != "postgresql":
            yield
            return
        number = zlib.crc32(key.encode())
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            with engine.connect() as conn:
                if conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": number}):
                    try:
                        yield
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": number})
                    return
            if storage.exists(key) or time.monotonic() > deadline:
                yield  # made by another process meanwhile (or it is taking too long)
                return
            time.sleep(LOCK_POLL_SECONDS)


def report_as_run(session: Session, result: models.ReportResult) -> dict[str, Any]:
    """The report as it was when the result was made (name, zone, version…), so an export
    made later says the same as one made at once; older results fall back to the report now."""
    stored = (result.data or {}).get("report")
    if stored:
        return dict(stored)
    report = session.get(models.ReportDefinition, result.report_id)
    assert report is not None, "results go with their report"
    return report_snapshot(report)


def context(
    result: models.ReportResult, report: dict[str, Any], options: ExportOptions
) -> ExportContext:
    data = result.data or {}
    return ExportContext(
        result_id=str(result.id),
        report={k: report.get(k) for k in ("id", "name", "description", "category", "version")},
        generated_at=result.created_at,
        timezone=report.get("timezone") or "UTC",
        parameters=result.parameters or {},
        columns=data.get("columns", []),
        row_count=result.row_count,
        summary=data.get("summary", {}),
        visualizations=result.visualizations or [],
        options=options,
    )
