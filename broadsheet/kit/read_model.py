"""A definition's row in its read model (``report_definitions_view``, ``dashboards_view``): the
denormalised row a list endpoint reads instead of the definition.

The service writes it in the same transaction as the definition, so a list never lags. Every
such row copies what all definitions have — name, description, tags, who made it and when,
when it last changed; the caller sets its kind's own columns on the row it gets back. Columns
the read side keeps (a report's run statistics, a dashboard's access count) start at their
column defaults and are left as they are by a definition's update.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import delete
from sqlalchemy.orm import Session


class Definition(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def created_by(self) -> uuid.UUID: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def tags(self) -> list[str]: ...


class Listed(Protocol):
    id: uuid.UUID
    tenant_id: uuid.UUID
    created_by: uuid.UUID
    created_by_name: str
    created_at: datetime
    updated_at: datetime
    name: str
    description: str | None
    tags: list[str]


V = TypeVar("V", bound=Listed)


def project(session: Session, view_model: type[V], row: Definition, author_name: str) -> V:
    """``row``'s read-model row with the shared fields brought up to date, made (and added to
    the session) the first time, when ``author_name`` is recorded as its creator's for good."""
    view = session.get(view_model, row.id)
    if view is None:
        view = view_model()
        view.id = row.id
        view.tenant_id = row.tenant_id
        view.created_by = row.created_by
        view.created_by_name = author_name
        view.created_at = row.created_at
        session.add(view)
    view.name = row.name
    view.description = row.description
    view.updated_at = row.updated_at
    view.tags = list(row.tags)
    return view


def remove(session: Session, view_model: type[Listed], row_id: uuid.UUID) -> None:
    session.execute(delete(view_model).filter_by(id=row_id))
