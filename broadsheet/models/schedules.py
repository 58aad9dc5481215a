"""Schedules say when; executions say what happened at each fire; deliveries, to whom.

Run state never lives on the schedule row beyond ``next_run_at``/``last_run_at``: each fire is
an execution, unique on (schedule, scheduled instant), so two schedulers cannot fire it twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, JSONType, tenant_fk, uuid_pk


class ReportSchedule(Base):
    """Seed 000 ``report_schedules`` with seed 004's time zone and friendly config."""

    __tablename__ = "report_schedules"
    __table_args__ = (
        Index("idx_report_schedules_report_id", "report_id"),
        Index("idx_report_schedules_dashboard_id", "dashboard_id"),
        Index("idx_report_schedules_enabled", "enabled"),
        Index("idx_report_schedules_next_run_at", "next_run_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    # A schedule sends a report's result or a dashboard's PDF: exactly one of these is set.
    report_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("report_definitions.id", ondelete="CASCADE")
    )
    dashboard_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dashboards.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(255))
    schedule: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    schedule_config: Mapped[dict[str, Any] | None]
    parameters: Mapped[dict[str, Any] | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    export_format: Mapped[str] = mapped_column(String(20))
    misfire_policy: Mapped[str] = mapped_column(String(20), default="run_once")
    misfire_grace_seconds: Mapped[int] = mapped_column(default=3600)
    business_days_only: Mapped[bool] = mapped_column(default=False)
    holiday_calendar: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_run_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))


class ReportExecution(Base):
    """One fire of a schedule, or a run-now (seed 004 ``ReportExecution``).

    status: pending → running → completed | failed
                         └──▶ retrying ──(next_attempt_at)──▶ running
    """

    __tablename__ = "report_executions"
    __table_args__ = (
        # Also the index that lists a schedule's executions by instant.
        UniqueConstraint("schedule_id", "scheduled_for"),
        Index("idx_report_executions_status", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_schedules.id", ondelete="CASCADE")
    )
    # The instant the fire was due (not when a worker got to it): templated parameters and
    # the uniqueness that stops double fires both hang on it.
    scheduled_for: Mapped[datetime]
    # The parameter values the fire resolved to when it was recorded (templates evaluated at
    # ``scheduled_for`` in the schedule's zone): every attempt and recipient uses these.
    parameters: Mapped[dict[str, Any] | None]
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("report_jobs.id", ondelete="SET NULL")
    )
    result_id: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    file_url: Mapped[str | None] = mapped_column(String(1000))
    file_size: Mapped[int | None]
    execution_time_ms: Mapped[int | None]
    retry_count: Mapped[int] = mapped_column(default=0)
    # When a failed generation is tried again (exponential backoff).
    next_attempt_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Set when the schedule's owner was told this execution failed (once).
    owner_notified_at: Mapped[datetime | None]


class ReportDelivery(Base):
    """One recipient of one execution (seed 004 ``ReportDelivery``).

    status: pending ──claimed──▶ sending ──▶ sent
               ▲                    ├──────▶ failed (permanent, or the last attempt)
               └── next_attempt_at ─┘ (a failure that may pass; or the sender died)
            skipped: never sent (unsubscribed, or a domain the tenant no longer allows)
    """

    __tablename__ = "report_deliveries"
    __table_args__ = (
        UniqueConstraint("execution_id", "recipient_type", "recipient_value"),
        Index("idx_report_deliveries_status", "status"),
        Index("idx_report_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_executions.id", ondelete="CASCADE")
    )
    recipient_type: Mapped[str] = mapped_column(String(20))
    recipient_value: Mapped[str] = mapped_column(String(1000))
    # The whole typed recipient as saved (it may carry its own parameters or secret).
    recipient: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Set when the schedule's owner was told this delivery failed (once).
    owner_notified_at: Mapped[datetime | None]


class EmailUnsubscribe(Base):
    """An address that unsubscribed from a tenant's scheduled emails, until it is added to a
    schedule again."""

    __tablename__ = "email_unsubscribes"
    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    address: Mapped[str] = mapped_column(String(320))  # lower case
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
