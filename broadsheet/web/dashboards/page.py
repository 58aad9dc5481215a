"""The dashboard page (``dashboards/show.html.j2``) from a read of the dashboard, in view or
edit mode; every route that shows the page again (a failed form, a 409) renders it here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from broadsheet.auth.permissions import permits
from broadsheet.auth.principal import Principal
from broadsheet.dashboards import embed, widget_html
from broadsheet.web.dashboards import board as boards
from broadsheet.web.dashboards import edit_forms, filter_form
from broadsheet.web.dashboards.board import Board
from broadsheet.web.forms import FormState
from broadsheet.web.rendering import render
from broadsheet.web.schedule_text import time_zones

EXPIRY_OPTIONS = [
    ("600", "10 minutes"),
    ("3600", "1 hour"),
    ("28800", "8 hours"),
    ("86400", "24 hours"),
]
NOTICES = {
    "created": "Dashboard created. Add its first widget below.",
    "added": "Widget added.",
    "removed": "Widget removed.",
    "filter-added": "Filter added.",
    "filter-removed": "Filter removed.",
    "settings": "Settings saved.",
}


@dataclass
class EditState:
    """What edit mode shows besides the board: its forms (as typed, with errors), the
    tenant's reports for them, and a message."""

    reports: list[edit_forms.ReportChoice] = field(default_factory=list)
    widget_form: FormState | None = None
    filter_form: FormState | None = None
    settings_form: FormState | None = None
    arrange_errors: dict[int, str] = field(default_factory=dict)


@dataclass
class EmbedState:
    form: FormState = field(default_factory=FormState)
    link: dict[str, str] | None = None


def can_edit(principal: Principal) -> bool:
    return permits(principal, "dashboard.write")


def render_board(
    request: Request,
    board: Board,
    caller: Principal,
    *,
    editing: bool = False,
    edit: EditState | None = None,
    notice: Mapping[str, str] | None = None,
    embedding: EmbedState | None = None,
    failed: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    doc = board.doc
    base = f"/dashboards/{doc.id}"
    paused = request.query_params.get("paused") == "1"
    filter_state = boards.filter_form(board)
    context: dict[str, Any] = {
        "doc": doc,
        "shared": widget_html.macros(),
        "widgets": boards.widget_views(board, editing=editing),
        "fields": boards.filter_fields(board),
        "filter_state": filter_state,
        "form": failed or filter_state,  # the error summary lists the failed form's errors
        "editing": editing,
        "can_edit": can_edit(caller),
        "view_url": base + board.query(),
        "edit_url": f"{base}/edit" + board.query(),
        "pdf_url": f"{base}/pdf" + board.query(),
        "updated": boards.updated(doc),
        "refresh_seconds": doc.refresh_interval,
        "paused": paused,
        "pause_url": base + board.query(paused="1"),
        "resume_url": base + board.query(),
        "noscript_refresh": _noscript_refresh(board, paused),
        "notice": notice,
        "embed": embedding or EmbedState(),
        "embed_values": _embed_values(board),
        "expiry_options": EXPIRY_OPTIONS,
        "default_expiry": str(embed.DEFAULT_EXPIRES_SECONDS),
    }
    if editing:
        context.update(_edit_context(board, edit or EditState()))
    return render(request, "dashboards/show.html.j2", context, status_code=status_code)


def _noscript_refresh(board: Board, paused: bool) -> dict[str, Any] | None:
    """Without scripts the page reloads itself: soon while widgets' data is being made
    (the server holds the reload until the jobs end), else every refresh interval, unless
    paused."""
    if boards.busy(board.doc):
        query = {f"{boards.PREFIX}{k}": v for k, v in board.asked.items()}
        query["wait"] = str(boards.MAX_WAIT_SECONDS)
        return {"after": boards.POLL_SECONDS, "url": "?" + urlencode(query)}
    if paused:
        return None
    return {"after": board.doc.refresh_interval, "url": board.query() or "?"}


def _embed_values(board: Board) -> list[dict[str, str]]:
    """Each filter's value now, which the embed form can fix for the link's holder."""
    state = boards.filter_form(board)
    return [
        {
            "name": f"{boards.PREFIX}{flt.name}",
            "filter": flt.name,
            "label": flt.label,
            "value": state.value(f"{boards.PREFIX}{flt.name}"),
        }
        for flt in board.doc.parameters
    ]


def _edit_context(board: Board, edit: EditState) -> dict[str, Any]:
    doc = board.doc
    stored = [w.model_dump(by_alias=True) for w in doc.widgets]
    reports = {str(r.id): r for r in edit.reports}
    targets: list[dict[str, Any]] = []
    for w in widget_html.in_grid_order(doc.widgets):
        report = reports.get(str((w.source or {}).get("reportId")))
        if report is not None:
            title = w.title or widget_html.KIND_LABELS.get(str(w.type), "Widget")
            targets.append({"id": w.id, "title": title, "parameters": report.parameters})
    titles = {str(t["id"]): str(t["title"]) for t in targets}
    widget_form = edit.widget_form or FormState(
        {
            "type": "visualization",
            "x": "1",
            "y": str(edit_forms.free_row(stored)),
            "width": "6",
            "height": "4",
            "aggregate": "first",
        }
    )
    return {
        "widget_form": widget_form,
        "filter_add": edit.filter_form or FormState({"filter.type": "date"}),
        "settings_form": edit.settings_form or edit_forms.settings_state(doc),
        "zones": time_zones(),
        "arrange_errors": edit.arrange_errors,
        "widget_types": edit_forms.WIDGET_TYPES,
        "aggregates": edit_forms.AGGREGATES,
        "filter_types": filter_form.FILTER_TYPES,
        "charts": [
            {
                "report": r.name,
                "options": [(f"{r.id}/{vid}", title) for vid, title in r.visualizations],
            }
            for r in edit.reports
            if r.visualizations
        ],
        "report_options": [(str(r.id), r.name) for r in edit.reports],
        "targets": targets,
        "filters": [
            {
                "name": f.name,
                "label": f.label,
                "type": dict(filter_form.FILTER_TYPES).get(str(f.type), str(f.type)),
                "default": "" if f.default_value is None else str(f.default_value),
                "sets": ", ".join(
                    f"{titles.get(g['widgetId'], g['widgetId'])} ({g['parameter']})"
                    for g in f.targets
                ),
            }
            for f in doc.parameters
        ],
    }
