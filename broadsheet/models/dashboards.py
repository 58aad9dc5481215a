from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, JSONType, TagsType, tenant_fk, uuid_pk


class Dashboard(Base):
    """Write model of a dashboard (seed 000 ``dashboards``)."""

    __tablename__ = "dashboards"
    __table_args__ = (
        Index("idx_dashboards_created_by", "created_by"),
        Index("idx_dashboards_tags", "tags", postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    layout: Mapped[dict[str, Any] | None]
    widgets: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    refresh_interval: Mapped[int | None]
    # IANA zone the widgets' templated parameters are evaluated in (issue 14).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # Shared filters: [{name, label, type, defaultValue, options, targets}].
    parameters: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    tags: Mapped[list[str]] = mapped_column(TagsType, default=list)
    version: Mapped[int] = mapped_column(default=1)
    # The last forced refresh (POST …/refresh), at most one per 30 s.
    refreshed_at: Mapped[datetime | None]
