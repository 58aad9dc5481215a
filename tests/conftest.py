"""Shared fixtures. API and repository tests run once on SQLite and once on PostgreSQL when
``BROADSHEET_TEST_DATABASE_URL`` is set; under ``BROADSHEET_REQUIRE_SERVICES=1`` a missing
service fails the run instead of skipping. Tests use that database as a data source; the
PostgreSQL metadata database is another one beside it (its name ending in ``_meta``), since
no source may name Broadsheet's own database."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import migrate
from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.datasources import demo_dataset
from broadsheet.db import make_engine, make_sessionmaker
from broadsheet.kit import dburl
from broadsheet.models import Base
from broadsheet.runtime import Runtime
from tests import factories
from tests.factories import Tenancy

# The S3 emulator's fixtures (fake_aws, endpoint, s3), for the tests that need S3.
pytest_plugins = ["tests.s3emulator"]

REQUIRE_SERVICES = os.environ.get("BROADSHEET_REQUIRE_SERVICES") == "1"


def _services_of_this_worker() -> None:
    """Under pytest-xdist each worker process gets databases of its own, so two workers never
    empty or migrate each other's: ``broadsheet_test`` becomes ``broadsheet_test_gw1`` (and
    its ``_meta`` beside it), MariaDB's ``test`` becomes ``test_gw1``, and Redis database 15
    becomes 14. Subprocesses (workers, ``serve``) inherit the rewritten variables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    index = int(worker.removeprefix("gw"))
    for name in ("BROADSHEET_TEST_DATABASE_URL", "BROADSHEET_TEST_MYSQL_URL"):
        if url := os.environ.get(name):
            parsed = make_url(url)
            own = parsed.set(database=f"{parsed.database}_{worker}")
            os.environ[name] = own.render_as_string(hide_password=False)
    if url := os.environ.get("BROADSHEET_TEST_REDIS_URL"):
        base, _, number = url.rpartition("/")
        os.environ["BROADSHEET_TEST_REDIS_URL"] = f"{base}/{(int(number or 0) - index) % 16}"


_services_of_this_worker()


def service_missing(what: str) -> None:
    """Skip, or fail when CI says every service must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (BROADSHEET_REQUIRE_SERVICES=1) but unavailable")
    pytest.skip(f"{what} not available")


# The day the tests' demo database is made: its data runs from late December 2023 to this
# day, so the dates tests ask for are inside it on whatever day they run (tests/test_demo.py
# checks the default, today).
DEMO_DAY = date(2025, 12, 31)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the session, so the demo database is generated once."""
    path = tmp_path_factory.mktemp("broadsheet")
    demo_dataset.build(
        Settings(data_dir=path).shared_sources_dir / f"{demo_dataset.SOURCE_NAME}.db", DEMO_DAY
    )
    return path


