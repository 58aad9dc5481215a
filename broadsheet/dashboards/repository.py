"""Queries over the dashboard read model."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from broadsheet.dashboards.schemas import DashboardFilters
from broadsheet.kit.pagination import Page
from broadsheet.kit.search import contains_text, has_tag
from broadsheet.models import DashboardView


def list_dashboards(
    session: Session, tenant_id: uuid.UUID, filters: DashboardFilters, page: Page
) -> tuple[list[DashboardView], int]:
    query = _filtered(session, tenant_id, filters).order_by(
        DashboardView.updated_at.desc(), DashboardView.id
    )
    return page.fetch(session, query)


def _filtered(
    session: Session, tenant_id: uuid.UUID, filters: DashboardFilters
) -> Select[DashboardView]:
    view = DashboardView
    query = select(view).where(view.tenant_id == tenant_id)
    if filters.tag:
        query = query.where(has_tag(session, view.tags, filters.tag))
    if filters.q:
        query = query.where(contains_text(filters.q, view.name, view.description))
    return query
