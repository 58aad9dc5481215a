"""Rows of one tenant, found by id: another tenant's row is as absent as one that never was,
so a caller cannot tell which ids exist elsewhere."""

from __future__ import annotations

import uuid
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from broadsheet.errors import NotFound


class TenantRow(Protocol):
    @property
    def tenant_id(self) -> uuid.UUID: ...


T = TypeVar("T", bound=TenantRow)


def owned(session: Session, model: type[T], tenant_id: uuid.UUID, object_id: uuid.UUID) -> T | None:
    """The ``model`` row ``object_id`` when it is the tenant's, else None."""
    row = session.get(model, object_id)
    return row if row is not None and row.tenant_id == tenant_id else None


def get_owned(
    session: Session, model: type[T], tenant_id: uuid.UUID, object_id: uuid.UUID, name: str
) -> T:
    """The ``model`` row ``object_id`` of the tenant, or 404 ``no <name> <id>``."""
    row = owned(session, model, tenant_id, object_id)
    if row is None:
        raise NotFound(f"no {name} {object_id}")
    return row
