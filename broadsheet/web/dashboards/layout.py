"""Edit mode (editors and admins): ``GET /dashboards/{id}/edit``, and the forms it posts.

- ``POST /dashboards/{id}/edit/widgets/{widgetId}``: ``action`` = ``left``, ``right``,
  ``up``, ``down``, ``wider``, ``narrower``, ``taller``, ``shorter``, ``remove``, or
  ``place`` with ``x``, ``y`` (and ``width``, ``height``) where a pointer dropped it.
- ``POST /dashboards/{id}/edit/widgets``: add a widget.
- ``POST /dashboards/{id}/edit/filters``: add a filter;
  ``POST /dashboards/{id}/edit/filters/{name}/remove``: remove one.
- ``POST /dashboards/{id}/edit/settings``: name, description, tags, refresh interval, zone.

Each form carries the version the page showed, and saves the whole definition through
``DashboardService.update`` (a newer version is a 409, shown as a message; a refused
definition is the page again with the errors at the fields that made them). Every form works
without scripts (a 303 back to the page); the arrange buttons also work through htmx, which
swaps the board in place and keeps the focus on the button pressed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.dashboards.service import DashboardService
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.errors import Conflict, NotFound, ValidationFailed
from broadsheet.jobs.endpoints import ExecutorDep
from broadsheet.jobs.executors import Executor
from broadsheet.kit.ids import parse_id
from broadsheet.runtime import Runtime
from broadsheet.web.dashboards import arrange, edit_forms, filter_form
from broadsheet.web.dashboards import board as boards
from broadsheet.web.dashboards.page import NOTICES, EditState, render_board
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.rendering import see_other
from broadsheet.web.routing import page_router

router = page_router()

Change = Callable[[dict[str, Any], list[dict[str, Any]]], None]


@dataclass
class Editing:
    """One request of edit mode: who, which dashboard, and what reading it needs."""

    request: Request
    dashboard_id: str
    caller: Principal
    session: Session
    runtime: Runtime
    executor: Executor
    settings: Settings

    @property
    def page(self) -> str:
        return f"/dashboards/{self.dashboard_id}/edit"


async def _editing(
    request: Request,
    dashboard_id: str,
    caller: Annotated[Principal, WebAllowed("dashboard.write")],
    session: SessionDep,
    runtime: RuntimeDep,
    executor: ExecutorDep,
    settings: SettingsDep,
) -> Editing:
    return Editing(request, dashboard_id, caller, session, runtime, executor, settings)


EditingDep = Annotated[Editing, Depends(_editing)]


@router.get("/dashboards/{dashboard_id}/edit")
async def edit_dashboard(ed: EditingDep) -> Response:
    done = NOTICES.get(ed.request.query_params.get("done", ""))
    return await _edit_page(ed, notice={"kind": "success", "text": done} if done else None)


@router.post("/dashboards/{dashboard_id}/edit/widgets/{widget_id}")
async def arrange_widget(ed: EditingDep, widget_id: str, form: Form) -> Response:
    action = str(form.get("action", ""))
    found: dict[str, int] = {}

    def change(body: dict[str, Any], widgets: list[dict[str, Any]]) -> None:
        index = next((i for i, w in enumerate(widgets) if w["id"] == widget_id), None)
        if index is None:
            raise NotFound(f"no widget {widget_id!r} in this dashboard")
        found["index"] = index
        if action == "remove":
            del widgets[index]
            for flt in body["parameters"]:
                flt["targets"] = [t for t in flt["targets"] if t["widgetId"] != widget_id]
            return
        arrange.arrange(widgets, index, action, {k: str(v) for k, v in form.items()})

    try:
        await _save(ed, form, change)
    except Conflict:
        return await _conflict(ed)
    except ValidationFailed as refused:
        errors = _at_widget(refused, found.get("index", -1))
        notice = None if errors else {"kind": "error", "text": refused.detail}
        # The summary (seen when the page is loaded anew, without scripts) links to the
        # button pressed, beside which the error is shown.
        pressed = FormState({}, {f"widget-{widget_id}-{action}": m for m in errors.values()})
        edit = EditState(arrange_errors=errors)
        return await _edit_page(
            ed, edit=edit, notice=notice, failed=pressed, status_code=_status(ed, 422)
        )
    if action == "remove":
        return see_other(f"{ed.page}?done=removed")
    return see_other(f"{ed.page}#widget-{quote(widget_id)}")


@router.post("/dashboards/{dashboard_id}/edit/widgets")
async def add_widget(ed: EditingDep, form: Form) -> Response:
    added: dict[str, Any] = {}
    typed = {k: str(v) for k, v in form.items()}

    def change(body: dict[str, Any], widgets: list[dict[str, Any]]) -> None:
        widget = edit_forms.new_widget(typed, widgets)
        widgets.append(widget)
        added.update(widget=widget, index=len(widgets) - 1)

    try:
        await _save(ed, form, change)
    except Conflict:
        return await _conflict(ed)
    except ValidationFailed as refused:
        state = FormState(form, edit_forms.widget_errors(refused, added.get("index", -1)))
        edit = EditState(widget_form=state)
        return await _edit_page(ed, edit=edit, failed=state, status_code=_status(ed, 422))
    return see_other(f"{ed.page}?done=added#widget-{added['widget']['id']}")


@router.post("/dashboards/{dashboard_id}/edit/filters")
async def add_filter(ed: EditingDep, form: Form) -> Response:
    made: dict[str, Any] = {}
    typed = {k: str(v) for k, v in form.items()}

    def change(body: dict[str, Any], widgets: list[dict[str, Any]]) -> None:
        chosen = [
            (str(w["id"]), typed[f"target.{w['id']}"])
            for w in widgets
            if typed.get(f"target.{w['id']}")
        ]
        flt, targets = filter_form.new_filter(typed, chosen)
        body["parameters"].append(flt)
        made.update(index=len(body["parameters"]) - 1, targets=targets)

    try:
        await _save(ed, form, change)
    except Conflict:
        return await _conflict(ed)
    except ValidationFailed as refused:
        errors = filter_form.filter_errors(refused, made.get("index", -1), made.get("targets", []))
        state = FormState(form, errors)
        edit = EditState(filter_form=state)
        return await _edit_page(ed, edit=edit, failed=state, status_code=_status(ed, 422))
    return see_other(f"{ed.page}?done=filter-added")


@router.post("/dashboards/{dashboard_id}/edit/filters/{name}/remove")
async def remove_filter(ed: EditingDep, name: str, form: Form) -> Response:
    def change(body: dict[str, Any], widgets: list[dict[str, Any]]) -> None:
        kept = [f for f in body["parameters"] if f["name"] != name]
        if len(kept) == len(body["parameters"]):
            raise NotFound(f"no filter {name!r} in this dashboard")
        body["parameters"] = kept

    try:
        await _save(ed, form, change)
    except Conflict:
        return await _conflict(ed)
    except ValidationFailed as refused:
        notice = {"kind": "error", "text": refused.detail}
        return await _edit_page(ed, notice=notice, status_code=_status(ed, 422))
    return see_other(f"{ed.page}?done=filter-removed")


@router.post("/dashboards/{dashboard_id}/edit/settings")
async def save_settings(ed: EditingDep, form: Form) -> Response:
    typed = {k: str(v) for k, v in form.items()}

    def change(body: dict[str, Any], widgets: list[dict[str, Any]]) -> None:
        edit_forms.apply_settings(body, typed)

    try:
        await _save(ed, form, change)
    except Conflict:
        return await _conflict(ed)
    except ValidationFailed as refused:
        state = FormState(form, edit_forms.settings_errors(refused))
        notice = None if state.errors else {"kind": "error", "text": refused.detail}
        edit = EditState(settings_form=state)
        return await _edit_page(
            ed, edit=edit, notice=notice, failed=state, status_code=_status(ed, 422)
        )
    return see_other(f"{ed.page}?done=settings")


# --- helpers -----------------------------------------------------------------------------------


def _at_widget(refused: ValidationFailed, index: int) -> dict[int, str]:
    """Errors by the index of the widget they are about; an arrange refusal names the
    widget being arranged (``position``)."""
    errors = edit_forms.placed_errors(refused)
    for item in refused.errors or []:
        if item.get("field") in ("position", "action"):
            errors[index] = str(item.get("message"))
    return errors


async def _save(ed: Editing, form: FormData, change: Change) -> None:
    """Apply ``change`` to the stored definition (as of the form's version) and save it."""

    def run() -> None:
        service = DashboardService(ed.session)
        row = service.get(ed.caller.tenant_id, parse_id(ed.dashboard_id, "dashboard"))
        body = edit_forms.current(row, str(form.get("version", "")))
        change(body, body["widgets"])
        service.update(ed.caller, row.id, edit_forms.checked(body))

    await anyio.to_thread.run_sync(run)


async def _edit_page(
    ed: Editing,
    *,
    edit: EditState | None = None,
    notice: dict[str, str] | None = None,
    failed: FormState | None = None,
    status_code: int = 200,
) -> Response:
    asked = boards.asked_filters(ed.request.query_params)
    board = await boards.read(
        ed.session, ed.runtime, ed.executor, ed.caller, ed.dashboard_id, asked, count=False
    )
    edit = edit or EditState()
    edit.reports = await anyio.to_thread.run_sync(
        edit_forms.report_choices, ed.session, ed.settings, ed.caller
    )
    return render_board(
        ed.request,
        board,
        ed.caller,
        editing=True,
        edit=edit,
        notice=notice,
        failed=failed,
        status_code=status_code,
    )


async def _conflict(ed: Editing) -> Response:
    text = (
        "Someone else changed this dashboard since you opened it, so your change was not "
        "saved. This is the dashboard as it is now: make your change again."
    )
    notice = {"kind": "error", "text": text}
    return await _edit_page(ed, notice=notice, status_code=_status(ed, 409))


def _status(ed: Editing, status: int) -> int:
    # htmx swaps only successful answers; the page it swaps in shows the error itself.
    return 200 if ed.request.headers.get("HX-Request") else status
