"""Report definition CRUD: validation against the tenant's data sources, versioning, and the
read-model projection, all in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.datasources import connector
from broadsheet.datasources.service import DataSourceService
from broadsheet.db import done_with_database
from broadsheet.errors import Conflict, ValidationFailed
from broadsheet.events import about as events
from broadsheet.kit.pagination import Page
from broadsheet.kit.tenancy import get_owned
from broadsheet.kit.time import utc_now
from broadsheet.reports import projections, repository, validation
from broadsheet.reports.schemas import (
    ReportDefinition,
    ReportDefinitionWrite,
    ReportFilters,
    ReportMetadata,
    Timeframe,
)


class ReportService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.sources = DataSourceService(session, settings)

    def list(
        self, tenant_id: uuid.UUID, filters: ReportFilters, page: Page
    ) -> tuple[list[ReportMetadata], int]:
        rows, total = repository.list_reports(self.session, tenant_id, filters, page)
        return [metadata(row) for row in rows], total

    def get(self, tenant_id: uuid.UUID, report_id: uuid.UUID) -> models.ReportDefinition:
        return get_owned(self.session, models.ReportDefinition, tenant_id, report_id, "report")

    def metadata(self, report_id: uuid.UUID) -> ReportMetadata:
        view = self.session.get(models.ReportDefinitionView, report_id)
        assert view is not None, "every report has a read-model row"
        return metadata(view)

    def create(self, caller: Principal, body: ReportDefinitionWrite) -> models.ReportDefinition:
        self._validate(caller.tenant_id, body)
        now = utc_now()
        row = models.ReportDefinition(
            tenant_id=caller.tenant_id, created_by=caller.user_id, created_at=now, version=1
        )
        self._apply(row, body)
        row.updated_at = now
        self.session.add(row)
        self.session.flush()
        projections.project_report(self.session, row, caller.name)
        return row

    def update(
        self, caller: Principal, report_id: uuid.UUID, body: ReportDefinitionWrite
    ) -> models.ReportDefinition:
        # Checked against the source first, with the metadata database let go; then the
        # version is compared and the row written in one transaction.
        self._validate(caller.tenant_id, body)
        row = self.get(caller.tenant_id, report_id)
        if body.version is not None and body.version != row.version:
            raise Conflict(
                f"the report is at version {row.version}, not {body.version}: "
                "read it again and reapply your change"
            )
        self._apply(row, body)
        row.version += 1
        row.updated_at = utc_now()
        self.session.flush()
        events.report_updated(self.session, row)
        # The read-model row keeps the creator's name it was made with (the caller's would
        # name only a missing one).
        projections.project_report(self.session, row, caller.name)
        return row

    def delete(self, tenant_id: uuid.UUID, report_id: uuid.UUID) -> None:
        row = self.get(tenant_id, report_id)
        self.session.delete(row)
        projections.remove_report(self.session, row.id)
        self.session.flush()

    def _validate(self, tenant_id: uuid.UUID, body: ReportDefinitionWrite) -> None:
        """The checks that need the data source: does it exist, and do the queries run there
        and return the columns the visualizations name."""
        source = self.sources.by_name(tenant_id, body.data_source)
        if source is None:
            raise ValidationFailed.field("dataSource", f"no data source named '{body.data_source}'")
        try:
            engine = self.sources.engine(source)
        except connector.UnsupportedSource as exc:  # saved before a rule that refuses it now
            raise ValidationFailed.field(
                "dataSource", f"data source '{body.data_source}' cannot be used: {exc}"
            ) from None
        timeout = source.statement_timeout_seconds
        # The source may take its time (up to its statement timeout): not on a metadata
        # connection, nor a request's turn (unless the session has written already: then
        # its unit of work keeps them until it commits whole).
        done_with_database(self.session)
        try:
            validation.check_definition(engine, body, timeout)
        finally:
            engine.dispose()

    @staticmethod
    def _apply(row: models.ReportDefinition, body: ReportDefinitionWrite) -> None:
        row.name = body.name
        row.description = body.description
        row.category = body.category
        row.timeframe = body.timeframe.value if body.timeframe else None
        row.data_source = body.data_source
        row.query = body.query
        row.datasets = body.datasets or None
        row.timezone = body.timezone
        row.cache_ttl_seconds = body.cache_ttl_seconds
        row.pdf_max_rows = body.pdf_max_rows
        row.parameters = [p.model_dump(by_alias=True, exclude_none=True) for p in body.parameters]
        row.visualizations = [
            v.model_dump(by_alias=True, exclude_none=True) for v in body.visualizations
        ]
        row.layout = body.layout
        row.tags = body.tags


def definition(row: models.ReportDefinition) -> ReportDefinition:
    return ReportDefinition.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "category": row.category,
            "timeframe": row.timeframe,
            "dataSource": row.data_source,
            "query": row.query,
            "datasets": row.datasets or {},
            "parameters": row.parameters or [],
            "visualizations": row.visualizations or [],
            "layout": row.layout,
            "tags": row.tags or [],
            "timezone": row.timezone,
            "cacheTtlSeconds": row.cache_ttl_seconds,
            "pdfMaxRows": row.pdf_max_rows,
            "createdBy": str(row.created_by),
            "createdAt": row.created_at,
            "updatedAt": row.updated_at,
            "version": row.version,
        }
    )


def metadata(view: models.ReportDefinitionView) -> ReportMetadata:
    return ReportMetadata(
        id=view.id,
        name=view.name,
        description=view.description,
        category=view.category,
        timeframe=Timeframe(view.timeframe) if view.timeframe else None,
        data_source=view.data_source,
        created_at=view.created_at,
        updated_at=view.updated_at,
        created_by=str(view.created_by),
        created_by_name=view.created_by_name,
        tags=list(view.tags or []),
        version=view.version,
        parameter_count=view.parameter_count,
        visualization_count=view.visualization_count,
        execution_count=view.execution_count,
        last_execution_at=view.last_execution_at,
        average_execution_time_ms=view.average_execution_time_ms,
    )


def report_snapshot(report: models.ReportDefinition) -> dict[str, Any]:
    return {
        "id": str(report.id),
        "name": report.name,
        "description": report.description,
        "category": report.category,
        "version": report.version,
        "timezone": report.timezone,
        "pdfMaxRows": report.pdf_max_rows,
    }
