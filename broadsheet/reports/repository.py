"""Queries over the report read model."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from broadsheet.kit.pagination import Page
from broadsheet.kit.search import contains_text, has_tag
from broadsheet.models import ReportDefinitionView
from broadsheet.reports.schemas import ReportFilters

SORTS = {
    "name": ReportDefinitionView.name,
    "createdAt": ReportDefinitionView.created_at,
    "updatedAt": ReportDefinitionView.updated_at,
}


def list_reports(
    session: Session, tenant_id: uuid.UUID, filters: ReportFilters, page: Page
) -> tuple[list[ReportDefinitionView], int]:
    column = SORTS[filters.sort.lstrip("-")]
    order = column.desc() if filters.sort.startswith("-") else column.asc()
    query = _filtered(session, tenant_id, filters).order_by(order, ReportDefinitionView.id)
    return page.fetch(session, query)


def _filtered(
    session: Session, tenant_id: uuid.UUID, filters: ReportFilters
) -> Select[ReportDefinitionView]:
    view = ReportDefinitionView
    query = select(view).where(view.tenant_id == tenant_id)
    if filters.category:
        query = query.where(view.category == filters.category)
    if filters.timeframe:
        query = query.where(view.timeframe == filters.timeframe.value)
    if filters.tag:
        query = query.where(has_tag(session, view.tags, filters.tag))
    if filters.q:
        query = query.where(contains_text(filters.q, view.name, view.description))
    return query
