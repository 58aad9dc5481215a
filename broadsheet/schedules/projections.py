"""Keeps ``scheduled_reports_view`` in step with schedules and their executions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.kit import bulk


def project_schedule(
    session: Session, row: models.ReportSchedule, last_status: str | None = None
) -> None:
    view = session.get(models.ScheduledReportView, row.id)
    name = sent_name(session, row) or ""  # before a new view is added: a lookup autoflushes
    if view is None:
        view = models.ScheduledReportView(id=row.id, tenant_id=row.tenant_id)
        session.add(view)
    view.report_id = row.report_id
    view.dashboard_id = row.dashboard_id
    view.report_name = name
    view.schedule_name = row.name
    view.schedule = row.schedule
    view.timezone = row.timezone
    view.enabled = row.enabled
    view.next_run_at = row.next_run_at
    view.last_run_at = row.last_run_at
    if last_status is not None:
        view.last_run_status = last_status
    view.recipient_count = len(row.recipients or [])
    view.export_format = row.export_format
    session.flush()


def sent_name(session: Session, row: models.ReportSchedule) -> str | None:
    """The name of what the schedule sends: its report's, or its dashboard's (None: gone)."""
    sent: models.ReportDefinition | models.Dashboard | None
    if row.dashboard_id is not None:
        sent = session.get(models.Dashboard, row.dashboard_id)
    else:
        sent = session.get(models.ReportDefinition, row.report_id)
    return sent.name if sent is not None else None


def project_fires(
    session: Session,
    fires: list[tuple[uuid.UUID, datetime | None, datetime | None, str | None]],
) -> None:
    """Many schedules' next run, and for those that ran their last run and its status, in
    one statement (for the ticker): ``(schedule id, next run, last run, status)``, with
    None for a last run that did not happen."""
    if not fires:
        return
    view = models.ScheduledReportView
    bulk.update_rows(
        session,
        view,
        [
            {"id": sid, "next_run_at": following, "last_run_at": latest, "last_run_status": s}
            for sid, following, latest, s in fires
        ],
        values=lambda row: {
            "next_run_at": row["next_run_at"],
            "last_run_at": func.coalesce(row["last_run_at"], view.last_run_at),
            "last_run_status": func.coalesce(row["last_run_status"], view.last_run_status),
        },
    )


def remove_schedule(session: Session, schedule_id: uuid.UUID) -> None:
    session.execute(
        delete(models.ScheduledReportView).where(models.ScheduledReportView.id == schedule_id)
    )
