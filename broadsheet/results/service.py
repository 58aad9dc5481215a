"""Reading results: pages of rows, history, and chart images rendered on the server."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.charts import render
from broadsheet.db import done_with_database
from broadsheet.errors import NotFound, ValidationFailed
from broadsheet.kit.pagination import Page
from broadsheet.kit.tenancy import owned
from broadsheet.kit.time import utc_now
from broadsheet.reports.schemas import MAIN_DATASET
from broadsheet.results import parquet
from broadsheet.results.schemas import (
    Column,
    ReportResult,
    ResultData,
    ResultSummary,
    VisualizationResult,
)
from broadsheet.storage import Storage

IMAGE_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


class ResultService:
    def __init__(self, session: Session, storage: Storage) -> None:
        self.session = session
        self.storage = storage

    def get(self, tenant_id: uuid.UUID, result_id: uuid.UUID) -> models.ReportResult:
        """A live result of the tenant; expired ones are gone, whether swept yet or not."""
        row = owned(self.session, models.ReportResult, tenant_id, result_id)
        if row is None or _expired(row):
            raise NotFound(f"no result {result_id}")
        return row

    def read(
        self,
        tenant_id: uuid.UUID,
        result_id: uuid.UUID,
        page: int,
        page_size: int,
        dataset: str | None = None,
    ) -> ReportResult:
        row = self.get(tenant_id, result_id)
        data = row.data or {}
        datasets: dict[str, Any] = data.get("datasets", {})
        dataset = dataset or data.get("mainDataset") or MAIN_DATASET
        if dataset not in datasets:
            names = ", ".join(datasets) or "none"
            raise ValidationFailed.field(
                "dataset", f"no dataset '{dataset}'; the result has {names}"
            )
        info = datasets[dataset]
        path = self.storage.local_path(f"{row.storage_key}{dataset}.parquet")
        rows = parquet.read_page(path, (page - 1) * page_size, page_size)
        return ReportResult(
            id=row.id,
            report_id=row.report_id,
            job_id=row.job_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            parameters=row.parameters,
            execution_time_ms=row.execution_time_ms,
            data=ResultData(
                dataset=dataset,
                columns=[Column(**c) for c in info["columns"]],
                rows=rows,
                total_rows=info["rowCount"],
                page=page,
                page_size=page_size,
                summary=info.get("summary", {}),
                datasets={
                    name: {"columns": d["columns"], "totalRows": d["rowCount"]}
                    for name, d in datasets.items()
                },
            ),
            visualizations=[VisualizationResult(**v) for v in row.visualizations or []],
        )

    def list_for_report(
        self, tenant_id: uuid.UUID, report_id: uuid.UUID, page: Page
    ) -> tuple[list[ResultSummary], int]:
        result = models.ReportResult
        rows, total = page.fetch(
            self.session,
            select(result)
            .where(
                result.tenant_id == tenant_id,
                result.report_id == report_id,
                or_(result.expires_at.is_(None), result.expires_at > utc_now()),
            )
            .order_by(result.created_at.desc(), result.id),
        )
        return [
            ResultSummary(
                id=r.id,
                report_id=r.report_id,
                job_id=r.job_id,
                created_at=r.created_at,
                expires_at=r.expires_at,
                parameters=r.parameters,
                row_count=r.row_count,
                execution_time_ms=r.execution_time_ms,
            )
            for r in rows
        ], total

    def image(
        self, tenant_id: uuid.UUID, result_id: uuid.UUID, viz_id: str, kind: str
    ) -> tuple[bytes, str]:
        """A chart as SVG or PNG, rendered once and then served from storage."""
        row = self.get(tenant_id, result_id)
        viz = next((v for v in row.visualizations or [] if v.get("id") == viz_id), None)
        if viz is None:
            raise NotFound(f"no visualization '{viz_id}' in result {result_id}")
        if viz.get("error") or "spec" not in viz.get("data", {}):
            raise NotFound(f"visualization '{viz_id}' has no chart: {viz.get('error')}")
        key = f"{row.storage_key}charts/{viz_id}.{kind}"
        if not self.storage.exists(key):
            done_with_database(self.session)  # a render needs no connection
            spec, chart_data = viz["data"]["spec"], viz["data"].get("chartData", [])
            body = (
                render.to_svg(spec, chart_data).encode()
                if kind == "svg"
                else render.to_png(spec, chart_data)
            )
            scratch = self.storage.scratch_file(f".{kind}")
            scratch.write_bytes(body)
            self.storage.put_file(key, scratch)
        return self.storage.local_path(key).read_bytes(), IMAGE_TYPES[kind]


def _expired(row: models.ReportResult) -> bool:
    return row.expires_at is not None and row.expires_at <= utc_now()


__all__ = ["MAIN_DATASET", "ResultService"]
