"""BROADSHEET_TENANT_MAX_RUNNING_JOBS: one tenant's jobs wait, the others' run meanwhile."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.app import create_app
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.jobs import runner, tenant_slots
from broadsheet.jobs.service import job_fields
from broadsheet.models import JobStatus
from broadsheet.runtime import Runtime
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import generate, wait
from tests.jobs.test_celery import Workers, celery_settings  # noqa: F401
from tests.jobs.test_safety import pg_source, report

Job = models.ReportJob
SLOW = "SELECT pg_sleep(0.7) AS slept"


class Watcher:
    """Samples, every few milliseconds, how many jobs of each tenant are processing."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.most: Counter[uuid.UUID] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(0.01):
            with session_scope(self.sessions) as session:
                tenants = session.scalars(
                    select(Job.tenant_id).where(Job.status == JobStatus.processing)
                ).all()
            for tenant_id, running in Counter(tenants).items():
                self.most[tenant_id] = max(self.most[tenant_id], running)

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def tenant_of(sessions: sessionmaker[Session], caller: Caller) -> uuid.UUID:
    with session_scope(sessions) as session:
        tenant = auth.get_tenant(session, caller.tenant)
        assert tenant is not None
        return tenant.id


def slow_report(client: TestClient, caller: Caller) -> str:
    pg_source(client, caller, statementTimeoutSeconds=30)
    return report(client, caller, name="Slow", dataSource="pg", query=SLOW)


@pytest.fixture
def capped(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    four_threads = settings.model_copy(update={"local_workers": 4, "tenant_max_running_jobs": 2})
    with TestClient(create_app(four_threads, prepare=False), raise_server_exceptions=False) as c:
        yield c


def test_a_tenant_runs_at_most_its_cap_while_others_run(
    capped: TestClient, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    acme, globex = tenancy.key("acme"), tenancy.key("globex")
    acme_report, globex_report = slow_report(capped, acme), slow_report(capped, globex)
    with Watcher(sessions) as watcher:
        many = [generate(capped, acme, acme_report, {})["id"] for _ in range(5)]
        other = generate(capped, globex, globex_report, {})["id"]
        finished_other = wait(capped, globex, other)
        # The other tenant's job did not wait behind the five: acme still has some to run.
        with session_scope(sessions) as session:
            left = session.scalar(
                select(Job.id).where(
                    Job.id.in_([uuid.UUID(i) for i in many]), Job.status == JobStatus.queued
                )
            )
        assert left is not None
        finished = [wait(capped, acme, job_id) for job_id in many]
    assert finished_other["status"] == "completed"
    assert [job["status"] for job in finished] == ["completed"] * 5
    assert watcher.most[tenant_of(sessions, acme)] == 2  # in parallel, never more
    assert watcher.most[tenant_of(sessions, globex)] == 1


def queued_jobs(
    sessions: sessionmaker[Session], tenancy: Tenancy, tenant: str, count: int
) -> list[uuid.UUID]:
    """``count`` queued jobs of the tenant's first demo report, written straight to the table
    (no executor runs here: the test claims them itself)."""
    tenancy.demo(tenant)
    caller = tenancy.key(tenant)
    with session_scope(sessions) as session:
        principal = auth.authenticate(session, caller.key)
        assert principal is not None
        found = session.scalars(
            select(models.ReportDefinition).where(
                models.ReportDefinition.tenant_id == principal.tenant_id
            )
        ).first()
        assert found is not None
        jobs = [
            Job(**job_fields(found, {}, created_by=principal.user_id, priority="high"))
            for _ in range(count)
        ]
        session.add_all(jobs)
        session.flush()
        return [job.id for job in jobs]


def test_claims_at_once_never_pass_the_cap(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    runtime = Runtime.build(settings.model_copy(update={"tenant_max_running_jobs": 3}), engine)
    ids = queued_jobs(sessions, tenancy, "acme", 10)
    start = threading.Barrier(len(ids))
    tokens: list[int | None] = []

    def claim(job_id: uuid.UUID) -> None:
        start.wait()
        tokens.append(runner._claim(runtime, job_id))

    threads = [threading.Thread(target=claim, args=(job_id,)) for job_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(tokens, key=lambda t: t or 0) == [None] * 7 + [1] * 3
    with session_scope(sessions) as session:
        statuses = Counter(session.scalars(select(Job.status).where(Job.id.in_(ids))))
    assert statuses == {JobStatus.processing: 3, JobStatus.queued: 7}  # refused: still queued


def test_a_freed_slot_is_handed_on(
    settings: Settings, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    acme = queued_jobs(sessions, tenancy, "acme", 4)
    globex = queued_jobs(sessions, tenancy, "globex", 1)
    with session_scope(sessions) as session:
        session.execute(update(Job).where(Job.id.in_(acme[:2])).values(status=JobStatus.processing))
    with session_scope(sessions) as session:
        # The local executor's choice: none of acme's (at its cap of 2), globex's one.
        assert tenant_slots.startable(session, 2, 4, set()) == globex
        assert tenant_slots.startable(session, 3, 4, set()) == [acme[2], *globex]
        assert tenant_slots.waiting(session, 2, acme[0]) == []
        session.execute(update(Job).where(Job.id == acme[0]).values(status=JobStatus.completed))
    with session_scope(sessions) as session:
        # A Celery worker whose run ended sends the tenant's next one, one per free slot.
        assert tenant_slots.waiting(session, 2, acme[0]) == [(acme[2], "high")]
        assert tenant_slots.waiting(session, 3, acme[0]) == [(acme[2], "high"), (acme[3], "high")]


@pytest.fixture
def celery_capped(celery_settings: Settings) -> Settings:  # noqa: F811
    return celery_settings.model_copy(update={"tenant_max_running_jobs": 1})


def test_celery_workers_keep_to_the_cap(
    celery_capped: Settings,
    sessions: sessionmaker[Session],
    tenancy: Tenancy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real worker (concurrency 2) with a cap of one: a refused task is dropped and its job
    handed on when the tenant's run ends; the other tenant's job runs meanwhile."""
    monkeypatch.setenv("BROADSHEET_TENANT_MAX_RUNNING_JOBS", "1")  # the worker's setting
    workers = Workers(celery_capped)
    try:
        workers.start()
        app = create_app(celery_capped, prepare=False)
        with (
            TestClient(app, raise_server_exceptions=False) as client,
            Watcher(sessions) as watcher,
        ):
            acme, globex = tenancy.key("acme"), tenancy.key("globex")
            acme_report, globex_report = slow_report(client, acme), slow_report(client, globex)
            many = [generate(client, acme, acme_report, {})["id"] for _ in range(3)]
            other = generate(client, globex, globex_report, {})["id"]
            assert wait(client, globex, other, timeout=60)["status"] == "completed"
            finished = [wait(client, acme, job_id, timeout=60) for job_id in many]
        assert [job["status"] for job in finished] == ["completed"] * 3
        assert watcher.most[tenant_of(sessions, acme)] == 1
    finally:
        workers.stop()
