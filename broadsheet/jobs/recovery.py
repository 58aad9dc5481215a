"""Finding work that a dead process left behind, and the result retention sweep.

Runs in every ``serve`` (and later ``scheduler``) process; each step is a conditional update,
so several processes doing it at once change each job once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.events import about as events
from broadsheet.kit.time import utc_now
from broadsheet.models import JobStatus
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
Job = models.ReportJob


def recover_stale(runtime: Runtime) -> list[tuple[uuid.UUID, str]]:
    """Processing jobs whose heartbeat stopped go back to queued, or fail after their last
    attempt. Returns the ids to dispatch again."""
    settings = runtime.settings
    cutoff = utc_now() - timedelta(seconds=settings.job_stale_after_seconds)
    requeued: list[tuple[uuid.UUID, str]] = []
    with session_scope(runtime.sessions) as session:
        stale = session.execute(
            select(Job.id, Job.attempts, Job.priority).where(
                Job.status == JobStatus.processing, Job.heartbeat_at < cutoff
            )
        ).all()
        for job_id, attempts, priority in stale:
            retry = attempts < settings.job_max_attempts
            values = (
                {"status": JobStatus.queued, "heartbeat_at": None}
                if retry
                else {
                    "status": JobStatus.failed,
                    "completed_at": utc_now(),
                    "error": f"interrupted: the process running it stopped ({attempts} "
                    f"attempt{'s' if attempts != 1 else ''})",
                }
            )
            changed = session.execute(
                update(Job)
                .where(
                    Job.id == job_id, Job.status == JobStatus.processing, Job.heartbeat_at < cutoff
                )
                .values(**values)
            )
            if changed.rowcount and retry:  # type: ignore[attr-defined]
                requeued.append((job_id, priority))
                log.warning("job %s lost its process; queued again", job_id)
            elif changed.rowcount:  # type: ignore[attr-defined]
                _ended(session, job_id)
    return requeued


def fail_overdue(runtime: Runtime) -> int:
    """Jobs still processing past ``BROADSHEET_JOB_TIMEOUT_SECONDS`` (with a heartbeat, so
    their process lives but is stuck) are failed; the heartbeat then stops the run."""
    settings = runtime.settings
    # The query itself is bounded by the same timeout; the grace covers charts and writing.
    cutoff = utc_now() - timedelta(seconds=settings.job_timeout_seconds * 1.5 + 60)
    with session_scope(runtime.sessions) as session:
        failed = session.scalars(
            update(Job)
            .where(Job.status == JobStatus.processing, Job.started_at < cutoff)
            .values(
                status=JobStatus.failed,
                completed_at=utc_now(),
                error=f"timed out: still running after {settings.job_timeout_seconds} s "
                "(BROADSHEET_JOB_TIMEOUT_SECONDS)",
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        ).all()
        for job_id in failed:
            _ended(session, job_id)
        return len(failed)


def _ended(session: Session, job_id: uuid.UUID) -> None:
    """The event of a job failed here, in the transaction that failed it."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is not None:
        events.job_ended(session, job)


def queued_waiting(runtime: Runtime, older_than_seconds: float) -> list[tuple[uuid.UUID, str]]:
    """Queued jobs nobody has picked up for a while (a dispatch lost between commit and
    broker), each returned once per period: taking one stamps ``dispatched_at``, so several
    processes and several rounds do not send it again and again."""
    cutoff = utc_now() - timedelta(seconds=older_than_seconds)
    taken: list[tuple[uuid.UUID, str]] = []
    with session_scope(runtime.sessions) as session:
        rows = session.execute(
            select(Job.id, Job.priority)
            .where(
                Job.status == JobStatus.queued,
                Job.created_at < cutoff,
                (Job.dispatched_at.is_(None)) | (Job.dispatched_at < cutoff),
            )
            .order_by(Job.created_at)
            .limit(500)
        ).all()
        for job_id, priority in rows:
            stamped = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == JobStatus.queued,
                    (Job.dispatched_at.is_(None)) | (Job.dispatched_at < cutoff),
                )
                .values(dispatched_at=utc_now())
            )
            if stamped.rowcount:  # type: ignore[attr-defined]
                taken.append((job_id, priority))
    return taken


def sweep_expired_results(runtime: Runtime) -> int:
    """Delete results past their retention, rows and files."""
    now = utc_now()
    with session_scope(runtime.sessions) as session:
        expired = session.execute(
            select(models.ReportResult.id, models.ReportResult.storage_key)
            .where(models.ReportResult.expires_at < now)
            .limit(1000)
        ).all()
        if not expired:
            return 0
        ids = [row.id for row in expired]
        session.execute(delete(models.RecentReportView).where(models.RecentReportView.id.in_(ids)))
        session.execute(delete(models.ReportResult).where(models.ReportResult.id.in_(ids)))
    # Files go after the rows: a crash in between leaves orphan files, never rows without files.
    for row in expired:
        if row.storage_key:
            runtime.storage.delete_prefix(row.storage_key)
    log.info("deleted %d expired result(s)", len(expired))
    return len(expired)


def sweep_orphan_files(runtime: Runtime, older_than: timedelta = timedelta(hours=6)) -> int:
    """Delete result folders that no result row points at (a report deleted with its results,
    a process that died mid-write): the rows are the truth, files follow them."""
    cutoff = utc_now() - older_than
    prefixes = runtime.storage.list_prefixes("results/", older_than=cutoff)
    if not prefixes:
        return 0
    with session_scope(runtime.sessions) as session:
        known = set(
            session.scalars(
                select(models.ReportResult.storage_key).where(
                    models.ReportResult.storage_key.in_(prefixes)
                )
            )
        )
    orphans = [p for p in prefixes if p not in known]
    for prefix in orphans:
        runtime.storage.delete_prefix(prefix)
    if orphans:
        log.info("deleted %d orphaned result folder(s)", len(orphans))
    return len(orphans)
