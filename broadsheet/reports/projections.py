"""Keeps ``report_definitions_view`` in step with ``report_definitions``.

Called by the service in the same transaction as the write, so the list never lags. The
execution statistics columns belong to the generation side and are left as they are.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.kit import read_model


def project_report(session: Session, report: models.ReportDefinition, author_name: str) -> None:
    view = read_model.project(session, models.ReportDefinitionView, report, author_name)
    view.category = report.category
    view.timeframe = report.timeframe
    view.data_source = report.data_source
    view.version = report.version
    view.parameter_count = len(report.parameters or [])
    view.visualization_count = len(report.visualizations or [])
    session.flush()


def remove_report(session: Session, report_id: uuid.UUID) -> None:
    read_model.remove(session, models.ReportDefinitionView, report_id)
