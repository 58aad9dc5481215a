"""The schedule form, on ``/schedules/new`` and (for editors) ``/schedules/{id}``.

- ``GET /schedules/new`` (editors; ``?target=report:<id>`` picks what it sends) and
  ``POST /schedules/new``. The form's buttons: ``Save`` (303 to the schedule, or the form
  again with each error at its field and what was typed kept), ``Add recipient`` and
  ``Remove`` (the form again with a row more or less), ``Preview`` and ``Show its
  parameters`` (the form again, with the preview and parameter fields of what was typed) —
  all without JavaScript.
- With it, htmx fills the preview as the user types (``POST /schedules/preview``, the same
  function as ``GET /api/v1/schedules/preview``) and brings the parameter fields of the
  report chosen (``POST /schedules/parameters``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import Conflict, ValidationFailed
from broadsheet.exports.formats import EXPORT_FORMATS
from broadsheet.kit.time import utc_now
from broadsheet.schedules.schemas import ReportSchedule, ReportScheduleWrite
from broadsheet.schedules.service import ScheduleService
from broadsheet.web import schedule_form, schedule_preview, schedule_targets, schedule_text
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.rendering import fragment, render, see_other
from broadsheet.web.routing import page_router

router = page_router()
FORM = "schedules/form.html.j2"


@router.get("/schedules/new")
def new_schedule(
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
    target: str | None = None,
) -> Response:
    values = schedule_form.new_values(target or "")
    return form_page(request, session, settings, caller, FormState(values))


@router.post("/schedules/new")
def create_schedule(
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    values = schedule_form.typed(form)
    action = str(form.get("action") or "save")
    if action != "save":
        return form_page(request, session, settings, caller, acted(values, action))
    service = ScheduleService(session, settings)
    try:
        row = save(session, settings, caller, values, lambda body: service.create(caller, body))
    except (ValidationFailed, Conflict) as error:  # Conflict: the tenant's schedule cap
        return form_page(
            request,
            session,
            settings,
            caller,
            FormState.failed(values, error),
            status_code=error.status,
        )
    return see_other(f"/schedules/{row.id}?done=created")


@router.post("/schedules/preview")
def preview_fragment(
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.read")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The preview of the form as typed (htmx swaps it in as the user types)."""
    values = schedule_form.typed(form)
    target = target_or_none(session, settings, caller, values)
    preview = schedule_preview.preview(session, values, target, utc_now())
    return fragment(request, FORM, "preview", {"preview": preview})


@router.post("/schedules/parameters")
def parameters_fragment(
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.write")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The parameter fields of the report or dashboard chosen (htmx, when it changes)."""
    values = schedule_form.typed(form)
    target = target_or_none(session, settings, caller, values)
    shown = {"form": FormState(values), "target": target, "choices": choices()}
    return fragment(request, FORM, "parameters", shown)


def acted(values: schedule_form.Values, action: str) -> FormState:
    """The form after one of its buttons that does not save."""
    if action == "add-recipient":
        return FormState(schedule_form.with_row_added(values))
    prefix = "remove-recipient-"
    if action.startswith(prefix) and action.removeprefix(prefix).isdigit():
        return FormState(schedule_form.with_row_removed(values, int(action.removeprefix(prefix))))
    return FormState(values)  # preview, show its parameters: the same form, shown again


def save(
    session: Session,
    settings: Settings,
    caller: Principal,
    values: schedule_form.Values,
    write: Callable[[ReportScheduleWrite], models.ReportSchedule],
) -> models.ReportSchedule:
    """``write`` the form as the API's body; a 422 names the form's fields. A refused save
    leaves nothing behind (the service may have changed the row before it found the fault)."""
    with session.begin_nested():
        target = schedule_targets.find_target(session, settings, caller, values.get("target", ""))
        submission = schedule_form.submission(values, target)
        body = schedule_form.checked(submission)
        try:
            return write(body)
        except ValidationFailed as error:
            raise submission.renamed(error) from None


def target_or_none(
    session: Session, settings: Settings, caller: Principal, values: schedule_form.Values
) -> schedule_targets.Target | None:
    try:
        return schedule_targets.find_target(session, settings, caller, values.get("target", ""))
    except ValidationFailed:
        return None


def form_page(
    request: Request,
    session: Session,
    settings: Settings,
    caller: Principal,
    state: FormState,
    *,
    schedule: ReportSchedule | None = None,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    values = dict(state.values)
    target = target_or_none(session, settings, caller, values)
    reports, dashboards = schedule_targets.target_choices(session, settings, caller)
    return render(
        request,
        FORM if schedule is None else "schedules/show.html.j2",
        {
            "form": state,
            "schedule": schedule,
            "target": target,
            "reports": reports,
            "dashboards": dashboards,
            "rows": range(schedule_form.row_count(values)),
            "preview": schedule_preview.preview(session, values, target, utc_now()),
            "choices": choices(),
            "action": "/schedules/new" if schedule is None else f"/schedules/{schedule.id}",
            **(extra or {}),
        },
        status_code=status_code,
    )


def choices() -> dict[str, Any]:
    return {
        "cadences": schedule_form.CADENCES,
        "weekdays": [(str(i), day) for i, day in enumerate(schedule_text.WEEKDAYS, 1)],
        "month_days": [(str(d), str(d)) for d in range(1, 32)] + [("L", "Last day")],
        "zones": schedule_text.time_zones(),
        "calendars": schedule_text.holiday_calendars(),
        "channels": schedule_form.CHANNELS,
        "formats": [(f, f.upper() if f != "excel" else "Excel") for f in EXPORT_FORMATS],
        "example": "{{today().minusDays(7)}}",
        "misfire": [
            ("run_once", "Run once, if the delay is within the grace period"),
            ("skip", "Skip the missed run"),
        ],
    }
