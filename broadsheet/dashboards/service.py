"""Dashboard definition CRUD: validation against the tenant's reports, versioning, and the
read-model projection, all in the caller's transaction; and the forced-refresh window.

The widgets' data (results, freshness, single flight) is ``dashboards.data``.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.dashboards import projections, repository, validation
from broadsheet.dashboards.schemas import (
    DEFAULT_REFRESH_SECONDS,
    DashboardDefinition,
    DashboardDefinitionWrite,
    DashboardFilters,
    DashboardMetadata,
)
from broadsheet.errors import Conflict, TooManyRequests
from broadsheet.kit.pagination import Page
from broadsheet.kit.tenancy import get_owned, owned
from broadsheet.kit.time import utc_now

# A forced refresh runs every widget's report: at most one per dashboard in this window.
REFRESH_WINDOW_SECONDS = 30


class DashboardService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def list(
        self, tenant_id: uuid.UUID, filters: DashboardFilters, page: Page
    ) -> tuple[list[DashboardMetadata], int]:
        rows, total = repository.list_dashboards(self.session, tenant_id, filters, page)
        return [metadata(row) for row in rows], total

    def get(self, tenant_id: uuid.UUID, dashboard_id: uuid.UUID) -> models.Dashboard:
        return get_owned(self.session, models.Dashboard, tenant_id, dashboard_id, "dashboard")

    def read(self, tenant_id: uuid.UUID, dashboard_id: uuid.UUID) -> models.Dashboard:
        """One dashboard, as a viewer opens it: counts one access in the read model."""
        row = self.get(tenant_id, dashboard_id)
        projections.count_access(self.session, row.id)
        return row

    def claim_refresh(self, row: models.Dashboard) -> None:
        """Take this dashboard's refresh window, or 429 with the seconds left in it. A
        refused call leaves the window as it was."""
        now = utc_now()
        table = models.Dashboard
        taken = self.session.execute(
            update(table)
            .where(
                table.id == row.id,
                (table.refreshed_at.is_(None))
                | (table.refreshed_at <= now - timedelta(seconds=REFRESH_WINDOW_SECONDS)),
            )
            .values(refreshed_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            return
        last = self.session.scalar(select(table.refreshed_at).where(table.id == row.id)) or now
        left = REFRESH_WINDOW_SECONDS - (now - last).total_seconds()
        raise TooManyRequests(
            f"the dashboard was refreshed less than {REFRESH_WINDOW_SECONDS} s ago",
            retry_after=max(1, math.ceil(left)),
        )

    def create(self, caller: Principal, body: DashboardDefinitionWrite) -> models.Dashboard:
        now = utc_now()
        checked = self._check(caller.tenant_id, body)
        row = models.Dashboard(
            tenant_id=caller.tenant_id, created_by=caller.user_id, created_at=now, version=1
        )
        self._apply(row, body, checked)
        row.updated_at = now
        self.session.add(row)
        self.session.flush()
        projections.project_dashboard(self.session, row, caller.name)
        return row

    def update(
        self, caller: Principal, dashboard_id: uuid.UUID, body: DashboardDefinitionWrite
    ) -> models.Dashboard:
        row = self.get(caller.tenant_id, dashboard_id)
        if body.version is not None and body.version != row.version:
            raise Conflict(
                f"the dashboard is at version {row.version}, not {body.version}: "
                "read it again and reapply your change"
            )
        checked = self._check(caller.tenant_id, body)
        self._apply(row, body, checked)
        row.version += 1
        row.updated_at = max(utc_now(), row.updated_at)
        self.session.flush()
        # The read-model row keeps the creator's name it was made with (the caller's would
        # name only a missing one).
        projections.project_dashboard(self.session, row, caller.name)
        return row

    def delete(self, tenant_id: uuid.UUID, dashboard_id: uuid.UUID) -> None:
        row = self.get(tenant_id, dashboard_id)
        self.session.delete(row)
        projections.remove_dashboard(self.session, row.id)
        self.session.flush()

    def _check(self, tenant_id: uuid.UUID, body: DashboardDefinitionWrite) -> validation.Checked:
        def report_of(report_id: uuid.UUID) -> models.ReportDefinition | None:
            return owned(self.session, models.ReportDefinition, tenant_id, report_id)

        return validation.check(body, report_of, utc_now())

    @staticmethod
    def _apply(
        row: models.Dashboard, body: DashboardDefinitionWrite, checked: validation.Checked
    ) -> None:
        row.name = body.name
        row.description = body.description
        row.layout = body.layout.model_dump(mode="json")
        row.widgets = checked.widgets
        row.parameters = checked.filters
        row.refresh_interval = body.refresh_interval
        row.timezone = body.timezone
        row.tags = body.tags


def definition(row: models.Dashboard) -> DashboardDefinition:
    return DashboardDefinition.model_validate(definition_fields(row))


def definition_fields(row: models.Dashboard) -> dict[str, Any]:
    """A stored definition as its wire fields: what a definition and a document share."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
        "createdBy": str(row.created_by),
        "tags": row.tags or [],
        "version": row.version,
        "layout": row.layout or {"type": "grid", "columns": 12},
        "refreshInterval": row.refresh_interval or DEFAULT_REFRESH_SECONDS,
        "timezone": row.timezone,
        "parameters": row.parameters or [],
        "widgets": [{"options": {}, **w} for w in row.widgets or []],
    }


def metadata(view: models.DashboardView) -> DashboardMetadata:
    return DashboardMetadata(
        id=view.id,
        name=view.name,
        description=view.description,
        created_at=view.created_at,
        updated_at=view.updated_at,
        created_by=str(view.created_by),
        created_by_name=view.created_by_name,
        tags=list(view.tags or []),
        widget_count=view.widget_count,
        access_count=view.access_count,
        last_accessed_at=view.last_accessed_at,
    )
