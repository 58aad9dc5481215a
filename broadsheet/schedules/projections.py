"""Keeps ``scheduled_reports_view`` in step with schedules and their executions."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, delete, update
from sqlalchemy.orm import Session

from broadsheet import models


def project_schedule(
    session: Session, row: models.ReportSchedule, last_status: str | None = None
) -> None:
    view = session.get(models.ScheduledReportView, row.id)
    report = session.get(models.ReportDefinition, row.report_id)
    if view is None:
        view = models.ScheduledReportView(id=row.id, tenant_id=row.tenant_id)
        session.add(view)
    view.report_id = row.report_id
    view.report_name = report.name if report else ""
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


def project_fires(session: Session, rows: list[models.ReportSchedule], status: str) -> None:
    """Next and last run of many schedules at once (one statement, for the ticker)."""
    if not rows:
        return
    view = models.ScheduledReportView.__table__  # Core executemany: one statement for all
    session.execute(
        update(view)  # type: ignore[arg-type]
        .where(view.c.id == bindparam("vid"))
        .values(
            next_run_at=bindparam("next_run"),
            last_run_at=bindparam("last_run"),
            last_run_status=status,
        ),
        [{"vid": r.id, "next_run": r.next_run_at, "last_run": r.last_run_at} for r in rows],
    )


def remove_schedule(session: Session, schedule_id: uuid.UUID) -> None:
    session.execute(
        delete(models.ScheduledReportView).where(models.ScheduledReportView.id == schedule_id)
    )
