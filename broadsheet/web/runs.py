"""``/reports/{id}/run``: the run form, and a run's status until it ends.

- ``GET /reports/{id}/run``: a form built from the report's parameters (``run_form``), and
  ``Run``.
- ``POST /reports/{id}/run``: ``JobService.submit``, as the API's generate, the queued job
  dispatched after the commit; then 303 to the run's status. Values the service refuses: the
  form again (422), each error at its field, what was typed kept.
- ``GET /reports/{id}/run?job=<jobId>``: the run's status in the API's words (queued,
  processing, completed, failed, cancelled) in a live region, ``Cancel`` while it may be
  cancelled, a ``Refresh`` link (the page works without JavaScript), and the result's link
  once completed. htmx asks the same address every second with ``seen=<status>``: 204 while
  the status is still that one (nothing is swapped, nothing announced), else the new
  status; a completed run sends the browser to its result (``HX-Redirect``).
- ``POST /reports/{id}/run/cancel`` (``job``): ``JobService.cancel``; 303 back to the
  status. A run that ended meanwhile just shows how it ended.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from sqlalchemy.orm import Session

from broadsheet.auth.permissions import permits
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import Conflict, NotFound, ValidationFailed
from broadsheet.jobs.endpoints import DispatcherDep
from broadsheet.jobs.service import FINISHED, JobService
from broadsheet.kit.ids import parse_id
from broadsheet.kit.time import utc_now
from broadsheet.models import JobStatus, ReportDefinition, ReportJob
from broadsheet.reports.service import ReportService
from broadsheet.web import run_form
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.moments import maybe_moment
from broadsheet.web.paging import link
from broadsheet.web.rendering import fragment, render, see_other
from broadsheet.web.reports import shown_parameters
from broadsheet.web.routing import page_router

router = page_router()
FORM = "reports/run.html.j2"
STATUS = "reports/job.html.j2"
# What each status means to the person waiting (the status itself is the API's word).
MEANINGS = {
    JobStatus.queued: "Waiting for its turn to run.",
    JobStatus.processing: "Running the query.",
    JobStatus.completed: "Finished: the result is ready.",
    JobStatus.failed: "The run failed.",
    JobStatus.cancelled: "The run was cancelled.",
}


@router.get("/reports/{report_id:uuid}/run")
def run_page(
    request: Request,
    report_id: uuid.UUID,
    caller: Annotated[Principal, WebAllowed("report.run")],
    session: SessionDep,
    settings: SettingsDep,
    job: str | None = None,
    seen: str | None = None,
) -> Response:
    report = ReportService(session, settings).get(caller.tenant_id, report_id)
    if job is None:
        zone = ZoneInfo(report.timezone)
        values = run_form.defaults(report.parameters or [], utc_now(), zone)
        return _form(request, report, FormState(values))
    run = _job_of(session, settings, caller, report, job)
    if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
        if seen == run.status:
            return Response(status_code=204)  # unchanged: nothing to swap or announce
        headers = {}
        if run.status == JobStatus.completed and run.result_id:
            headers["HX-Redirect"] = f"/results/{run.result_id}"
        return fragment(
            request, STATUS, "status_update", _status(report, run, caller), headers=headers
        )
    return render(request, STATUS, _status(report, run, caller))


@router.post("/reports/{report_id:uuid}/run")
def run_report(
    request: Request,
    report_id: uuid.UUID,
    caller: Annotated[Principal, WebAllowed("report.run")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
) -> Response:
    report = ReportService(session, settings).get(caller.tenant_id, report_id)
    declared = report.parameters or []
    try:
        job = JobService(session, settings).submit(
            caller, report.id, run_form.submitted(declared, form)
        )
    except ValidationFailed as error:
        return _form(request, report, run_form.failed(form, error, declared), status_code=422)
    if job.status == JobStatus.queued:
        dispatcher.after_commit(job.id, job.priority)
    return see_other(status_url(report.id, job.id))


@router.post("/reports/{report_id:uuid}/run/cancel")
def cancel_run(
    report_id: uuid.UUID,
    caller: Annotated[Principal, WebAllowed("job.cancel")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    report = ReportService(session, settings).get(caller.tenant_id, report_id)
    run = _job_of(session, settings, caller, report, str(form.get("job", "")))
    with contextlib.suppress(Conflict):  # it ended meanwhile: its page says how
        JobService(session, settings).cancel(caller, run.id)
    return see_other(status_url(report.id, run.id))


def status_url(report_id: uuid.UUID, job_id: uuid.UUID, seen: str | None = None) -> str:
    return link(f"/reports/{report_id}/run", {"job": job_id, "seen": seen})


def _job_of(
    session: Session,
    settings: Settings,
    caller: Principal,
    report: ReportDefinition,
    job_id: str,
) -> ReportJob:
    """The caller's tenant's job of this report; any other id is a 404."""
    run = JobService(session, settings).get(caller.tenant_id, parse_id(job_id, "job"))
    if run.report_id != report.id:
        raise NotFound(f"no job {job_id} of report {report.id}")
    return run


def _form(
    request: Request, report: ReportDefinition, state: FormState, *, status_code: int = 200
) -> Response:
    zone = ZoneInfo(report.timezone)
    return render(
        request,
        FORM,
        {
            "report": report,
            "fields": run_form.fields(report.parameters or [], utc_now(), zone),
            "form": state,
        },
        status_code=status_code,
    )


def _status(report: ReportDefinition, run: ReportJob, caller: Principal) -> dict[str, object]:
    finished = run.status in FINISHED
    labels = {str(p["name"]): str(p.get("label") or p["name"]) for p in report.parameters or []}
    may_cancel = run.created_by == caller.user_id or permits(caller, "job.cancel_any")
    return {
        "report": report,
        "job": run,
        "finished": finished,
        "meaning": MEANINGS.get(JobStatus(run.status), ""),
        "poll_url": None if finished else status_url(report.id, run.id, seen=run.status),
        "refresh_url": status_url(report.id, run.id),
        "can_cancel": not finished and may_cancel,
        "parameters": shown_parameters(run.parameters, labels),
        "queued_at": maybe_moment(run.created_at, report.timezone),
        "started_at": maybe_moment(run.started_at, report.timezone),
        "ended_at": maybe_moment(run.completed_at, report.timezone),
    }