def _ensure_postgres_database(url: str) -> None:
    """Create the test database if it is missing."""
    target = dburl.normalize(url)
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}
            )
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def _ensure_mysql_database(url: str) -> None:
    target = dburl.normalize(url)
    admin = make_engine(
        target.set(database="information_schema").render_as_string(hide_password=False)
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{target.database}`"))
    finally:
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def source_databases() -> None:
    """The PostgreSQL and MariaDB test databases exist from the start: tests on the SQLite
    side use them as data sources, before any PostgreSQL-side test would have created them
    (and a pytest-xdist worker's own, above, are new)."""
    # A failure here is reported by the tests that need the database (skip, or fail in CI).
    for name, ensure in (
        ("BROADSHEET_TEST_DATABASE_URL", _ensure_postgres_database),
        ("BROADSHEET_TEST_MYSQL_URL", _ensure_mysql_database),
    ):
        if url := os.environ.get(name, ""):
            with contextlib.suppress(Exception):
                ensure(url)


def _fresh_postgres(url: str) -> None:
    """Create the test database if it is missing, and empty it if it is not."""
    _ensure_postgres_database(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def metadata_url(source_url: str) -> str:
    """The PostgreSQL metadata database the tests use: beside the source database, not it."""
    parsed = dburl.normalize(source_url)
    return parsed.set(database=f"{parsed.database}_meta").render_as_string(hide_password=False)


@pytest.fixture
def redis_url() -> str:
    """The test Redis database (``BROADSHEET_TEST_REDIS_URL``), emptied."""
    url = os.environ.get("BROADSHEET_TEST_REDIS_URL", "")
    if not url:
        service_missing("Redis (BROADSHEET_TEST_REDIS_URL)")
    import redis

    try:
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url} ({exc})")
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, shared_dir: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{shared_dir / 'metadata.db'}"
    else:
        source_url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
        if not source_url:
            service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
        url = metadata_url(source_url)
        try:
            _fresh_postgres(url)
        except Exception as exc:  # any connection failure means the service is missing
            service_missing(f"PostgreSQL at {url} ({type(exc).__name__})")
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A clean database for each test: every row of the last test is deleted first."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return make_sessionmaker(engine)


@pytest.fixture
def settings(database_url: str, shared_dir: Path) -> Settings:
    return Settings(
        data_dir=shared_dir,
        database_url=database_url,
        secret_key="test-secret-key-for-broadsheet",
        demo=False,
        migrate_on_start=False,
        max_body_bytes=64 * 1024,
        heartbeat_seconds=0.2,
        maintenance_seconds=3600,  # tests run maintenance themselves, when they mean to
        local_workers=2,
        scheduler_embedded=False,  # tests tick the scheduler themselves
        schedule_retry_base_seconds=0.01,
        schedule_max_retries=2,
        # Tests poll jobs and make many requests with one key; tests/test_rate_limits.py
        # sets the budgets it tests.
        rate_limit="100000/minute",
        rate_limit_generate="100000/minute",
    )


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(settings, prepare=False), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def runtime(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Runtime:
    """What a job needs, on the test database (for calling run_job directly)."""
    return Runtime.build(settings, engine)


@pytest.fixture
def tenancy(sessions: sessionmaker[Session], settings: Settings) -> Tenancy:
    return Tenancy(sessions, settings)


@pytest.fixture
def settings_dir_db(settings: Settings) -> Path:
    """The demo database file in the shared data dir (made on DEMO_DAY)."""
    return demo_dataset.build(settings.shared_sources_dir / f"{demo_dataset.SOURCE_NAME}.db")


class _Captured(logging.Handler):
    """Every record that reaches the root logger, formatted; checked against the planted
    secrets every few thousand lines and at the end, so memory stays small."""

    CHECK_EVERY = 5000

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.leaks: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is the test's own business
            return
        if len(self.lines) >= self.CHECK_EVERY:
            self.check()

    def check(self) -> None:
        text = "\n".join(self.lines)
        self.lines.clear()
        self.leaks.update(s for s in list(factories.PLANTED) if s in text)


@pytest.fixture(scope="session", autouse=True)
def no_planted_secret_in_the_logs() -> Iterator[None]:
    """The whole session's captured log lines show none of the secrets the tests planted
    (under pytest-xdist, each worker checks its own)."""
    captured = _Captured()
    root = logging.getLogger()
    root.addHandler(captured)
    yield
    root.removeHandler(captured)
    captured.check()
    assert not captured.leaks, f"{len(captured.leaks)} planted secret(s) reached a log line"


@pytest.fixture
def live_server(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[str]:
    """``create_app(settings)`` under uvicorn in a thread, on a free port, on the test's
    metadata database (so SQLite and PostgreSQL); seed data with ``tenancy``. Yields the base
    URL, e.g. ``http://127.0.0.1:41234``; the app's links name the port it really serves on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    app = create_app(settings.model_copy(update={"host": host, "port": port}), prepare=False)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
