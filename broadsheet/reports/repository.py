"""Queries over the report read model."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, Text, exists, func, or_, select, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from broadsheet.kit.pagination import Page
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
        query = query.where(_has_tag(session, filters.tag))
    if filters.q:
        pattern = "%" + _escape_like(filters.q) + "%"
        query = query.where(
            or_(
                view.name.ilike(pattern, escape="\\"),
                view.description.ilike(pattern, escape="\\"),
            )
        )
    return query


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    column = ReportDefinitionView.tags
    if session.get_bind().dialect.name == "postgresql":
        # TEXT[] containment, served by the GIN index.
        return type_coerce(column, postgresql.ARRAY(Text())).contains([tag])
    each = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
