from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response, status

from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.datasources.schemas import (
    ConnectionTest,
    DataSource,
    DataSourceWrite,
    SourceSchema,
)
from broadsheet.datasources.service import DataSourceService
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.kit.ids import parse_id
from broadsheet.routing import api_router

SourceId = Annotated[str, Path(alias="sourceId", description="A data source id.")]

router = api_router("/api/v1/datasources", "datasources")


@router.get("", response_model=list[DataSource], summary="List data sources (admin)")
def list_sources(
    caller: Annotated[Principal, Allowed("datasource.read")],
    session: SessionDep,
    settings: SettingsDep,
) -> list[DataSource]:
    return DataSourceService(session, settings).list_sources(caller.tenant_id)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=DataSource, summary="Add a data source"
)
def create_source(
    body: DataSourceWrite,
    caller: Annotated[Principal, Allowed("datasource.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> DataSource:
    service = DataSourceService(session, settings)
    return service.to_schema(service.create(caller, body))


@router.get("/{sourceId}", response_model=DataSource, summary="Get a data source")
def get_source(
    source_id: SourceId,
    caller: Annotated[Principal, Allowed("datasource.read")],
    session: SessionDep,
    settings: SettingsDep,
) -> DataSource:
    service = DataSourceService(session, settings)
    return service.to_schema(service.get(caller.tenant_id, parse_id(source_id, "data source")))


@router.put("/{sourceId}", response_model=DataSource, summary="Replace a data source")
def update_source(
    source_id: SourceId,
    body: DataSourceWrite,
    caller: Annotated[Principal, Allowed("datasource.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> DataSource:
    service = DataSourceService(session, settings)
    return service.to_schema(service.update(caller, parse_id(source_id, "data source"), body))


@router.delete(
    "/{sourceId}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an unused data source"
)
def delete_source(
    source_id: SourceId,
    caller: Annotated[Principal, Allowed("datasource.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    DataSourceService(session, settings).delete(
        caller.tenant_id, parse_id(source_id, "data source")
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{sourceId}/test", response_model=ConnectionTest, summary="Check the connection")
def test_source(
    source_id: SourceId,
    caller: Annotated[Principal, Allowed("datasource.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> ConnectionTest:
    return DataSourceService(session, settings).test(
        caller.tenant_id, parse_id(source_id, "data source")
    )


@router.get(
    "/{sourceId}/schema",
    response_model=SourceSchema,
    summary="The source's tables and columns (editors: for writing queries)",
)
def source_schema(
    source_id: SourceId,
    caller: Annotated[Principal, Allowed("datasource.schema")],
    session: SessionDep,
    settings: SettingsDep,
) -> SourceSchema:
    return DataSourceService(session, settings).describe(
        caller.tenant_id, parse_id(source_id, "data source")
    )
