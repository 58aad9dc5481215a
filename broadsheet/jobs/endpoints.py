from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import BackgroundTasks, Body, Depends, Path, Request, status

from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.jobs.executors import Executor
from broadsheet.jobs.schemas import ReportGenerationJob
from broadsheet.jobs.service import JobService, to_schema
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import PageDep
from broadsheet.models import JobStatus
from broadsheet.routing import api_router


async def get_executor(request: Request) -> Executor:
    executor: Executor = request.app.state.executor
    return executor


# The app's executor, for endpoints that queue jobs: through a Dispatcher, or (a dashboard's
# read, which commits and dispatches before it waits) directly.
ExecutorDep = Annotated[Executor, Depends(get_executor)]


@dataclass(frozen=True)
class Dispatcher:
    """Hands a request's queued jobs to the app's executor after the response, which is after
    the commit: a worker never looks for a job that is not in the database yet."""

    executor: Executor
    background: BackgroundTasks

    def after_commit(self, job_id: uuid.UUID, priority: str) -> None:
        self.background.add_task(self.executor.dispatch, job_id, priority)


async def get_dispatcher(executor: ExecutorDep, background: BackgroundTasks) -> Dispatcher:
    return Dispatcher(executor, background)


DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]

ReportId = Annotated[str, Path(alias="reportId", description="A report id.")]
JobId = Annotated[str, Path(alias="jobId", description="A job id.")]

router = api_router("/api/v1/reports", "jobs")


@router.post(
    "/{reportId}/generate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportGenerationJob,
    summary="Generate report on demand",
)
def generate(
    report_id: ReportId,
    caller: Annotated[Principal, Allowed("report.run")],
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    parameters: Annotated[
        dict[str, Any] | None,
        Body(
            description="ReportParameters: the report's parameter values by name.",
            examples=[{"startDate": "2025-05-01", "endDate": "2025-05-31"}],
        ),
    ] = None,
) -> ReportGenerationJob:
    job = JobService(session, settings).submit(
        caller, parse_id(report_id, "report"), parameters or {}
    )
    if job.status == JobStatus.queued:
        dispatcher.after_commit(job.id, job.priority)
    return to_schema(job)


@router.get("/jobs/{jobId}", response_model=ReportGenerationJob, summary="Get job status")
def get_job(
    job_id: JobId,
    caller: Annotated[Principal, Allowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportGenerationJob:
    return to_schema(JobService(session, settings).get(caller.tenant_id, parse_id(job_id, "job")))


@router.post("/jobs/{jobId}/cancel", response_model=ReportGenerationJob, summary="Cancel a job")
def cancel_job(
    job_id: JobId,
    caller: Annotated[Principal, Allowed("job.cancel")],
    session: SessionDep,
    settings: SettingsDep,
) -> ReportGenerationJob:
    return to_schema(JobService(session, settings).cancel(caller, parse_id(job_id, "job")))


@router.get("/{reportId}/jobs", response_model=list[ReportGenerationJob], summary="A report's jobs")
def list_jobs(
    report_id: ReportId,
    caller: Annotated[Principal, Allowed("report.read")],
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
) -> list[ReportGenerationJob]:
    jobs, total = JobService(session, settings).list_for_report(
        caller.tenant_id, parse_id(report_id, "report"), page
    )
    return page.answer([to_schema(j) for j in jobs], total)
