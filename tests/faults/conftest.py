"""Fixtures of the fault tests: a throw-away PostgreSQL cluster (one per session, its migrated
template copied into a fresh database per test), throw-away Redis servers, fault proxies, and
the settings and API client of a Broadsheet on them."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import migrate, models
from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.db import make_engine, make_sessionmaker
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy
from tests.faults.proxy import FaultProxy
from tests.faults.servers import PostgresCluster, RedisServer, postgres_bin

TEMPLATE = "broadsheet_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL of the tests' own, which they may stop and start; a migrated template
    database in it makes each test's fresh database in a fraction of a second."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        service_missing("PostgreSQL's initdb and pg_ctl")
        raise AssertionError  # not reached: service_missing skips or fails
    try:
        cluster = PostgresCluster(bin_dir)
    except Exception as exc:  # no postgres user, no runuser: the programs cannot run here
        service_missing(f"a throw-away PostgreSQL cluster ({type(exc).__name__}: {exc})")
        raise
    try:
        cluster.start()
        migrate.upgrade(cluster.create_database(TEMPLATE))
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def meta_url(pg_cluster: PostgresCluster) -> str:
    """A fresh, migrated metadata database for this test."""
    return pg_cluster.create_database(f"faults_{next(_numbers)}", template=TEMPLATE)


@pytest.fixture
def meta_engine(meta_url: str) -> Iterator[Engine]:
    engine = make_engine(meta_url)
    yield engine
    engine.dispose()


@pytest.fixture
def meta_sessions(meta_engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(meta_engine)


@pytest.fixture
def fault_settings(shared_dir: Path, meta_url: str) -> Settings:
    """Broadsheet on the throw-away cluster, with the short periods of the other tests: jobs
    beat every 0.2 s and count as lost after 2 s; nothing runs on its own that a test has not
    asked for (no embedded scheduler, maintenance hourly unless a test says otherwise)."""
    return Settings(
        data_dir=shared_dir,
        database_url=meta_url,
        secret_key="test-secret-key-for-broadsheet",
        demo=False,
        migrate_on_start=False,
        heartbeat_seconds=0.2,
        job_stale_after_seconds=2,
        maintenance_seconds=3600,
        local_workers=2,
        scheduler_embedded=False,
        schedule_retry_base_seconds=0.01,
        schedule_max_retries=2,
        webhook_allow_private=True,
        webhook_allow_http=True,
    )


@pytest.fixture
def fault_tenancy(meta_sessions: sessionmaker[Session], fault_settings: Settings) -> Tenancy:
    return Tenancy(meta_sessions, fault_settings)


@pytest.fixture
def admin(fault_tenancy: Tenancy) -> Caller:
    """An admin of tenant ``acme``, which has the demo source and reports."""
    fault_tenancy.demo("acme")
    return fault_tenancy.key("acme")


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """``make_client(settings)``: an API client on an app started with those settings (its
    executor, maintenance and, if configured, scheduler running); all closed at the end."""
    opened: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings, prepare=False), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


MakeProxy = Callable[[tuple[str, int]], FaultProxy]


@pytest.fixture
def proxies() -> Iterator[MakeProxy]:
    """``proxies((host, port))``: a fault proxy in front of that address; all closed after."""
    made: list[FaultProxy] = []

    def make(target: tuple[str, int]) -> FaultProxy:
        proxy = FaultProxy(target)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        server.start()
    except (OSError, FileNotFoundError) as exc:
        service_missing(f"redis-server ({exc})")
    yield server
    server.kill()


# A query that keeps a job busy for about half a second on the demo source (SQLite), so
# faults can arrive while jobs run.
BUSY_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000) "
    "SELECT count(*) AS n FROM c"
)


def busy_report(client: TestClient, caller: Caller, name: str = "Busy") -> str:
    created = client.post(
        "/api/v1/reports",
        json={"name": name, "category": "faults", "dataSource": "portfolio_analytics",
              "query": BUSY_QUERY},
        headers=caller.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def job_rows(sessions: sessionmaker[Session], ids: list[str]) -> dict[str, models.ReportJob]:
    with sessions() as session:
        rows = session.scalars(
            select(models.ReportJob).where(models.ReportJob.id.in_([uuid.UUID(i) for i in ids]))
        ).all()
        return {str(row.id): row for row in rows}


def results_per_job(sessions: sessionmaker[Session], ids: list[str]) -> dict[str, int]:
    """How many result rows each job made: exactly one each, or a job ran twice (or never)."""
    counts = {i: 0 for i in ids}
    with sessions() as session:
        for job_id in session.scalars(select(models.ReportResult.job_id)):
            if str(job_id) in counts:
                counts[str(job_id)] += 1
    return counts


def eventually(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last: Exception | None = None
        try:
            value = check()
        except Exception as exc:  # a peer still coming back: ask again
            value, last = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last error: {last!r})")
        time.sleep(every)
