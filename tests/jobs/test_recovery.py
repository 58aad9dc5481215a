"""Jobs whose process died are found again; queued jobs survive a restart."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.app import create_app
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.jobs import recovery
from broadsheet.jobs.runner import run_job
from broadsheet.jobs.service import JobService
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from tests.factories import Tenancy

MAY = {"startDate": "2024-05-01", "endDate": "2024-05-31"}


def queue_job(sessions: sessionmaker[Session], settings: Settings) -> uuid.UUID:
    with session_scope(sessions) as session:
        caller = auth.system_principal(session, "acme", "tester")
        report = (
            session.query(models.ReportDefinition)
            .filter_by(name="Monthly Performance Report", tenant_id=caller.tenant_id)
            .one()
        )
        return JobService(session, settings).submit(caller, report.id, MAY).id


def job(sessions: sessionmaker[Session], job_id: uuid.UUID) -> models.ReportJob:
    with sessions() as session:
        row = session.get(models.ReportJob, job_id)
        assert row is not None
        return row


def test_queued_jobs_run_on_the_next_start(
    tenancy: Tenancy, sessions: sessionmaker[Session], settings: Settings
) -> None:
    tenancy.demo("acme")
    job_id = queue_job(sessions, settings)  # no process running: it just sits queued
    assert job(sessions, job_id).status == "queued"
    with TestClient(create_app(settings, prepare=False)):
        deadline = time.monotonic() + 20
        while job(sessions, job_id).status != "completed":
            assert time.monotonic() < deadline, job(sessions, job_id).status
            time.sleep(0.05)


def test_a_job_runs_once_however_often_it_is_delivered(
    tenancy: Tenancy, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    tenancy.demo("acme")
    job_id = queue_job(sessions, runtime.settings)
    assert run_job(job_id, runtime) == "completed"
    assert run_job(job_id, runtime) is None  # a redelivered task finds nothing to do
    row = job(sessions, job_id)
    assert (row.status, row.attempts) == ("completed", 1)
    with sessions() as session:
        assert session.query(models.ReportResult).count() == 1


def test_stale_processing_jobs_are_retried_then_failed(
    tenancy: Tenancy, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    tenancy.demo("acme")
    job_id = queue_job(sessions, runtime.settings)
    stale = utc_now() - timedelta(seconds=runtime.settings.job_stale_after_seconds + 5)

    def die_mid_run(attempts: int) -> None:
        with session_scope(sessions) as session:
            session.execute(
                update(models.ReportJob)
                .where(models.ReportJob.id == job_id)
                .values(status="processing", attempts=attempts, heartbeat_at=stale)
            )

    die_mid_run(attempts=1)
    assert recovery.recover_stale(runtime) == [(job_id, "high")]
    assert job(sessions, job_id).status == "queued"
    assert recovery.recover_stale(runtime) == []  # a second process finds nothing more

    die_mid_run(attempts=runtime.settings.job_max_attempts)
    assert recovery.recover_stale(runtime) == []
    failed = job(sessions, job_id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.startswith("interrupted")

    fresh = queue_job(sessions, runtime.settings)
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportJob)
            .where(models.ReportJob.id == fresh)
            .values(status="processing", attempts=1, heartbeat_at=utc_now())
        )
    assert recovery.recover_stale(runtime) == []  # a live heartbeat is left alone


def test_jobs_running_far_past_the_timeout_are_failed(
    tenancy: Tenancy, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    tenancy.demo("acme")
    stuck, recent = queue_job(sessions, runtime.settings), queue_job(sessions, runtime.settings)
    long_ago = utc_now() - timedelta(seconds=runtime.settings.job_timeout_seconds * 2 + 120)
    with session_scope(sessions) as session:
        for job_id, started in ((stuck, long_ago), (recent, utc_now())):
            session.execute(
                update(models.ReportJob)
                .where(models.ReportJob.id == job_id)
                .values(status="processing", started_at=started, heartbeat_at=utc_now())
            )
    assert recovery.fail_overdue(runtime) == 1
    assert job(sessions, stuck).status == "failed"
    assert (job(sessions, stuck).error or "").startswith("timed out")
    assert job(sessions, recent).status == "processing"
