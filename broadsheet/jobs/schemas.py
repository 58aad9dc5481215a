from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from broadsheet.kit.schema import ApiModel
from broadsheet.models import JobStatus, JobTrigger


class JobProgress(ApiModel):
    rows: int


class ReportGenerationJob(ApiModel):
    """Seed 000's ReportGenerationJob, plus what a person watching it wants to know."""

    id: uuid.UUID
    report_id: uuid.UUID
    status: JobStatus
    parameters: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    result_id: uuid.UUID | None
    error: str | None
    cached: bool
    attempts: int
    priority: Literal["high", "low"] = Field(
        description="high: on demand; low: a schedule's (each has its own queue)."
    )
    trigger: JobTrigger = Field(
        description="Who asked: api (a generate call), dashboard (a dashboard's widget) or "
        "schedule."
    )
    progress: JobProgress
