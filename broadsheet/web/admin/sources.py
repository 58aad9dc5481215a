"""``/admin/datasources``: the tenant's data sources (admins), through ``DataSourceService``
as ``/api/v1/datasources`` does.

- ``GET /admin/datasources``: each source with its URL as the service shows it (password
  masked: the page never has it), ``Test connection`` (ok, latency and server version, or
  the driver's error; htmx puts the answer beside its button, without it the page comes
  back with it), ``Edit`` and ``Delete``.
- ``GET|POST /admin/datasources/new`` and ``/admin/datasources/{id}``: the form (``Name``,
  ``Connection URL``, ``Description``, the statement timeout and row limit). A URL sent back
  masked keeps the stored password. A name taken, or a source in use renamed, is an error at
  the name field.
- ``GET|POST /admin/datasources/{id}/delete``: confirm; a source that reports use is not
  deleted (the service's 409, said on the page).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import Request, Response
from pydantic import ValidationError

from broadsheet.auth.principal import Principal
from broadsheet.datasources.schemas import DataSourceWrite
from broadsheet.datasources.service import DataSourceService
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import Conflict, ValidationFailed
from broadsheet.kit.ids import parse_id
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.input_errors import invalid
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import page_router

router = page_router()
FIELDS = ("name", "url", "description", "statementTimeoutSeconds", "rowLimit")
DONE = {
    "created": "The data source is added.",
    "saved": "Your changes are saved.",
    "deleted": "The data source is deleted.",
}


@router.get("/admin/datasources")
def source_list(
    request: Request,
    caller: Annotated[Principal, WebAllowed("datasource.read")],
    session: SessionDep,
    settings: SettingsDep,
    done: str | None = None,
) -> Response:
    sources = DataSourceService(session, settings).list_sources(caller.tenant_id)
    return render(
        request,
        "admin/sources.html.j2",
        {"sources": sources, "notice": DONE.get(done or ""), "tested": None, "result": None},
    )


@router.post("/admin/datasources/{source_id}/test")
def test_connection(
    source_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("datasource.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    service = DataSourceService(session, settings)
    ident = parse_id(source_id, "data source")
    sources = service.list_sources(caller.tenant_id)  # before the probe lets the session go
    result = service.test(caller.tenant_id, ident)
    if request.headers.get("HX-Request"):  # the answer beside its button
        return render(request, "admin/_test_result.html.j2", {"result": result})
    return render(
        request,
        "admin/sources.html.j2",
        {"sources": sources, "notice": None, "tested": ident, "result": result},
    )


@router.get("/admin/datasources/new")
def new_source(
    request: Request, caller: Annotated[Principal, WebAllowed("datasource.write")]
) -> Response:
    values = {"statementTimeoutSeconds": "300", "rowLimit": "1000000"}
    return _form(request, FormState(values), None)


@router.post("/admin/datasources/new")
def create_source(
    request: Request,
    caller: Annotated[Principal, WebAllowed("datasource.write")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    values = _typed(form)
    service = DataSourceService(session, settings)
    try:
        with session.begin_nested():
            service.create(caller, _body(values))
    except (ValidationFailed, Conflict) as error:
        return _form(request, _failed(values, error), None, status_code=error.status)
    return see_other("/admin/datasources?done=created")


@router.get("/admin/datasources/{source_id}")
def edit_source(
    source_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("datasource.read")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    service = DataSourceService(session, settings)
    shown = service.to_schema(service.get(caller.tenant_id, parse_id(source_id, "data source")))
    values = {
        "name": shown.name,
        "url": shown.url,
        "description": shown.description or "",
        "statementTimeoutSeconds": str(shown.statement_timeout_seconds),
        "rowLimit": str(shown.row_limit),
    }
    return _form(request, FormState(values), shown.id)


@router.post("/admin/datasources/{source_id}")
def update_source(
    source_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("datasource.write")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    service = DataSourceService(session, settings)
    row = service.get(caller.tenant_id, parse_id(source_id, "data source"))
    values = _typed(form)
    try:
        with session.begin_nested():  # a refused change leaves the source as it was
            service.update(caller, row.id, _body(values))
    except (ValidationFailed, Conflict) as error:
        return _form(request, _failed(values, error), row.id, status_code=error.status)
    return see_other("/admin/datasources?done=saved")


@router.get("/admin/datasources/{source_id}/delete")
def confirm_delete(
    source_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("datasource.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    row = DataSourceService(session, settings).get(
        caller.tenant_id, parse_id(source_id, "data source")
    )
    return render(request, "admin/source_delete.html.j2", {"source": row, "problem": None})


@router.post("/admin/datasources/{source_id}/delete")
def delete_source(
    source_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("datasource.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    service = DataSourceService(session, settings)
    row = service.get(caller.tenant_id, parse_id(source_id, "data source"))
    try:
        service.delete(caller.tenant_id, row.id)
    except Conflict as refused:  # reports use it: it stays, and the page says why
        return render(
            request,
            "admin/source_delete.html.j2",
            {"source": row, "problem": refused.detail},
            status_code=refused.status,
        )
    return see_other("/admin/datasources?done=deleted")


def _typed(form: Form) -> dict[str, str]:
    return {name: str(form.get(name) or "") for name in FIELDS}


def _body(values: Mapping[str, str]) -> DataSourceWrite:
    body = {
        "name": values["name"].strip(),
        "url": values["url"].strip(),
        "description": values["description"].strip() or None,
        "statementTimeoutSeconds": values["statementTimeoutSeconds"].strip(),
        "rowLimit": values["rowLimit"].strip().replace(",", ""),
    }
    try:
        return DataSourceWrite.model_validate(body)
    except ValidationError as exc:
        raise invalid(exc) from None


def _failed(values: Mapping[str, str], error: ValidationFailed | Conflict) -> FormState:
    if isinstance(error, Conflict):  # a name taken, or a source in use renamed
        return FormState(values, {"name": error.detail})
    return FormState.failed(values, error)


def _form(
    request: Request,
    state: FormState,
    source_id: uuid.UUID | None,
    *,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/source_form.html.j2",
        {"form": state, "source_id": source_id},
        status_code=status_code,
    )
