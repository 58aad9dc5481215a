from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, JSONType, TagsType, tenant_fk, uuid_pk


class ReportDefinition(Base):
    """Write model of a report (seed 000 ``report_definitions``)."""

    __tablename__ = "report_definitions"
    __table_args__ = (
        Index("idx_report_definitions_category", "category"),
        Index("idx_report_definitions_created_by", "created_by"),
        Index("idx_report_definitions_tags", "tags", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(100))
    timeframe: Mapped[str | None] = mapped_column(String(20))
    data_source: Mapped[str] = mapped_column(String(100))
    query: Mapped[str | None] = mapped_column(Text)
    datasets: Mapped[dict[str, Any] | None]
    parameters: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    visualizations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    layout: Mapped[dict[str, Any] | None]
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    tags: Mapped[list[str]] = mapped_column(TagsType, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    cache_ttl_seconds: Mapped[int | None]
    pdf_max_rows: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1)
