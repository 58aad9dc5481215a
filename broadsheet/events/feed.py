"""Reading the feed: a tenant's events after a position, as CloudEvents 1.0."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Select, select

from broadsheet import models
from broadsheet.events.outbox import EventType

SPEC_VERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE = "application/json"


class CloudEvent(BaseModel):
    """An event in the CloudEvents 1.0 JSON format."""

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(description="The feed's position: pass it as `after` to read on.")
    source: str = Field(description="`/broadsheet/<tenant slug>`.")
    type: EventType
    subject: str = Field(description="`<objectType>/<id>`, e.g. `job/…`.")
    time: datetime
    datacontenttype: str = CONTENT_TYPE
    data: dict[str, Any]


def source(tenant_slug: str) -> str:
    """The CloudEvents ``source``: stable while the public URL may change."""
    return f"/broadsheet/{tenant_slug}"


def after(
    tenant_id: uuid.UUID, position: int | None, types: Sequence[str] | None = None
) -> Select[models.Event]:
    """The tenant's events after ``position`` (all kept ones when None), oldest first."""
    query = select(models.Event).where(models.Event.tenant_id == tenant_id)
    if position is not None:
        query = query.where(models.Event.id > position)
    if types:
        query = query.where(models.Event.type.in_(types))
    return query.order_by(models.Event.id)


def cloud_event(row: models.Event, tenant_slug: str) -> CloudEvent:
    return CloudEvent(
        id=str(row.id),
        source=source(tenant_slug),
        type=row.type,
        subject=row.subject,
        time=row.time,
        data=row.data,
    )
