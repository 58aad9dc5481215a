from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, JSONType, tenant_fk, uuid_pk


class JobStatus(StrEnum):
    """queued → processing → completed | failed; queued or processing → cancelled."""

    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class JobTrigger(StrEnum):
    """Who asked for a job."""

    api = "api"
    dashboard = "dashboard"
    schedule = "schedule"


IN_FLIGHT = "trigger = 'dashboard' AND status IN ('queued', 'processing')"


class ReportJob(Base):
    """One generation of a report (seed 000 ``report_jobs``)."""

    __tablename__ = "report_jobs"
    __table_args__ = (
        Index("idx_report_jobs_report_id", "report_id"),
        Index("idx_report_jobs_status", "status"),
        Index("idx_report_jobs_created_at", "created_at"),
        Index("idx_report_jobs_cache", "report_id", "cache_key"),
        # Single flight for dashboards: one queued or running dashboard job per report and
        # cache key (the key holds the report version and parameters).
        Index(
            "uq_report_jobs_dashboard_flight",
            "report_id",
            "cache_key",
            unique=True,
            postgresql_where=text(IN_FLIGHT),
            sqlite_where=text(IN_FLIGHT),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_definitions.id", ondelete="CASCADE")
    )
    report_version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued)
    # "high" for on-demand, "low" for scheduled runs (seed 004's two queues).
    priority: Mapped[str] = mapped_column(String(10), default="high")
    trigger: Mapped[str] = mapped_column(String(20), default=JobTrigger.api, server_default="api")
    parameters: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # A running job touches this every few seconds; a stale one was lost with its process.
    heartbeat_at: Mapped[datetime | None]
    # When maintenance last re-sent it to the executor (a dispatch can be lost after commit).
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    cached: Mapped[bool] = mapped_column(default=False)
    # Hash of (report version, normalized parameters): equal keys may share a result.
    cache_key: Mapped[str | None] = mapped_column(String(64))
    rows_fetched: Mapped[int] = mapped_column(default=0, server_default="0")
    result_id: Mapped[uuid.UUID | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))


class ReportResult(Base):
    """The outcome of a completed job (seed 000 ``report_results``); rows live in storage."""

    __tablename__ = "report_results"
    __table_args__ = (
        Index("idx_report_results_report_id", "report_id"),
        Index("idx_report_results_job_id", "job_id"),
        Index("idx_report_results_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_definitions.id", ondelete="CASCADE")
    )
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("report_jobs.id", ondelete="CASCADE"))
    parameters: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Columns with types, row count and summary values; the rows themselves are in storage.
    data: Mapped[dict[str, Any] | None]
    visualizations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    row_count: Mapped[int] = mapped_column(default=0)
    storage_key: Mapped[str | None] = mapped_column(String(500))
    execution_time_ms: Mapped[int | None]
    expires_at: Mapped[datetime | None]
