"""Keeps ``dashboards_view`` in step with ``dashboards``.

Called by the service in the same transaction as the write, so the list never lags. The
access columns belong to the read side (a read of one dashboard counts one access) and are
left as they are by a definition's update.
"""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.kit import read_model
from broadsheet.kit.time import utc_now


def project_dashboard(session: Session, dashboard: models.Dashboard, author_name: str) -> None:
    view = read_model.project(session, models.DashboardView, dashboard, author_name)
    view.widget_count = len(dashboard.widgets or [])
    session.flush()


def count_access(session: Session, dashboard_id: uuid.UUID) -> None:
    """One more access, counted in the database (concurrent readers do not lose any)."""
    view = models.DashboardView
    session.execute(
        update(view)
        .where(view.id == dashboard_id)
        .values(access_count=view.access_count + 1, last_accessed_at=utc_now())
        .execution_options(synchronize_session=False)
    )


def remove_dashboard(session: Session, dashboard_id: uuid.UUID) -> None:
    read_model.remove(session, models.DashboardView, dashboard_id)
