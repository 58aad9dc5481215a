"""Schedule schemas: seed 000's ``ReportSchedule`` plus seed 004's friendlier form."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from broadsheet.deliveries.recipients import Recipient, RecipientType
from broadsheet.exports.formats import ExportFormat
from broadsheet.kit.schema import ApiInput, ApiModel, RoundTripInput

# pending → running → completed | failed, or running → retrying → pending (see the model).
ExecutionStatus = Literal["pending", "running", "retrying", "completed", "failed"]
# pending → sending → sent | failed, or back to pending for a retry; skipped: never sent.
DeliveryStatus = Literal["pending", "sending", "sent", "failed", "skipped"]


class MisfirePolicy(StrEnum):
    run_once = "run_once"
    skip = "skip"


class ScheduleConfig(ApiInput):
    """Seed 004's ``schedule_config``: stored as a cron expression, shown back in both forms."""

    cadence: Literal["daily", "weekly", "monthly", "cron"]
    time: str | None = Field(None, description='"HH:MM", 24-hour, in the time zone.')
    day_of_week: int | str | None = Field(None, description="1 (Monday) … 7, or MON … SUN.")
    day_of_month: int | Literal["L"] | None = Field(
        None, description='1 … 31 (only months that have it), or "L" for the last day.'
    )
    cron_expression: str | None = Field(None, max_length=100)
    timezone: str | None = Field(None, max_length=64)


class ReportScheduleWrite(RoundTripInput):
    """The body of POST and PUT: ``schedule`` (cron) or ``scheduleConfig``, not both; and
    ``reportId`` or ``dashboardId``, not both (checked by the service, to name the field)."""

    READ_ONLY = frozenset(
        {"id", "createdAt", "updatedAt", "createdBy", "lastRunAt", "nextRunAt", "nextRunLocal",
         "preview", "lastRunStatus"}
    )  # fmt: skip

    report_id: uuid.UUID | None = Field(None, description="The report to run and send.")
    dashboard_id: uuid.UUID | None = Field(
        None,
        description="Instead of a report: the dashboard whose PDF to send (exportFormat pdf); "
        "`parameters` are then its filter values by filter name.",
    )
    name: str = Field(min_length=1, max_length=255)
    schedule: str | None = Field(None, max_length=100, description="Cron expression.")
    schedule_config: ScheduleConfig | None = None
    timezone: str | None = Field(None, max_length=64, description="IANA zone; default UTC.")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Values by name (a report's parameters, or a dashboard's filters); "
        "strings may hold templates like {{now().startOfMonth().minusMonths(1)}}, evaluated "
        "at each fire's instant in the schedule's time zone.",
    )
    enabled: bool = True
    recipients: list[Recipient] = Field(default_factory=list, max_length=200)
    export_format: ExportFormat = "pdf"
    business_days_only: bool = False
    holiday_calendar: str | None = Field(None, max_length=10, description='e.g. "US", "GB"')
    misfire_policy: MisfirePolicy = MisfirePolicy.run_once
    misfire_grace_seconds: int = Field(3600, ge=0, le=7 * 86400)

    @model_validator(mode="after")
    def _one_form(self) -> ReportScheduleWrite:
        if self.schedule is None and self.schedule_config is None:
            raise ValueError("give a cron `schedule` or a `scheduleConfig`")
        return self


class Fire(ApiModel):
    utc: datetime
    local: str = Field(description="ISO 8601 in the schedule's time zone, with its offset.")
    parameters: dict[str, Any] | None = None


class ScheduleRecipient(ApiModel):
    """A recipient as a schedule shows it: its secret only as ``hasSecret``."""

    type: RecipientType
    address: str
    parameters: dict[str, Any] | None = Field(None, exclude_if=lambda v: v is None)
    has_secret: bool | None = Field(None, exclude_if=lambda v: v is None)


class ReportSchedule(ApiModel):
    id: uuid.UUID
    report_id: uuid.UUID | None = Field(description="None for a dashboard's schedule.")
    dashboard_id: uuid.UUID | None = Field(description="None for a report's schedule.")
    name: str
    schedule: str
    timezone: str
    schedule_config: dict[str, Any]
    parameters: dict[str, Any]
    enabled: bool
    recipients: list[ScheduleRecipient]
    export_format: ExportFormat
    business_days_only: bool
    holiday_calendar: str | None
    misfire_policy: MisfirePolicy
    misfire_grace_seconds: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    last_run_at: datetime | None
    next_run_at: datetime | None
    next_run_local: str | None
    last_run_status: ExecutionStatus | None = None
    preview: list[Fire]


class Preview(ApiModel):
    schedule: str
    timezone: str
    fires: list[Fire]


class Delivery(ApiModel):
    id: uuid.UUID
    recipient_type: RecipientType
    recipient: str
    status: DeliveryStatus
    attempts: int
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    error: str | None


class Execution(ApiModel):
    id: uuid.UUID
    schedule_id: uuid.UUID
    scheduled_for: datetime
    trigger: Literal["schedule", "manual"] = Field(description="manual: run now.")
    status: ExecutionStatus
    parameters: dict[str, Any] | None = Field(
        description="The values this fire runs with, resolved once when it was recorded "
        "(templates evaluated at scheduledFor in the schedule's time zone); every retry and "
        "recipient uses them. A dashboard's: every filter's value, the defaults included. "
        "None when the fire could not resolve them."
    )
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    next_attempt_at: datetime | None
    error: str | None
    job_id: uuid.UUID | None
    result_id: uuid.UUID | None
    artifact: dict[str, Any] | None
    execution_time_ms: int | None
    deliveries: list[Delivery]
