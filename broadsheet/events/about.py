"""The events of each kind of object, with what their ``data`` says: ids and states, never
secrets (a webhook's address shows as ``scheme://host/…``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.deliveries.recipients import display
from broadsheet.events.outbox import EventType, emit


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _id(value: object) -> str | None:
    return str(value) if value is not None else None


def job_ended(session: Session, job: models.ReportJob) -> None:
    """``broadsheet.job.completed`` or ``.failed``, as ``job`` now stands."""
    completed = job.status == models.JobStatus.completed
    data: dict[str, Any] = {
        "id": str(job.id),
        "reportId": str(job.report_id),
        "status": str(job.status),
        "resultId": _id(job.result_id),
        "rowsFetched": job.rows_fetched,
        "cached": bool(job.cached),
        "trigger": str(job.trigger),
        "error": job.error,
        "completedAt": _when(job.completed_at),
    }
    kind: EventType = "broadsheet.job.completed" if completed else "broadsheet.job.failed"
    emit(session, job.tenant_id, kind, f"job/{job.id}", data)


def execution_ended(session: Session, execution: models.ReportExecution) -> None:
    """``broadsheet.execution.completed`` or ``.failed``, as ``execution`` now stands."""
    data = {
        "id": str(execution.id),
        "scheduleId": str(execution.schedule_id),
        "scheduledFor": _when(execution.scheduled_for),
        "trigger": execution.trigger,
        "status": execution.status,
        "jobId": _id(execution.job_id),
        "resultId": _id(execution.result_id),
        "fileSize": execution.file_size,
        "error": execution.error_message,
        "completedAt": _when(execution.completed_at),
    }
    completed = execution.status == "completed"
    kind: EventType = (
        "broadsheet.execution.completed" if completed else "broadsheet.execution.failed"
    )
    emit(session, execution.tenant_id, kind, f"execution/{execution.id}", data)


def delivery_ended(
    session: Session, delivery: models.ReportDelivery, *, sent: bool, error: str | None
) -> None:
    """``broadsheet.delivery.sent`` or ``.failed`` (for good: retries are not news)."""
    data = {
        "id": str(delivery.id),
        "executionId": str(delivery.execution_id),
        "channel": delivery.recipient_type,
        "recipient": display(delivery.recipient_type, delivery.recipient_value, reveal=False),
        "status": "sent" if sent else "failed",
        "attempts": delivery.attempts,
        "error": error,
    }
    kind: EventType = "broadsheet.delivery.sent" if sent else "broadsheet.delivery.failed"
    emit(session, delivery.tenant_id, kind, f"delivery/{delivery.id}", data)


def report_updated(session: Session, report: models.ReportDefinition) -> None:
    data = {
        "id": str(report.id),
        "name": report.name,
        "version": report.version,
        "updatedAt": _when(report.updated_at),
    }
    emit(session, report.tenant_id, "broadsheet.report.updated", f"report/{report.id}", data)


def schedule_updated(session: Session, schedule: models.ReportSchedule) -> None:
    data = {
        "id": str(schedule.id),
        "name": schedule.name,
        "reportId": _id(schedule.report_id),
        "dashboardId": _id(schedule.dashboard_id),
        "enabled": schedule.enabled,
        "nextRunAt": _when(schedule.next_run_at),
        "updatedAt": _when(schedule.updated_at),
    }
    subject = f"schedule/{schedule.id}"
    emit(session, schedule.tenant_id, "broadsheet.schedule.updated", subject, data)
