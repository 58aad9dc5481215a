"""Submitting, reading and cancelling jobs. Dispatch to an executor happens after commit."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.permissions import refusal
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.errors import Conflict, Forbidden, ValidationFailed
from broadsheet.events import about as events
from broadsheet.jobs.schemas import JobProgress, ReportGenerationJob
from broadsheet.kit.pagination import Page
from broadsheet.kit.tenancy import get_owned
from broadsheet.kit.time import utc_now
from broadsheet.metrics import record as metrics
from broadsheet.models import JobStatus, JobTrigger
from broadsheet.reports import parameters
from broadsheet.reports.service import ReportService

FINISHED = (JobStatus.completed, JobStatus.failed, JobStatus.cancelled)


NO_QUERY = "the report has no query to run"


def has_query(report: models.ReportDefinition) -> bool:
    return bool(report.query or report.datasets)


def job_fields(
    report: models.ReportDefinition,
    stored: dict[str, Any],
    *,
    created_by: uuid.UUID,
    priority: str,
    trigger: JobTrigger = JobTrigger.api,
) -> dict[str, Any]:
    """A queued job of ``report`` with normalised parameters: what submit and the
    scheduler's bulk tick both write."""
    return {
        "tenant_id": report.tenant_id,
        "report_id": report.id,
        "report_version": report.version,
        "priority": priority,
        "trigger": trigger,
        "parameters": stored,
        "cache_key": cache_key(report.version, stored),
        "created_by": created_by,
        "status": JobStatus.queued,
    }


def cache_key(report_version: int, values: dict[str, Any]) -> str:
    canonical = json.dumps({"v": report_version, "p": values}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class JobService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    def submit(
        self,
        caller: Principal,
        report_id: uuid.UUID,
        submitted: dict[str, Any],
        *,
        priority: str = "high",
        reference: datetime | None = None,
        claim: bool = False,
        trigger: JobTrigger = JobTrigger.api,
    ) -> models.ReportJob:
        """Validate the parameters and queue a job — or complete it at once from the cache.

        ``reference`` is the instant date expressions are evaluated at: now for on-demand
        runs, the scheduled instant for a schedule's fire. ``claim`` creates the job already
        running as attempt 1 of the caller (the CLI runs it itself: no executor may take it).
        """
        report = ReportService(self.session, self.settings).get(caller.tenant_id, report_id)
        if not has_query(report):
            raise ValidationFailed.field("query", NO_QUERY)
        try:
            values = parameters.resolve(
                report.parameters or [],
                submitted,
                reference=reference or utc_now(),
                tz=ZoneInfo(report.timezone),
            )
        except parameters.ParameterErrors as exc:
            errors = [{"field": p.name, "message": p.message} for p in exc.problems]
            raise ValidationFailed(str(exc), errors=errors) from None
        stored = parameters.normalized(values)
        job = models.ReportJob(
            **job_fields(
                report, stored, created_by=caller.user_id, priority=priority, trigger=trigger
            )
        )
        hit = self._cached(report, job.cache_key) if report.cache_ttl_seconds else None
        now = utc_now()
        if hit is not None:
            job.status, job.cached, job.result_id = JobStatus.completed, True, hit
            job.started_at = job.completed_at = now
            metrics.job(JobStatus.completed, "cache", trigger)  # ends here, run by no executor
        elif claim:
            job.status, job.attempts = JobStatus.processing, 1
            job.started_at = job.heartbeat_at = now
        self.session.add(job)
        self.session.flush()
        if hit is not None:
            events.job_ended(self.session, job)  # it ended as it was made
        return job

    def _cached(self, report: models.ReportDefinition, key: str | None) -> uuid.UUID | None:
        assert report.cache_ttl_seconds
        now = utc_now()
        since = now - timedelta(seconds=report.cache_ttl_seconds)
        return self.session.scalar(
            select(models.ReportResult.id)
            .join(models.ReportJob, models.ReportJob.id == models.ReportResult.job_id)
            .where(
                models.ReportJob.report_id == report.id,
                models.ReportJob.cache_key == key,
                models.ReportJob.status == JobStatus.completed,
                models.ReportResult.created_at >= since,
                (models.ReportResult.expires_at.is_(None)) | (models.ReportResult.expires_at > now),
            )
            .order_by(models.ReportResult.created_at.desc())
            .limit(1)
        )

    def get(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> models.ReportJob:
        return get_owned(self.session, models.ReportJob, tenant_id, job_id, "job")

    def list_for_report(
        self, tenant_id: uuid.UUID, report_id: uuid.UUID, page: Page
    ) -> tuple[list[models.ReportJob], int]:
        ReportService(self.session, self.settings).get(tenant_id, report_id)
        return page.fetch(
            self.session,
            select(models.ReportJob)
            .where(models.ReportJob.tenant_id == tenant_id, models.ReportJob.report_id == report_id)
            .order_by(models.ReportJob.created_at.desc(), models.ReportJob.id),
        )

    def cancel(self, caller: Principal, job_id: uuid.UUID) -> models.ReportJob:
        """Queued jobs never start; a processing one stops at its next heartbeat.
        Anyone may cancel their own job; who may ``job.cancel_any``, anyone's."""
        job = self.get(caller.tenant_id, job_id)
        if job.created_by != caller.user_id:
            why = refusal(caller, "job.cancel_any")
            if why:
                raise Forbidden(f"the job is someone else's: {why}")
        done = self.session.execute(
            update(models.ReportJob)
            .where(
                models.ReportJob.id == job_id,
                models.ReportJob.status.in_([JobStatus.queued, JobStatus.processing]),
            )
            .values(status=JobStatus.cancelled, completed_at=utc_now(), error="cancelled")
        )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            self.session.refresh(job)
            raise Conflict(f"the job is {job.status} already and cannot be cancelled")
        self.session.refresh(job)
        metrics.job(JobStatus.cancelled, self.settings.executor.value, job.trigger)
        return job


def to_schema(job: models.ReportJob) -> ReportGenerationJob:
    return ReportGenerationJob(
        id=job.id,
        report_id=job.report_id,
        status=job.status,
        parameters=job.parameters,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
        result_id=job.result_id,
        error=job.error,
        cached=job.cached,
        attempts=job.attempts,
        priority=job.priority,
        trigger=job.trigger,
        progress=JobProgress(rows=job.rows_fetched),
    )
