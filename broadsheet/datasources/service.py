"""Data source CRUD. URLs are encrypted at rest and only ever shown masked."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.datasources import connector
from broadsheet.datasources.schemas import (
    ConnectionTest,
    DataSource,
    DataSourceWrite,
    SourceColumn,
    SourceSchema,
    SourceTable,
)
from broadsheet.db import done_with_database
from broadsheet.errors import Conflict, ValidationFailed
from broadsheet.kit import dburl
from broadsheet.kit.crypto import Cipher
from broadsheet.kit.tenancy import get_owned
from broadsheet.kit.time import utc_now


class DataSourceService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.cipher = Cipher(settings.resolved_secret_keys)

    def list_sources(self, tenant_id: uuid.UUID) -> list[DataSource]:
        rows = self.session.scalars(
            select(models.DataSource)
            .where(models.DataSource.tenant_id == tenant_id)
            .order_by(models.DataSource.name)
        )
        return [self.to_schema(row) for row in rows]

    def get(self, tenant_id: uuid.UUID, source_id: uuid.UUID) -> models.DataSource:
        return get_owned(self.session, models.DataSource, tenant_id, source_id, "data source")

    def by_name(self, tenant_id: uuid.UUID, name: str) -> models.DataSource | None:
        return self.session.scalar(
            select(models.DataSource).where(
                models.DataSource.tenant_id == tenant_id, models.DataSource.name == name
            )
        )

    def create(self, caller: Principal, body: DataSourceWrite) -> models.DataSource:
        self._check_name_free(caller.tenant_id, body.name)
        now = utc_now()
        row = models.DataSource(
            tenant_id=caller.tenant_id,
            name=body.name,
            kind=body.kind,
            description=body.description,
            url_encrypted=self.cipher.encrypt(self._valid_url(caller.tenant_id, body.url)),
            statement_timeout_seconds=body.statement_timeout_seconds,
            row_limit=body.row_limit,
            created_by=caller.user_id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def update(
        self, caller: Principal, source_id: uuid.UUID, body: DataSourceWrite
    ) -> models.DataSource:
        row = self.get(caller.tenant_id, source_id)
        if body.name != row.name:
            self._check_name_free(caller.tenant_id, body.name)
            self._check_unused(row, "renamed")
        row.name = body.name
        row.kind = body.kind
        row.description = body.description
        row.url_encrypted = self.cipher.encrypt(self._resolve_url(row, body.url))
        row.statement_timeout_seconds = body.statement_timeout_seconds
        row.row_limit = body.row_limit
        row.updated_at = utc_now()
        self.session.flush()
        return row

    def delete(self, tenant_id: uuid.UUID, source_id: uuid.UUID) -> None:
        row = self.get(tenant_id, source_id)
        self._check_unused(row, "deleted")
        self.session.delete(row)
        self.session.flush()

    def test(self, tenant_id: uuid.UUID, source_id: uuid.UUID) -> ConnectionTest:
        row = self.get(tenant_id, source_id)
        try:
            url = self.parsed_url(row)
        except connector.UnsupportedSource as exc:  # saved before a rule that refuses it now
            raise ValidationFailed.field("url", str(exc)) from None
        done_with_database(self.session)  # the probe may wait on a far server
        result = connector.probe(url, self.settings.datasource_allowlist)
        return ConnectionTest(
            ok=result.ok,
            latency_ms=result.latency_ms,
            server_version=result.server_version,
            error=result.error,
        )

    def describe(self, tenant_id: uuid.UUID, source_id: uuid.UUID) -> SourceSchema:
        """The source's tables and columns (422 with the driver's words when unreadable)."""
        row = self.get(tenant_id, source_id)
        try:
            url = self.parsed_url(row)
        except connector.UnsupportedSource as exc:
            raise ValidationFailed.field("url", str(exc)) from None
        done_with_database(self.session)  # the source may be slow to answer
        try:
            found, truncated = connector.tables(url, self.settings.datasource_allowlist)
        except connector.SchemaUnreadable as exc:
            raise ValidationFailed.field(
                "dataSource", f"its tables cannot be read: {exc}"
            ) from None
        return SourceSchema(
            tables=[
                SourceTable(
                    schema=t.schema,
                    name=t.name,
                    columns=[SourceColumn(name=n, type=k) for n, k in t.columns],
                )
                for t in found
            ],
            truncated=truncated,
        )

    def parsed_url(self, row: models.DataSource) -> URL:
        """The source's URL, checked again now (the rules may have tightened since it was saved,
        and a host name may resolve elsewhere)."""
        return self._parse(row.tenant_id, self.url_of(row))

    def engine(self, row: models.DataSource) -> Engine:
        """A new engine on the source (the caller disposes of it)."""
        return connector.make_source_engine(
            self.parsed_url(row), self.settings.datasource_allowlist
        )

    def url_of(self, row: models.DataSource) -> str:
        return self.cipher.decrypt(row.url_encrypted)

    def to_schema(self, row: models.DataSource) -> DataSource:
        return DataSource(
            id=row.id,
            name=row.name,
            kind=row.kind,
            url=dburl.masked(self.url_of(row)),
            description=row.description,
            statement_timeout_seconds=row.statement_timeout_seconds,
            row_limit=row.row_limit,
            created_by=str(row.created_by),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _resolve_url(self, row: models.DataSource, submitted: str) -> str:
        """A PUT may send back the masked URL it read; keep the stored password then."""
        stored = dburl.normalize(self.url_of(row))
        if submitted == dburl.masked(stored):  # checked again: the rules may be newer
            return self._valid_url(row.tenant_id, stored.render_as_string(hide_password=False))
        return self._valid_url(row.tenant_id, submitted)

    def _allowed_dirs(self, tenant_id: uuid.UUID) -> list[Path]:
        tenant = self.session.get(models.Tenant, tenant_id)
        assert tenant is not None
        return self.settings.source_dirs_for(tenant.slug)

    def _valid_url(self, tenant_id: uuid.UUID, raw: str) -> str:
        try:
            url = self._parse(tenant_id, raw)
        except connector.UnsupportedSource as exc:
            raise ValidationFailed.field("url", str(exc)) from None
        return url.render_as_string(hide_password=False)

    def _parse(self, tenant_id: uuid.UUID, raw: str) -> URL:
        return connector.parse_source_url(
            raw,
            self._allowed_dirs(tenant_id),
            metadata_url=self.settings.resolved_database_url,
            allowed_hosts=self.settings.datasource_allowlist,
        )

    def _check_name_free(self, tenant_id: uuid.UUID, name: str) -> None:
        if self.by_name(tenant_id, name) is not None:
            raise Conflict(f"a data source named '{name}' exists already")

    def _check_unused(self, row: models.DataSource, verb: str) -> None:
        used = self.session.scalar(
            select(func.count())
            .select_from(models.ReportDefinition)
            .where(
                models.ReportDefinition.tenant_id == row.tenant_id,
                models.ReportDefinition.data_source == row.name,
            )
        )
        if used:
            raise Conflict(
                f"data source '{row.name}' is used by {used} report(s) and cannot be {verb}"
            )
