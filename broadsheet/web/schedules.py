"""``/schedules`` and ``/schedules/{id}``: the tenant's schedules, and one schedule with its
actions (the form itself, ``/schedules/new`` and its fragments: ``schedule_editor``).

- ``GET /schedules?page=N``: 20 a page, newest first (as the API lists them): name, what it
  sends, the cadence in words, time zone, next run, last status, running or paused. A page
  past the end shows the last. ``New schedule`` for editors and admins.
- ``GET /schedules/{id}``: what it sends and when, the next five runs, its history (each
  run's recipients: ``schedule_runs``); for editors the form (``POST /schedules/{id}``
  saves), ``Run now``, ``Pause`` or ``Resume`` and ``Delete``. Another tenant's schedule is
  the 404 page.

Every change goes through ``ScheduleService``, as the API's does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.permissions import permits
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.errors import Conflict, ValidationFailed
from broadsheet.jobs.endpoints import DispatcherDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import Page
from broadsheet.schedules import views
from broadsheet.schedules.schemas import ReportSchedule
from broadsheet.schedules.service import ScheduleService
from broadsheet.web import schedule_editor, schedule_form, schedule_runs, schedule_text
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.moments import Moment, maybe_moment
from broadsheet.web.paging import Pager, page_number
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import page_router
from broadsheet.web.schedule_preview import Preview

router = page_router()
# First: its /schedules/new and /schedules/preview come before /schedules/{id}.
router.include_router(schedule_editor.router)
PER_PAGE = 20
DONE = {
    "created": "The schedule is saved.",
    "saved": "Your changes are saved.",
    "paused": "The schedule is paused: it will not run until it is resumed.",
    "resumed": "The schedule is running again from its next run.",
    "deleted": "The schedule is deleted.",
}


@dataclass(frozen=True)
class ScheduleRow:
    id: uuid.UUID
    name: str
    sends: str
    is_dashboard: bool
    cadence: str
    timezone: str
    next_run: Moment | None
    last_status: str | None
    enabled: bool


@router.get("/schedules")
def schedule_list(
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.read")],
    session: SessionDep,
    settings: SettingsDep,
    page: str | None = None,
    done: str | None = None,
) -> Response:
    service = ScheduleService(session, settings)
    asked = Pager(page_number(page), PER_PAGE, 0)
    items, total = service.list_schedules(caller.tenant_id, Page(PER_PAGE, asked.offset))
    pager = Pager.clamped(asked.page, PER_PAGE, total)
    if pager.page != asked.page:  # past the end: the last page instead
        items, total = service.list_schedules(caller.tenant_id, Page(PER_PAGE, pager.offset))
        pager = Pager.clamped(pager.page, PER_PAGE, total)
    return render(
        request,
        "schedules/list.html.j2",
        {
            "rows": _rows(session, items),
            "pager": pager,
            "can_edit": permits(caller, "schedule.write"),
            "notice": DONE.get(done or ""),
            "page_link": lambda n: f"/schedules?page={n}",
        },
    )


def _rows(session: Session, items: list[models.ReportSchedule]) -> list[ScheduleRow]:
    shown = {
        v.id: v
        for v in session.scalars(
            select(models.ScheduledReportView).where(
                models.ScheduledReportView.id.in_([row.id for row in items])
            )
        )
    }
    out = []
    for row in items:
        view = shown.get(row.id)
        out.append(
            ScheduleRow(
                id=row.id,
                name=row.name,
                sends=view.report_name if view else "",
                is_dashboard=row.dashboard_id is not None,
                cadence=_cadence(row),
                timezone=row.timezone,
                next_run=maybe_moment(row.next_run_at, row.timezone),
                last_status=view.last_run_status if view else None,
                enabled=row.enabled,
            )
        )
    return out


def _cadence(row: models.ReportSchedule | ReportSchedule) -> str:
    return schedule_text.cadence_words(
        schedule_text.friendly(row.schedule_config, row.schedule, row.timezone),
        business_days_only=row.business_days_only,
        holiday_calendar=row.holiday_calendar,
    )


# --- one schedule -------------------------------------------------------------------------------


@router.get("/schedules/{schedule_id}")
def show_schedule(
    schedule_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.read")],
    session: SessionDep,
    settings: SettingsDep,
    page: str | None = None,
    done: str | None = None,
) -> Response:
    service = ScheduleService(session, settings)
    row = service.get(caller.tenant_id, parse_id(schedule_id, "schedule"))
    editor = permits(caller, "schedule.write")
    shown, extra = _schedule_page(session, service, row, page, DONE.get(done or ""), editor=editor)
    if not editor:
        return render(request, "schedules/show.html.j2", {**extra, "schedule": shown})
    state = FormState(schedule_form.saved_values(shown))
    return schedule_editor.form_page(
        request, session, settings, caller, state, schedule=shown, extra=extra
    )


@router.post("/schedules/{schedule_id}")
def update_schedule(
    schedule_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    service = ScheduleService(session, settings)
    row = service.get(caller.tenant_id, parse_id(schedule_id, "schedule"))
    values = schedule_form.typed(form)
    action = str(form.get("action") or "save")
    refused = 422
    if action == "save":
        try:
            schedule_editor.save(
                session, settings, caller, values, lambda body: service.update(caller, row.id, body)
            )
        except (ValidationFailed, Conflict) as error:  # Conflict: the tenant's schedule cap
            state = FormState.failed(values, error)
            refused = error.status
        else:
            return see_other(f"/schedules/{row.id}?done=saved")
    else:
        state = schedule_editor.acted(values, action)
    shown, extra = _schedule_page(session, service, row, None, None, editor=True)
    status_code = refused if state.errors else 200
    return schedule_editor.form_page(
        request, session, settings, caller, state, schedule=shown, extra=extra,
        status_code=status_code,
    )  # fmt: skip


def _schedule_page(
    session: Session,
    service: ScheduleService,
    row: models.ReportSchedule,
    page: str | None,
    notice: str | None,
    *,
    editor: bool,
) -> tuple[ReportSchedule, dict[str, Any]]:
    """The schedule as the API shows it (recipients' URLs whole for an editor), and what its
    page shows beside it. Its next runs are worked out for a viewer only: an editor's page
    shows the form's preview of the same values instead (``schedule_editor.form_page``)."""
    # Held while the page is made: the session keeps only rows something refers to, so
    # views.schedule's read of it and _sends' were two queries.
    view = session.get(models.ScheduledReportView, row.id)
    shown = views.schedule(session, row, [] if editor else service.preview(row), reveal=editor)
    return shown, {
        "sends": _sends(row, view),
        "cadence": _cadence(shown),
        "next_run": maybe_moment(shown.next_run_at, shown.timezone),
        "last_run": maybe_moment(shown.last_run_at, shown.timezone),
        "history": schedule_runs.history(session, row, page_number(page), reveal=editor),
        "notice": notice,
        "can_edit": editor,
        "history_link": lambda n: f"/schedules/{row.id}?page={n}#history-title",
        "shown_preview": None if editor else Preview(shown.schedule, shown.timezone, shown.preview),
    }


def _sends(row: models.ReportSchedule, view: models.ScheduledReportView | None) -> dict[str, Any]:
    if row.dashboard_id is not None:
        return {"kind": "Dashboard", "href": f"/dashboards/{row.dashboard_id}",
                "name": view.report_name if view else ""}  # fmt: skip
    return {"kind": "Report", "href": f"/reports/{row.report_id}",
            "name": view.report_name if view else ""}  # fmt: skip


@router.post("/schedules/{schedule_id}/pause")
def pause(
    schedule_id: str,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    row = ScheduleService(session, settings).set_enabled(
        caller.tenant_id, parse_id(schedule_id, "schedule"), False
    )
    return see_other(f"/schedules/{row.id}?done=paused")


@router.post("/schedules/{schedule_id}/resume")
def resume(
    schedule_id: str,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    row = ScheduleService(session, settings).set_enabled(
        caller.tenant_id, parse_id(schedule_id, "schedule"), True
    )
    return see_other(f"/schedules/{row.id}?done=resumed")


@router.post("/schedules/{schedule_id}/run")
def run_now(
    schedule_id: str,
    caller: Annotated[Principal, WebAllowed("schedule.run_now")],
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    dispatcher: DispatcherDep,
) -> Response:
    execution, dispatch = ScheduleService(session, settings).run_now(
        caller.tenant_id, parse_id(schedule_id, "schedule"), runtime
    )
    if dispatch is not None:
        dispatcher.after_commit(*dispatch)
    return see_other(f"/schedules/{execution.schedule_id}/executions/{execution.id}?done=started")


@router.get("/schedules/{schedule_id}/delete")
def confirm_delete(
    schedule_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    row = ScheduleService(session, settings).get(
        caller.tenant_id, parse_id(schedule_id, "schedule")
    )
    return render(request, "schedules/delete.html.j2", {"row": row})


@router.post("/schedules/{schedule_id}/delete")
def delete(
    schedule_id: str,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    ScheduleService(session, settings).delete(caller.tenant_id, parse_id(schedule_id, "schedule"))
    return see_other("/schedules?done=deleted")
