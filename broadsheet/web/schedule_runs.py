"""A schedule's history: its executions, newest first, each with its recipients' deliveries;
and ``/schedules/{id}/executions/{executionId}``, one execution in full.

An execution and its deliveries are shown as the API's ``Execution`` (``views.execution``):
the status words are the API's (``pending``, ``running``, ``retrying``, ``completed``,
``failed``; a delivery's ``pending``, ``sending``, ``sent``, ``failed``, ``skipped``). While
anything is still to happen, the page asks again every few seconds (htmx; without it, a
``Refresh`` link) and announces the status in a live region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.permissions import permits
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import NotFound
from broadsheet.kit.ids import parse_id
from broadsheet.schedules import views
from broadsheet.schedules.schemas import Delivery, Execution
from broadsheet.schedules.service import ScheduleService
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.moments import Moment, maybe_moment, moment
from broadsheet.web.paging import Pager
from broadsheet.web.rendering import fragment, render
from broadsheet.web.routing import page_router

router = page_router()
PER_PAGE = 20
SETTLED = frozenset({"completed", "failed"})
DELIVERED = frozenset({"sent", "failed", "skipped"})


@dataclass(frozen=True)
class DeliveryLine:
    delivery: Delivery
    delivered_at: Moment | None
    next_attempt_at: Moment | None


@dataclass(frozen=True)
class Run:
    """One execution as the pages show it."""

    execution: Execution
    scheduled_for: Moment
    started_at: Moment | None
    completed_at: Moment | None
    next_attempt_at: Moment | None
    deliveries: list[DeliveryLine]

    @property
    def settled(self) -> bool:
        """Nothing more will happen: the execution ended and every delivery with it."""
        return self.execution.status in SETTLED and all(
            d.status in DELIVERED for d in self.execution.deliveries
        )

    @property
    def summary(self) -> str:
        """``2 sent, 1 failed`` (or ``No recipients``)."""
        counts: dict[str, int] = {}
        for d in self.execution.deliveries:
            counts[d.status] = counts.get(d.status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in counts.items()) or "No recipients"


@dataclass(frozen=True)
class History:
    runs: list[Run]
    pager: Pager


def run_of(session: Session, row: models.ReportExecution, zone: str, *, reveal: bool) -> Run:
    shown = views.execution(session, row, reveal=reveal)
    return Run(
        execution=shown,
        scheduled_for=moment(shown.scheduled_for, zone),
        started_at=maybe_moment(shown.started_at, zone),
        completed_at=maybe_moment(shown.completed_at, zone),
        next_attempt_at=maybe_moment(shown.next_attempt_at, zone),
        deliveries=[
            DeliveryLine(
                d, maybe_moment(d.delivered_at, zone), maybe_moment(d.next_attempt_at, zone)
            )
            for d in shown.deliveries
        ],
    )


def history(
    session: Session, schedule: models.ReportSchedule, asked: int, *, reveal: bool
) -> History:
    """Page ``asked`` of the schedule's executions, newest first (the last page if past it)."""
    base = select(models.ReportExecution).where(models.ReportExecution.schedule_id == schedule.id)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    pager = Pager.clamped(asked, PER_PAGE, total)
    rows = session.scalars(
        base.order_by(models.ReportExecution.scheduled_for.desc(), models.ReportExecution.id)
        .limit(PER_PAGE)
        .offset(pager.offset)
    ).all()
    return History([run_of(session, r, schedule.timezone, reveal=reveal) for r in rows], pager)


@router.get("/schedules/{schedule_id}/executions/{execution_id}")
def execution_page(
    schedule_id: str,
    execution_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("schedule.read")],
    session: SessionDep,
    settings: SettingsDep,
    done: str | None = None,
) -> Response:
    schedule = ScheduleService(session, settings).get(
        caller.tenant_id, parse_id(schedule_id, "schedule")
    )
    row = session.get(models.ReportExecution, parse_id(execution_id, "execution"))
    if row is None or row.schedule_id != schedule.id:
        raise NotFound(f"no execution {execution_id} of this schedule")
    run = run_of(session, row, schedule.timezone, reveal=permits(caller, "schedule.write"))
    values = {
        "schedule": schedule,
        "run": run,
        "notice": "The run has started." if done == "started" else None,
    }
    if request.headers.get("HX-Request"):  # the page asking again: its live part only
        return fragment(request, "schedules/execution.html.j2", "live", values)
    return render(request, "schedules/execution.html.j2", values)
