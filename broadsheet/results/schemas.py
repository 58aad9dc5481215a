from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from broadsheet.datasources.arrow import ColumnType
from broadsheet.kit.schema import ApiModel
from broadsheet.reports.schemas import VisualizationType


class Column(ApiModel):
    name: str
    type: ColumnType


class ResultData(ApiModel):
    dataset: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    total_rows: int
    page: int
    page_size: int
    summary: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]] = Field(
        description="Every dataset of the result with its columns and row count."
    )


class VisualizationResult(ApiModel):
    id: str
    type: VisualizationType
    title: str | None = None
    data: dict[str, Any] = Field(description="`spec` (Vega-Lite) and `chartData` (its rows).")
    error: str | None = None


class ReportResult(ApiModel):
    """Seed 000's ReportResult; ``data`` holds one page of rows."""

    id: uuid.UUID
    report_id: uuid.UUID
    job_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    parameters: dict[str, Any] | None
    execution_time_ms: int | None
    data: ResultData
    visualizations: list[VisualizationResult]


class ResultSummary(ApiModel):
    id: uuid.UUID
    report_id: uuid.UUID
    job_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    parameters: dict[str, Any] | None
    row_count: int
    execution_time_ms: int | None
