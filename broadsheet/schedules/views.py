"""Schedule and execution rows → API schemas."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.deliveries import recipients
from broadsheet.schedules.cadence import from_cron
from broadsheet.schedules.schemas import Delivery, Execution, Fire, ReportSchedule


def schedule(
    session: Session, row: models.ReportSchedule, preview: list[Fire], *, reveal: bool
) -> ReportSchedule:
    view = session.get(models.ScheduledReportView, row.id)
    zone = ZoneInfo(row.timezone)
    return ReportSchedule(
        id=row.id,
        report_id=row.report_id,
        dashboard_id=row.dashboard_id,
        name=row.name,
        schedule=row.schedule,
        timezone=row.timezone,
        schedule_config=row.schedule_config or from_cron(row.schedule, row.timezone),
        parameters=row.parameters or {},
        enabled=row.enabled,
        recipients=recipients.shown(list(row.recipients or []), reveal=reveal),
        export_format=row.export_format,
        business_days_only=row.business_days_only,
        holiday_calendar=row.holiday_calendar,
        misfire_policy=row.misfire_policy,
        misfire_grace_seconds=row.misfire_grace_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=str(row.created_by),
        last_run_at=row.last_run_at,
        next_run_at=row.next_run_at,
        next_run_local=row.next_run_at.astimezone(zone).isoformat() if row.next_run_at else None,
        last_run_status=view.last_run_status if view else None,
        preview=preview,
    )


def execution(session: Session, row: models.ReportExecution, *, reveal: bool) -> Execution:
    deliveries = session.scalars(
        select(models.ReportDelivery)
        .where(models.ReportDelivery.execution_id == row.id)
        .order_by(models.ReportDelivery.created_at)
    ).all()
    schedule_row = session.get(models.ReportSchedule, row.schedule_id)
    dashboard = schedule_row is not None and schedule_row.dashboard_id is not None
    artifact = None
    if row.file_url and schedule_row is not None and (row.result_id or dashboard):
        fmt = schedule_row.export_format
        artifact = {
            "format": fmt,
            "size": row.file_size,
            # A dashboard's PDF is the one made for this execution; a report's export is
            # the result's, in the schedule's format.
            "href": f"/api/v1/executions/{row.id}/artifact"
            if dashboard
            else f"/api/v1/reports/results/{row.result_id}/export?format={fmt}",
        }
    # Each attempt that ended is recorded; one still running is counted too (a report's job,
    # or a dashboard's PDF due or being made). A retry that waits has not been made yet.
    ended = len((row.details or {}).get("attempts", []))
    attempts = ended + (1 if row.status == "running" and (row.job_id or dashboard) else 0)
    return Execution(
        id=row.id,
        schedule_id=row.schedule_id,
        scheduled_for=row.scheduled_for,
        trigger=row.trigger,
        status=row.status,
        parameters=row.parameters,
        attempts=attempts,
        started_at=row.started_at,
        completed_at=row.completed_at,
        next_attempt_at=row.next_attempt_at,
        error=row.error_message,
        job_id=row.job_id,
        result_id=row.result_id,
        artifact=artifact,
        execution_time_ms=row.execution_time_ms,
        deliveries=[
            Delivery(
                id=d.id,
                recipient_type=d.recipient_type,
                recipient=recipients.display(d.recipient_type, d.recipient_value, reveal=reveal),
                status=d.status,
                attempts=d.attempts,
                delivered_at=d.delivered_at,
                next_attempt_at=d.next_attempt_at if d.status in ("pending", "sending") else None,
                error=d.error_message,
            )
            for d in deliveries
        ],
    )
