from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from broadsheet.kit.schema import ApiModel


class JobProgress(ApiModel):
    rows: int


class ReportGenerationJob(ApiModel):
    """Seed 000's ReportGenerationJob, plus what a person watching it wants to know."""

    id: uuid.UUID
    report_id: uuid.UUID
    status: str
    parameters: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    result_id: uuid.UUID | None
    error: str | None
    cached: bool
    attempts: int
    priority: str
    progress: JobProgress
