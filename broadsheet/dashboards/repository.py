"""Queries over the dashboard read model."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, Text, exists, func, or_, select, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from broadsheet.dashboards.schemas import DashboardFilters
from broadsheet.kit.pagination import Page
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
    column = DashboardView.tags
    if session.get_bind().dialect.name == "postgresql":
        # TEXT[] containment, served by the GIN index.
        return type_coerce(column, postgresql.ARRAY(Text())).contains([tag])
    each = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
