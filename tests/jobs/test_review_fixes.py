"""Hard cases found in review: each was a way to lose data, leak files or run a job twice."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.jobs import recovery, runner
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body
from tests.jobs.helpers import generate, result, run


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def source(client: TestClient, admin: Caller, name: str, url: str, **extra: Any) -> Any:
    return client.post(
        "/api/v1/datasources", json={"name": name, "url": url, **extra}, headers=admin.headers
    )


def report(client: TestClient, admin: Caller, **fields: Any) -> str:
    body = report_body(**{"parameters": [], "visualizations": [], "layout": None, **fields})
    response = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("duckdb:///:memory:?enable_external_access=true", "enable_external_access"),
        ("mysql://u:p@db.example/x?local_infile=1", "local_infile"),
        ("postgresql://postgres@/postgres?host=/var/run/postgresql", "host"),
        ("postgresql://postgres@/postgres", "host"),
    ],
)
def test_url_options_that_reach_local_files_are_refused(
    client: TestClient, admin: Caller, url: str, words: str
) -> None:
    response = source(client, admin, "x", url)
    assert response.status_code == 422, response.text
    assert words in response.json()["errors"][0]["message"]


def test_a_tenant_cannot_open_another_tenants_files(
    client: TestClient, admin: Caller, tenancy: Tenancy, settings: Settings
) -> None:
    import sqlite3

    theirs = settings.sources_dir / "tenants" / "globex" / "secret.db"
    theirs.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(theirs).close()
    refused = source(client, admin, "peek", f"sqlite:///{theirs}")
    assert refused.status_code == 422 and "tenant" in refused.json()["errors"][0]["message"]
    globex = tenancy.key("globex")
    own = source(client, globex, "mine", f"sqlite:///{theirs}")
    assert own.status_code == 201, own.text


def test_duplicate_column_names_are_kept_apart(client: TestClient, admin: Caller) -> None:
    rid = report(
        client,
        admin,
        name="Dupes",
        query="SELECT 1 AS x, 2 AS y, 3 AS y",
        visualizations=[{"id": "b", "type": "bar", "dataMapping": {"x": "x", "y": "y"}}],
    )
    job = run(client, admin, rid, {})
    assert job["status"] == "completed", job
    body = result(client, admin, job["resultId"])
    assert [c["name"] for c in body["data"]["columns"]] == ["x", "y", "y_2"]
    assert body["data"]["rows"] == [{"x": 1, "y": 2, "y_2": 3}]
    assert not body["visualizations"][0].get("error")


def test_a_query_ending_in_a_comment_can_be_saved(client: TestClient, admin: Caller) -> None:
    report(client, admin, name="Commented", query="SELECT 1 AS x -- the answer")


def test_nul_in_a_parameter_is_a_422(client: TestClient, admin: Caller) -> None:
    rid = report(
        client,
        admin,
        name="Echo",
        query="SELECT :t AS t",
        parameters=[{"name": "t", "label": "T", "type": "string"}],
    )
    response = client.post(
        f"/api/v1/reports/{rid}/generate", json={"t": "a\u0000b"}, headers=admin.headers
    )
    assert response.status_code == 422 and "NUL" in response.text


def test_a_run_that_lost_its_job_cannot_change_it(
    tenancy: Tenancy, sessions: sessionmaker[Session], runtime: Runtime, client: TestClient
) -> None:
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    listed = client.get("/api/v1/reports", params={"q": "Usage"}, headers=admin.headers).json()
    job = generate(
        client, admin, listed[0]["id"], {"startDate": "2024-01-01", "endDate": "2024-01-07"}
    )
    job_id = uuid.UUID(job["id"])
    # Let the executor finish it, then pretend an old run (token 0) comes back late.
    deadline = time.monotonic() + 20
    while (
        client.get(f"/api/v1/reports/jobs/{job_id}", headers=admin.headers).json()["status"]
        != "completed"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert runner._fail(runtime, job_id, 0, "late and wrong") == "completed"
    with sessions() as session:
        row = session.get(models.ReportJob, job_id)
        assert row is not None and row.error is None


def test_stale_run_tokens(
    tenancy: Tenancy, sessions: sessionmaker[Session], runtime: Runtime, settings: Settings
) -> None:
    from tests.jobs.test_recovery import queue_job

    tenancy.demo("acme")
    job_id = queue_job(sessions, settings)
    first = runner._claim(runtime, job_id)
    assert first == 1
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportJob)
            .where(models.ReportJob.id == job_id)
            .values(
                heartbeat_at=utc_now() - timedelta(seconds=settings.job_stale_after_seconds + 1)
            )
        )
    assert recovery.recover_stale(runtime) == [(job_id, "high")]
    second = runner._claim(runtime, job_id)
    assert second == 2
    assert runner._fail(runtime, job_id, first, "the first run's late failure") == "processing"
    assert runner._fail(runtime, job_id, second, "the current run's failure") == "failed"


def test_lost_dispatches_are_resent_once_per_period(
    tenancy: Tenancy, sessions: sessionmaker[Session], runtime: Runtime, settings: Settings
) -> None:
    from tests.jobs.test_recovery import queue_job

    tenancy.demo("acme")
    job_id = queue_job(sessions, settings)
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportJob)
            .where(models.ReportJob.id == job_id)
            .values(created_at=utc_now() - timedelta(minutes=30))
        )
    assert recovery.queued_waiting(runtime, 60) == [(job_id, "high")]
    assert recovery.queued_waiting(runtime, 60) == []  # stamped: not again this period


def test_orphaned_result_folders_are_swept(
    client: TestClient, admin: Caller, runtime: Runtime, settings: Settings
) -> None:
    rid = report(client, admin, name="Kept", query="SELECT 1 AS x")
    kept = run(client, admin, rid, {})["resultId"]
    root = Path(settings.resolved_storage_url.removeprefix("file://"), "results")
    orphan = root / str(uuid.uuid4())
    orphan.mkdir(parents=True)
    (orphan / "main.parquet").write_bytes(b"left behind")
    past = time.time() - 7 * 3600
    for folder in (orphan, root / kept):
        os.utime(folder, (past, past))
    # At least this one: the storage folder is shared by the SQLite and PostgreSQL runs, so
    # the other database's old folders are orphans here too.
    assert recovery.sweep_orphan_files(runtime) >= 1
    assert not orphan.exists() and (root / kept).exists()


def test_heartbeat_must_fit_the_stale_period() -> None:
    with pytest.raises(ValidationError, match="a third"):
        Settings(heartbeat_seconds=30, job_stale_after_seconds=60, secret_key="x")


def test_shutdown_puts_running_jobs_back_in_the_queue(
    settings: Settings, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    admin = tenancy.key("acme")
    with TestClient(create_app(settings, prepare=False)) as client:
        assert source(client, admin, "pg", url).status_code == 201
        rid = report(client, admin, name="Slow", dataSource="pg", query="SELECT pg_sleep(30) AS s")
        job = generate(client, admin, rid, {})
        deadline = time.monotonic() + 10
        while (
            client.get(f"/api/v1/reports/jobs/{job['id']}", headers=admin.headers).json()["status"]
            != "processing"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 10  # the query was interrupted, not waited for
    with sessions() as session:
        row = session.get(models.ReportJob, uuid.UUID(job["id"]))
        assert row is not None and row.status == "queued" and row.attempts == 1


def test_mysql_guard_timeout_and_cancel(client: TestClient, admin: Caller) -> None:
    url = os.environ.get("BROADSHEET_TEST_MYSQL_URL", "")
    if not url:
        service_missing("MariaDB (BROADSHEET_TEST_MYSQL_URL)")
    assert source(client, admin, "maria", url, statementTimeoutSeconds=2).status_code == 201
    hidden = client.post(
        "/api/v1/reports",
        json=report_body(
            dataSource="maria",
            parameters=[],
            visualizations=[],
            query="SELECT 1 /*!INTO OUTFILE '/tmp/x'*/",
        ),
        headers=admin.headers,
    )
    assert hidden.status_code == 422 and "executable comments" in hidden.text
    # Described with the sample value 1 (a one-second sleep); run with 5.
    slow = report(
        client,
        admin,
        name="Sleepy",
        dataSource="maria",
        query="SELECT SLEEP(:n) AS s",
        parameters=[{"name": "n", "label": "N", "type": "number"}],
    )
    started = time.monotonic()
    job = run(client, admin, slow, {"n": 5})
    assert job["status"] == "failed" and "longer than 2 s" in job["error"], job
    assert time.monotonic() - started < 4.5
