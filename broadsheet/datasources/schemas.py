from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from broadsheet.kit.schema import ApiInput, ApiModel

SOURCE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$"
MAX_ROW_LIMIT = 100_000_000  # so no result, and no dataset of one, holds more rows


class DataSourceWrite(ApiInput):
    name: str = Field(pattern=SOURCE_NAME, description="What reports name in `dataSource`.")
    kind: Literal["sql"] = "sql"
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="SQLAlchemy URL: sqlite, postgresql, mysql, mariadb or duckdb.",
        examples=["postgresql://reporter:secret@db.internal:5432/analytics"],
    )
    description: str | None = Field(None, max_length=2000)
    statement_timeout_seconds: int = Field(300, ge=1, le=86_400)
    row_limit: int = Field(1_000_000, ge=1, le=MAX_ROW_LIMIT)


class DataSource(ApiModel):
    id: uuid.UUID
    name: str
    kind: Literal["sql"]
    url: str = Field(description="The URL with its password masked as ***.")
    description: str | None
    statement_timeout_seconds: int
    row_limit: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class ConnectionTest(ApiModel):
    ok: bool
    latency_ms: int | None = None
    server_version: str | None = None
    error: str | None = None


class SourceColumn(ApiModel):
    name: str
    type: str = Field(description="The database's own type name.")


class SourceTable(ApiModel):
    schema_name: str | None = Field(
        alias="schema", description="None for the source's default schema."
    )
    name: str
    columns: list[SourceColumn]


class SourceSchema(ApiModel):
    """The tables and views a query may read, for an editor's completion."""

    tables: list[SourceTable]
    truncated: bool = Field(description="More tables exist than were listed (1,000 at most).")
