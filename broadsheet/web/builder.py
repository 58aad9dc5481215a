"""The report builder: ``/reports/new`` and ``/reports/{id}/edit`` (editors and admins).

One form holds the whole definition: name, description, category, data source, SQL (a
CodeMirror editor over its textarea, completing the source's tables and columns from
``/datasources/{id}/schema.json``), tags, parameters, charts. Its buttons all post the form
to the page's own address with an ``action``:

- ``save``: ``ReportService.create`` / ``update`` with the API's body; then to
  ``/reports/{id}``. Errors are shown at their fields (the API's names), a stale version as a
  409 message; what was typed is kept.
- ``preview``: the SQL run with the parameters' preview values or defaults
  (:mod:`broadsheet.web.builder_preview`), its first 100 rows beside the editor, or the
  database's error; the charts are drawn from those rows.
- ``add-parameter[:name]``, ``remove-parameter:i``, ``add-chart``, ``remove-chart:i``.

Without JavaScript each post answers the whole page again. With htmx (``HX-Request``) it
answers only the part that changed, and a few more actions refresh parts as fields change:
``check-parameters`` (the SQL's undeclared and unused parameters), ``refresh-parameters``,
``refresh-chart:i`` (a chart's fields, after its type changed) and ``draw-chart:i``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.datasources.service import DataSourceService
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import BroadsheetError, Conflict, ValidationFailed
from broadsheet.kit.ids import parse_id
from broadsheet.reports.schemas import ReportDefinitionWrite
from broadsheet.reports.service import ReportService
from broadsheet.web import builder_charts, builder_errors, builder_preview
from broadsheet.web.builder_draft import (
    CHART_TYPES,
    PARAMETER_TYPES,
    ChartDraft,
    Draft,
    ParameterDraft,
)
from broadsheet.web.builder_input import from_definition, from_form
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import page_router

router = page_router()
PAGE = "builder/edit.html.j2"


@router.get("/reports/new")
def new_report(
    request: Request,
    caller: Annotated[Principal, WebAllowed("report.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    builder = _Builder(request, caller, session, settings, None)
    draft = Draft()
    if len(builder.sources) == 1:  # the one choice there is, made already
        draft.source_id = str(builder.sources[0].id)
    return builder.page(draft)


@router.post("/reports/new")
def new_report_posted(
    request: Request,
    caller: Annotated[Principal, WebAllowed("report.write")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    return _Builder(request, caller, session, settings, None).posted(form)


@router.get("/reports/{report_id}/edit")
def edit_report(
    request: Request,
    report_id: str,
    caller: Annotated[Principal, WebAllowed("report.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    stored = ReportService(session, settings).get(caller.tenant_id, parse_id(report_id, "report"))
    builder = _Builder(request, caller, session, settings, stored)
    source = next((s for s in builder.sources if s.name == stored.data_source), None)
    draft = from_definition(stored, str(source.id) if source else "")
    return builder.page(draft, preview=builder.preview(draft, fresh=False))


@router.post("/reports/{report_id}/edit")
def edit_report_posted(
    request: Request,
    report_id: str,
    caller: Annotated[Principal, WebAllowed("report.write")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    stored = ReportService(session, settings).get(caller.tenant_id, parse_id(report_id, "report"))
    return _Builder(request, caller, session, settings, stored).posted(form)


@router.get("/datasources/{source_id}/schema.json")
def source_schema(
    source_id: str,
    caller: Annotated[Principal, WebAllowed("datasource.schema")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The source's tables and columns for the SQL editor's completion: the API's
    ``GET /api/v1/datasources/{id}/schema`` for a signed-in editor."""
    schema = DataSourceService(session, settings).describe(
        caller.tenant_id, parse_id(source_id, "data source")
    )
    return JSONResponse(schema.model_dump(mode="json", by_alias=True))


@dataclass(frozen=True)
class Source:
    id: uuid.UUID
    name: str
    dialect: str


@dataclass(frozen=True)
class ParameterView:
    index: int
    draft: ParameterDraft
    unused: bool


@dataclass(frozen=True)
class ChartView:
    index: int
    draft: ChartDraft
    pickers: list[builder_charts.Picker]
    columns: tuple[builder_preview.Column, ...]
    drawing: builder_charts.Drawing | None
    missing_roles: list[str]

    @property
    def aggregated(self) -> bool:
        return self.draft.type in builder_charts.AGGREGATED


