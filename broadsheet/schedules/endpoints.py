from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response, status
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.permissions import permits
from broadsheet.auth.principal import Principal
from broadsheet.deliveries.endpoints import artifact_download
from broadsheet.dependencies import RuntimeDep, SessionDep, SettingsDep
from broadsheet.errors import NotFound, ValidationFailed
from broadsheet.jobs.endpoints import DispatcherDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import PageDep
from broadsheet.kit.tenancy import owned
from broadsheet.kit.time import utc_now
from broadsheet.routing import api_router
from broadsheet.schedules import cron, views
from broadsheet.schedules.schemas import Execution, Preview, ReportSchedule, ReportScheduleWrite
from broadsheet.schedules.service import MAX_PREVIEW, ScheduleService, fires

ScheduleId = Annotated[str, Path(alias="scheduleId", description="A schedule id.")]
router = api_router("/api/v1/schedules", "schedules")
executions_router = api_router("/api/v1/executions", "schedules")


def _out(service: ScheduleService, row: models.ReportSchedule, caller: Principal) -> ReportSchedule:
    return views.schedule(service.session, row, service.preview(row), reveal=_reveal(caller))


def _execution(session: Session, caller: Principal, execution_id: str) -> models.ReportExecution:
    """The caller's tenant's execution, or 404 naming the id as it was given."""
    row = owned(
        session, models.ReportExecution, caller.tenant_id, parse_id(execution_id, "execution")
    )
    if row is None:
        raise NotFound(f"no execution {execution_id}")
    return row


def _reveal(caller: Principal) -> bool:
    """Who may change schedules sees recipients' URLs whole; others do not: a Slack or Teams
    webhook URL is itself a credential."""
    return permits(caller, "schedule.write")


@router.get("", response_model=list[ReportSchedule], summary="List report schedules")
def list_schedules(
    caller: Annotated[Principal, Allowed("schedule.read")],
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
) -> list[ReportSchedule]:
    service = ScheduleService(session, settings)
    rows, total = service.list_schedules(caller.tenant_id, page)
    return page.answer([_out(service, row, caller) for row in rows], total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportSchedule,
    summary="Create a new report schedule",
)
def create_schedule(
    body: ReportScheduleWrite,
    caller: Annotated[Principal, Allowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportSchedule:
    service = ScheduleService(session, settings)
    return _out(service, service.create(caller, body), caller)


@router.get("/preview", response_model=Preview, summary="Next fire times, without saving")
def preview(
    caller: Annotated[Principal, Allowed("schedule.read")],
    schedule: Annotated[str, Query(max_length=100, description="Cron expression.")],
    timezone: Annotated[str, Query(max_length=64)] = "UTC",
    count: Annotated[int, Query(ge=1, le=MAX_PREVIEW)] = 5,
    business_days_only: Annotated[bool, Query(alias="businessDaysOnly")] = False,
    holiday_calendar: Annotated[str | None, Query(alias="holidayCalendar", max_length=10)] = None,
) -> Preview:
    try:
        cadence = cron.Cadence.parse(
            schedule,
            timezone=timezone,
            business_days_only=business_days_only,
            holiday_calendar=holiday_calendar,
        )
    except cron.CronError as exc:
        raise ValidationFailed.field(exc.field, str(exc)) from None
    return Preview(
        schedule=cadence.expression, timezone=timezone, fires=fires(cadence, utc_now(), count)
    )


@router.get("/{scheduleId}", response_model=ReportSchedule, summary="Get schedule details")
def get_schedule(
    schedule_id: ScheduleId,
    caller: Annotated[Principal, Allowed("schedule.read")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportSchedule:
    service = ScheduleService(session, settings)
    row = service.get(caller.tenant_id, parse_id(schedule_id, "schedule"))
    return _out(service, row, caller)


@router.put("/{scheduleId}", response_model=ReportSchedule, summary="Update schedule")
def update_schedule(
    schedule_id: ScheduleId,
    body: ReportScheduleWrite,
    caller: Annotated[Principal, Allowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportSchedule:
    service = ScheduleService(session, settings)
    return _out(service, service.update(caller, parse_id(schedule_id, "schedule"), body), caller)


@router.delete("/{scheduleId}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete schedule")
def delete_schedule(
    schedule_id: ScheduleId,
    caller: Annotated[Principal, Allowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    ScheduleService(session, settings).delete(caller.tenant_id, parse_id(schedule_id, "schedule"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{scheduleId}/pause", response_model=ReportSchedule, summary="Pause a schedule")
def pause(
    schedule_id: ScheduleId,
    caller: Annotated[Principal, Allowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportSchedule:
    service = ScheduleService(session, settings)
    row = service.set_enabled(caller.tenant_id, parse_id(schedule_id, "schedule"), False)
    return _out(service, row, caller)


@router.post("/{scheduleId}/resume", response_model=ReportSchedule, summary="Resume a schedule")
def resume(
    schedule_id: ScheduleId,
    caller: Annotated[Principal, Allowed("schedule.write")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportSchedule:
    service = ScheduleService(session, settings)
    row = service.set_enabled(caller.tenant_id, parse_id(schedule_id, "schedule"), True)
    return _out(service, row, caller)


@router.post(
    "/{scheduleId}/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Execution,
    summary="Run now, outside the cadence, with the same delivery",
)
def run_now(
    schedule_id: ScheduleId,
    caller: Annotated[Principal, Allowed("schedule.run_now")],
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    dispatcher: DispatcherDep,
) -> Execution:
    execution, dispatch = ScheduleService(session, settings).run_now(
        caller.tenant_id, parse_id(schedule_id, "schedule"), runtime
    )
    if dispatch is not None:
        dispatcher.after_commit(*dispatch)
    return views.execution(session, execution, reveal=_reveal(caller))


@router.get("/{scheduleId}/executions", response_model=list[Execution], summary="Execution history")
def list_executions(
    schedule_id: ScheduleId,
    caller: Annotated[Principal, Allowed("schedule.read")],
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
) -> list[Execution]:
    row = ScheduleService(session, settings).get(
        caller.tenant_id, parse_id(schedule_id, "schedule")
    )
    rows, total = page.fetch(
        session,
        select(models.ReportExecution)
        .where(models.ReportExecution.schedule_id == row.id)
        .order_by(models.ReportExecution.scheduled_for.desc(), models.ReportExecution.id),
    )
    return page.answer([views.execution(session, r, reveal=_reveal(caller)) for r in rows], total)


@executions_router.get("/{executionId}", response_model=Execution, summary="An execution")
def get_execution(
    execution_id: Annotated[str, Path(alias="executionId")],
    caller: Annotated[Principal, Allowed("schedule.read")],
    session: SessionDep,
) -> Execution:
    row = _execution(session, caller, execution_id)
    return views.execution(session, row, reveal=_reveal(caller))


@executions_router.get(
    "/{executionId}/artifact",
    summary="Download what an execution made (a dashboard's PDF, a report's export)",
    response_class=FileResponse,
    responses={404: {"description": "No such execution, or its artifact is gone"}},
)
def download_artifact(
    execution_id: Annotated[str, Path(alias="executionId")],
    caller: Annotated[Principal, Allowed("export.download")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> FileResponse:
    row = _execution(session, caller, execution_id)
    unavailable = "this execution's artifact is not available"
    return artifact_download(session, runtime.storage, row, unavailable)
