"""Keeps ``report_definitions_view`` in step with ``report_definitions``.

Called by the service in the same transaction as the write, so the list never lags. The
execution statistics columns belong to the generation side and are left as they are.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.orm import Session

from broadsheet import models


def project_report(session: Session, report: models.ReportDefinition, author_name: str) -> None:
    view = session.get(models.ReportDefinitionView, report.id)
    if view is None:
        view = models.ReportDefinitionView(
            id=report.id,
            tenant_id=report.tenant_id,
            created_by=report.created_by,
            created_by_name=author_name,
            created_at=report.created_at,
            execution_count=0,
        )
        session.add(view)
    view.name = report.name
    view.description = report.description
    view.category = report.category
    view.timeframe = report.timeframe
    view.data_source = report.data_source
    view.updated_at = report.updated_at
    view.tags = list(report.tags)
    view.version = report.version
    view.parameter_count = len(report.parameters or [])
    view.visualization_count = len(report.visualizations or [])
    session.flush()


def remove_report(session: Session, report_id: uuid.UUID) -> None:
    session.execute(
        delete(models.ReportDefinitionView).where(models.ReportDefinitionView.id == report_id)
    )