class _Builder:
    """One request to the builder: its caller, the tenant's sources, the stored report."""

    def __init__(
        self,
        request: Request,
        caller: Principal,
        session: Session,
        settings: Settings,
        stored: models.ReportDefinition | None,
    ) -> None:
        self.request = request
        self.caller = caller
        self.session = session
        self.settings = settings
        self.stored = stored
        self.sources = [
            Source(s.id, s.name, _dialect(s.url))
            for s in DataSourceService(session, settings).list_sources(caller.tenant_id)
        ]
        self.address = f"/reports/{stored.id}/edit" if stored is not None else "/reports/new"

    # --- posts ------------------------------------------------------------------------------

    def posted(self, form: Any) -> Response:
        draft = from_form(form)
        for chart in draft.charts:
            builder_charts.settle_roles(chart)
        action = str(form.get("action") or "save")
        if action == "save":
            return self.save(draft)
        focus = draft.apply(action)
        if self.request.headers.get("HX-Request") == "true":
            return self.part(draft, action, focus)
        return self.page(draft, focus=focus, preview=self.preview(draft, fresh=action == "preview"))

    def save(self, draft: Draft) -> Response:
        source = next((s for s in self.sources if str(s.id) == draft.source_id), None)
        try:
            body = ReportDefinitionWrite.model_validate(
                draft.body(source.name if source else "", self.stored)
            )
            service = ReportService(self.session, self.settings)
            if self.stored is None:
                row = service.create(self.caller, body)
            else:
                row = service.update(self.caller, self.stored.id, body)
        except ValidationError as exc:
            return self._failed(draft, builder_errors.schema_errors(exc))
        except ValidationFailed as exc:
            return self._failed(draft, exc)
        except Conflict as exc:
            return self._failed(draft, exc, status=409)
        return see_other(f"/reports/{row.id}")

    def _failed(self, draft: Draft, error: BroadsheetError, status: int = 422) -> Response:
        errors = builder_errors.place_errors(error, builder_errors.fields(draft))
        return self.page(
            draft, errors=errors, preview=self.preview(draft, fresh=False), status=status
        )

    # --- what is shown -------------------------------------------------------------------------

    def preview(self, draft: Draft, *, fresh: bool) -> builder_preview.Preview | None:
        zone = self.stored.timezone if self.stored is not None else "UTC"
        return builder_preview.run(
            self.session, self.settings, self.caller, draft, zone, fresh=fresh
        )

    def page(
        self,
        draft: Draft,
        *,
        focus: str | None = None,
        preview: builder_preview.Preview | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        return render(
            self.request, PAGE, self.context(draft, focus, preview, errors), status_code=status
        )

    def part(self, draft: Draft, action: str, focus: str | None) -> Response:
        verb, _, argument = action.partition(":")
        preview: builder_preview.Preview | None = None
        if verb == "preview":
            template = "builder/_preview_response.html.j2"
            preview = self.preview(draft, fresh=True)
        elif verb == "check-parameters":
            template = "builder/_parameter_check.html.j2"
        elif verb.endswith("-parameter") or verb == "refresh-parameters":
            template = "builder/_parameters.html.j2"
        else:
            preview = self.preview(draft, fresh=False)
            template = "builder/_charts.html.j2"
            if verb in ("refresh-chart", "draw-chart") and argument.isdigit():
                template = f"builder/_chart{'' if verb == 'refresh-chart' else '_drawing'}.html.j2"
        context = self.context(draft, focus, preview, None)
        if argument.isdigit() and int(argument) < len(context["charts"]):
            context["chart"] = context["charts"][int(argument)]
        elif template.startswith("builder/_chart") and template != "builder/_charts.html.j2":
            template = "builder/_charts.html.j2"  # a chart that is no longer there
        return render(self.request, template, context)

    def context(
        self,
        draft: Draft,
        focus: str | None,
        preview: builder_preview.Preview | None,
        errors: dict[str, str] | None,
    ) -> dict[str, Any]:
        columns = preview.columns if preview is not None and preview.ok else ()
        unused = set(draft.unused())
        source = next((s for s in self.sources if str(s.id) == draft.source_id), None)
        return {
            "form": FormState(draft.values(), errors or {}),
            "draft": draft,
            "address": self.address,
            "stored": self.stored,
            "sources": [(str(s.id), s.name) for s in self.sources],
            "dialect": source.dialect if source else "",
            "parameters": [
                ParameterView(i, p, p.name in unused) for i, p in enumerate(draft.parameters)
            ],
            "missing": draft.missing(),
            "unused": [n for n in draft.unused()],
            "charts": [_chart_view(c, i, preview, columns) for i, c in enumerate(draft.charts)],
            "preview": preview,
            "columns": columns,
            "parameter_types": PARAMETER_TYPES,
            "chart_types": CHART_TYPES,
            "aggregates": builder_charts.AGGREGATES,
            "autofocus": _autofocus(focus),
        }


def _chart_view(
    chart: ChartDraft,
    index: int,
    preview: builder_preview.Preview | None,
    columns: tuple[builder_preview.Column, ...],
) -> ChartView:
    roles = builder_charts.ROLES.get(chart.type, ())
    missing = [r.label for r in roles if r.required and not chart.mapping.get(r.key)]
    drawing = None if missing else builder_charts.draw(chart, index, preview)
    pickers = builder_charts.pickers(chart, index, columns)
    return ChartView(index, chart, pickers, columns, drawing, missing)


def _autofocus(focus: str | None) -> Callable[..., dict[str, str]]:
    """``autofocus(name, **attributes)`` in a template: the attributes, with ``autofocus``
    on the field a button's answer should focus (htmx focuses it in what it swaps in; on a
    whole page, the browser does)."""

    def attributes(name: str, **extra: str) -> dict[str, str]:
        return {**extra, "autofocus": "autofocus"} if focus == name else dict(extra)

    return attributes


def _dialect(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except Exception:  # a URL the editor need not understand: standard SQL then
        return ""
