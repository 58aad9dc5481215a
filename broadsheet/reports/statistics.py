"""Execution statistics and recent runs in the read model, written when a job completes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, func, update
from sqlalchemy.orm import Session

from broadsheet import models

View = models.ReportDefinitionView


def record_execution(
    session: Session,
    *,
    report: models.ReportDefinition,
    result_id: uuid.UUID,
    parameters: dict[str, Any] | None,
    created_by: uuid.UUID,
    at: datetime,
    elapsed_ms: int,
) -> None:
    # One UPDATE: the running mean uses the old count, so concurrent completions add up.
    session.execute(
        update(View)
        .where(View.id == report.id)
        .values(
            average_execution_time_ms=cast(
                func.round(
                    (
                        func.coalesce(View.average_execution_time_ms, 0) * View.execution_count
                        + elapsed_ms
                    )
                    * 1.0
                    / (View.execution_count + 1)
                ),
                Integer,
            ),
            execution_count=View.execution_count + 1,
            last_execution_at=at,
        )
    )
    author = session.get(models.User, created_by)
    session.add(
        models.RecentReportView(
            id=result_id,
            tenant_id=report.tenant_id,
            report_id=report.id,
            report_name=report.name,
            category=report.category,
            parameters=parameters,
            created_at=at,
            created_by=created_by,
            created_by_name=author.name if author else "unknown",
            execution_time_ms=elapsed_ms,
        )
    )
