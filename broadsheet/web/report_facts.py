"""What the report pages show beside the definitions, read from the read models: each
report's number of schedules, and the categories a tenant's reports use (the list's filter).

Each is one query whatever the number of reports on the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadsheet.models import ReportDefinitionView, ScheduledReportView

# A filter offers at most this many categories (the rest are reached by typing them).
MAX_CATEGORIES = 500


def schedule_counts(
    session: Session, tenant_id: uuid.UUID, report_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many schedules send each of ``report_ids`` (paused ones included; 0 if none)."""
    if not report_ids:
        return {}
    view = ScheduledReportView
    rows = session.execute(
        select(view.report_id, func.count())
        .where(view.tenant_id == tenant_id, view.report_id.in_(list(report_ids)))
        .group_by(view.report_id)
    ).all()
    counts = {report_id: 0 for report_id in report_ids}
    counts.update({report_id: count for report_id, count in rows if report_id is not None})
    return counts


def categories(session: Session, tenant_id: uuid.UUID) -> list[str]:
    """The categories of the tenant's reports, in alphabetical order."""
    view = ReportDefinitionView
    return list(
        session.scalars(
            select(view.category)
            .where(view.tenant_id == tenant_id)
            .group_by(view.category)
            .order_by(view.category)
            .limit(MAX_CATEGORIES)
        )
    )
