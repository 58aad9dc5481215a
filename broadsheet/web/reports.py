"""``/reports`` and ``/reports/{id}``: the tenant's reports, and one report's definition.

- ``GET /reports?q=&category=&tag=&page=N``: 20 reports a page, newest change first, each
  with its category, tags, last run and number of schedules; ``New report`` for editors and
  admins. A page past the end shows the last.
- ``GET /reports/{id}``: the definition (description, data source, parameters, charts, the
  SQL as text), its recent results, ``Run``, and ``Edit`` for editors and admins. Another
  tenant's report is the 404 page, as is an id that names nothing.

Both read through ``ReportService`` and ``ResultService``, as the API does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Response

from broadsheet.auth.permissions import permits
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.kit.pagination import Page
from broadsheet.reports.schemas import MAIN_DATASET, ReportFilters, ReportMetadata
from broadsheet.reports.service import ReportService, definition
from broadsheet.results.service import ResultService
from broadsheet.web import report_facts
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import FormState
from broadsheet.web.moments import Moment, maybe_moment, moment
from broadsheet.web.paging import Pager, link, page_number
from broadsheet.web.rendering import render
from broadsheet.web.routing import page_router

router = page_router()
PER_PAGE = 20
RECENT_RESULTS = 10
MAX_FILTER = 200  # as the API's q


@dataclass(frozen=True)
class ReportRow:
    report: ReportMetadata
    last_run: Moment | None
    schedules: int


@router.get("/reports")
def report_list(
    request: Request,
    caller: Annotated[Principal, WebAllowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
    q: str | None = None,
    category: str | None = None,
    tag: str | None = None,
    page: str | None = None,
) -> Response:
    query = {
        "q": (q or "").strip()[:MAX_FILTER],
        "category": (category or "").strip()[:MAX_FILTER],
        "tag": (tag or "").strip()[:MAX_FILTER],
    }
    filters = ReportFilters.model_validate({k: v or None for k, v in query.items()})
    service = ReportService(session, settings)
    asked = Pager(page_number(page), PER_PAGE, 0)
    items, total = service.list(caller.tenant_id, filters, Page(PER_PAGE, asked.offset))
    pager = Pager.clamped(asked.page, PER_PAGE, total)
    if pager.page != asked.page:  # past the end: the last page instead
        items, total = service.list(caller.tenant_id, filters, Page(PER_PAGE, pager.offset))
        pager = Pager.clamped(pager.page, PER_PAGE, total)
    counts = report_facts.schedule_counts(session, caller.tenant_id, [r.id for r in items])
    rows = [ReportRow(r, maybe_moment(r.last_execution_at), counts[r.id]) for r in items]
    known = report_facts.categories(session, caller.tenant_id)
    if query["category"] and query["category"] not in known:
        known = [query["category"], *known]  # what was asked stays chosen
    return render(
        request,
        "reports/list.html.j2",
        {
            "rows": rows,
            "pager": pager,
            "filter_form": FormState(query),
            "filtered": any(query.values()),
            "categories": [(c, c) for c in known],
            "page_link": lambda number: link("/reports", {**query, "page": number}),
            "tag_link": lambda name: link("/reports", {"tag": name}),
            "can_edit": permits(caller, "report.write"),
        },
    )


@router.get("/reports/{report_id:uuid}")
def report_page(
    request: Request,
    report_id: uuid.UUID,
    caller: Annotated[Principal, WebAllowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
) -> Response:
    row = ReportService(session, settings).get(caller.tenant_id, report_id)
    report = definition(row)
    results, total = ResultService(session, runtime.storage).list_for_report(
        caller.tenant_id, report.id, Page(RECENT_RESULTS, 0)
    )
    labels = {p.name: p.label for p in report.parameters}
    return render(
        request,
        "reports/show.html.j2",
        {
            "report": report,
            "updated": moment(report.updated_at, report.timezone),
            "queries": _queries(report.query, report.datasets),
            "results": [
                {
                    "result": r,
                    "at": moment(r.created_at, report.timezone),
                    "parameters": shown_parameters(r.parameters, labels),
                }
                for r in results
            ],
            "result_total": total,
            "can_edit": permits(caller, "report.write"),
        },
    )


def _queries(query: str | None, datasets: dict[str, str]) -> list[tuple[str, str]]:
    """(name, SQL) of the main query and each named dataset's."""
    found = [(MAIN_DATASET, query)] if query else []
    return found + sorted(datasets.items())


def shown_parameters(
    values: dict[str, Any] | None, labels: dict[str, str]
) -> list[tuple[str, str]]:
    """(label, value as text) of each parameter a run used, in the report's declared order,
    by its labels (the name when the report no longer declares it); unset reads "not set"."""
    order = {name: index for index, name in enumerate(labels)}
    shown = []
    for name, value in sorted((values or {}).items(), key=lambda i: order.get(i[0], len(order))):
        if value is None:
            text = "not set"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        shown.append((labels.get(name, name), text))
    return shown
