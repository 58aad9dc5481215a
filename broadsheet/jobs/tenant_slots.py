"""``BROADSHEET_TENANT_MAX_RUNNING_JOBS``: how many of one tenant's jobs may process at once.

A claim (queued → processing) is refused while the tenant has that many processing; the job
stays queued, so nothing fails and nothing is lost. Who picks a refused job up again:

* the local executor asks only for jobs whose tenant has a free slot (``startable``), and
  looks again whenever one of its runs ends (and every second, for other processes' runs);
* a Celery worker that ends a run sends the tenant's next waiting jobs (``waiting``), one
  per free slot; a refused task is simply dropped, since its job is still queued and the
  run that holds the slot hands it on. Maintenance re-sends jobs queued for long as a last
  resort (a slot held by ``broadsheet run``, which hands nothing on).

On PostgreSQL the claim holds a per-tenant advisory lock while it counts, so claims in
several processes cannot together pass the cap.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Subquery, case, func, select
from sqlalchemy.orm import Session, aliased

from broadsheet import models
from broadsheet.kit.tenant_lock import lock_tenant
from broadsheet.models import JobStatus

Job = models.ReportJob
CLAIM_LOCK = 0x42536A62  # 'BSjb': this module's advisory locks


def first_served() -> tuple[ColumnElement[int], ColumnElement[object]]:
    """The order jobs start in: on-demand before scheduled, oldest first."""
    return case((Job.priority == "high", 0), else_=1), Job.created_at  # type: ignore[return-value]


def has_room(cap: int) -> ColumnElement[bool]:
    """For an UPDATE of a job: its tenant has fewer than ``cap`` jobs processing."""
    other = aliased(Job)
    processing = (
        select(func.count())
        .select_from(other)
        .where(other.tenant_id == Job.tenant_id, other.status == JobStatus.processing)
        .scalar_subquery()
    )
    return processing < cap


def prepare_claim(session: Session, job_id: uuid.UUID) -> bool:
    """Take the job's tenant's claim lock (PostgreSQL); False when the job is not queued."""
    tenant_id = session.scalar(
        select(Job.tenant_id).where(Job.id == job_id, Job.status == JobStatus.queued)
    )
    if tenant_id is None:
        return False
    lock_tenant(session, CLAIM_LOCK, tenant_id)
    return True


def _processing() -> Subquery:
    return (
        select(Job.tenant_id, func.count().label("running"))
        .where(Job.status == JobStatus.processing)
        .group_by(Job.tenant_id)
        .subquery()
    )


def startable(session: Session, cap: int, free: int, skip: set[uuid.UUID]) -> list[uuid.UUID]:
    """Up to ``free`` queued jobs, first served first, none of a tenant past its free slots
    (so a tenant with many jobs waiting does not fill every thread with refused claims)."""
    running = _processing()
    order = first_served()
    ranked = (
        select(
            Job.id,
            Job.tenant_id,
            order[0].label("rank"),
            Job.created_at,
            func.row_number().over(partition_by=Job.tenant_id, order_by=order).label("nth"),
        )
        .where(Job.status == JobStatus.queued, Job.id.not_in(skip))
        .subquery()
    )
    taken = func.coalesce(running.c.running, 0)
    return list(
        session.scalars(
            select(ranked.c.id)
            .outerjoin(running, running.c.tenant_id == ranked.c.tenant_id)
            .where(ranked.c.nth + taken <= cap)
            .order_by(ranked.c.rank, ranked.c.created_at)
            .limit(free)
        )
    )


def waiting(session: Session, cap: int, job_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """After ``job_id`` ran: its tenant's next queued jobs, one per free slot, to send on."""
    tenant_id = session.scalar(select(Job.tenant_id).where(Job.id == job_id))
    if tenant_id is None:
        return []
    running = session.scalar(
        select(func.count()).where(Job.tenant_id == tenant_id, Job.status == JobStatus.processing)
    )
    free = cap - (running or 0)
    if free <= 0:
        return []
    rows = session.execute(
        select(Job.id, Job.priority)
        .where(Job.tenant_id == tenant_id, Job.status == JobStatus.queued)
        .order_by(*first_served())
        .limit(free)
    )
    return [(row.id, row.priority) for row in rows]
