"""Read models of seed 000 (the query side): denormalised rows that list endpoints read.

Each is written by a projection in the same transaction as its write-side change, so a list
never disagrees with a read of the definition.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.models.base import Base, TagsType, tenant_fk


class ReportDefinitionView(Base):
    __tablename__ = "report_definitions_view"
    __table_args__ = (
        Index("idx_report_definitions_view_category", "category"),
        Index("idx_report_definitions_view_created_at", "created_at"),
        Index("idx_report_definitions_view_tags", "tags", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(100))
    timeframe: Mapped[str | None] = mapped_column(String(20))
    data_source: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[uuid.UUID]
    created_by_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    tags: Mapped[list[str]] = mapped_column(TagsType, default=list)
    version: Mapped[int] = mapped_column(default=1)
    parameter_count: Mapped[int]
    visualization_count: Mapped[int]
    last_execution_at: Mapped[datetime | None]
    execution_count: Mapped[int] = mapped_column(default=0)
    average_execution_time_ms: Mapped[int | None]


class DashboardView(Base):
    __tablename__ = "dashboards_view"
    __table_args__ = (
        Index("idx_dashboards_view_created_at", "created_at"),
        Index("idx_dashboards_view_last_accessed_at", "last_accessed_at"),
        Index("idx_dashboards_view_tags", "tags", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID]
    created_by_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    tags: Mapped[list[str]] = mapped_column(TagsType, default=list)
    widget_count: Mapped[int]
    last_accessed_at: Mapped[datetime | None]
    access_count: Mapped[int] = mapped_column(default=0)


class RecentReportView(Base):
    """One row per generated result, newest first: "what was run lately, by whom"."""

    __tablename__ = "recent_reports_view"
    __table_args__ = (
        Index("idx_recent_reports_view_created_by", "created_by"),
        Index("idx_recent_reports_view_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    report_id: Mapped[uuid.UUID]
    report_name: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(100))
    parameters: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID]
    created_by_name: Mapped[str] = mapped_column(String(255))
    execution_time_ms: Mapped[int | None]


class ScheduledReportView(Base):
    __tablename__ = "scheduled_reports_view"
    __table_args__ = (
        Index("idx_scheduled_reports_view_next_run_at", "next_run_at"),
        Index("idx_scheduled_reports_view_enabled", "enabled"),
    )

    # Goes with its schedule, also when the database deletes the schedule with its report or
    # dashboard (no code runs then to update the read model).
    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_schedules.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    # A schedule sends a report or a dashboard: one of these is set, and report_name is the
    # name of whichever it is.
    report_id: Mapped[uuid.UUID | None]
    dashboard_id: Mapped[uuid.UUID | None]
    report_name: Mapped[str] = mapped_column(String(255))
    schedule_name: Mapped[str] = mapped_column(String(255))
    schedule: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool]
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_run_status: Mapped[str | None] = mapped_column(String(20))
    recipient_count: Mapped[int]
    export_format: Mapped[str] = mapped_column(String(20))
