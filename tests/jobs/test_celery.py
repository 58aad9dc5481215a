"""The Celery path for real: `broadsheet worker` processes on the Redis server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.app import create_app
from broadsheet.config import Executor, Settings
from broadsheet.jobs.executors.celery_executor import QUEUES, CeleryExecutor
from broadsheet.jobs.maintenance import Maintenance
from broadsheet.runtime import Runtime
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import generate, report_id, wait


@pytest.fixture
def celery_settings(settings: Settings, redis_url: str) -> Settings:
    return settings.model_copy(
        update={
            "executor": Executor.celery,
            "broker_url": redis_url,
            "heartbeat_seconds": 0.3,
            "job_stale_after_seconds": 2,
        }
    )


class Workers:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "BROADSHEET_DATABASE_URL": self.settings.resolved_database_url,
            "BROADSHEET_SECRET_KEY": self.settings.secret_key,
            "BROADSHEET_DATA_DIR": str(self.settings.data_dir),
            "BROADSHEET_BROKER_URL": self.settings.broker_url,
            "BROADSHEET_EXECUTOR": "celery",
            "BROADSHEET_HEARTBEAT_SECONDS": str(self.settings.heartbeat_seconds),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "broadsheet", "worker", "--concurrency", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(celery_settings: Settings) -> Iterator[Workers]:
    pool = Workers(celery_settings)
    yield pool
    pool.stop()


@pytest.fixture
def celery_client(celery_settings: Settings, sessions: Any) -> Iterator[TestClient]:
    with TestClient(create_app(celery_settings, prepare=False)) as client:
        yield client


def test_worker_generates_a_report(
    celery_client: TestClient, tenancy: Tenancy, workers: Workers
) -> None:
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    workers.start()
    rid = report_id(celery_client, admin, "Monthly Performance Report")
    job = generate(celery_client, admin, rid, {"startDate": "2024-05-01", "endDate": "2024-05-31"})
    done = wait(celery_client, admin, job["id"], timeout=60)
    assert done["status"] == "completed", done
    assert done["attempts"] == 1


def test_jobs_go_to_their_priority_queue(
    celery_settings: Settings, redis_url: str, engine: Engine
) -> None:
    import redis

    executor = CeleryExecutor(Runtime.build(celery_settings, engine))
    executor.dispatch(uuid.uuid4(), "low")
    executor.dispatch(uuid.uuid4(), "high")
    executor.dispatch(uuid.uuid4(), "high")
    broker = redis.Redis.from_url(redis_url)
    assert broker.llen(QUEUES["low"]) == 1
    assert broker.llen(QUEUES["high"]) == 2
    broker.close()


def test_a_killed_worker_does_not_lose_its_job(
    celery_client: TestClient,
    celery_settings: Settings,
    tenancy: Tenancy,
    workers: Workers,
    sessions: sessionmaker[Session],
    engine: Engine,
) -> None:
    pg = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not pg:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    admin: Caller = tenancy.key("acme")
    celery_client.post("/api/v1/datasources", json={"name": "pg", "url": pg}, headers=admin.headers)
    created = celery_client.post(
        "/api/v1/reports",
        json={
            "name": "Slow",
            "category": "test",
            "dataSource": "pg",
            "query": "SELECT pg_sleep(3) AS slept, 42 AS answer",
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    first = workers.start()
    job = generate(celery_client, admin, created.json()["id"], {})

    deadline = time.monotonic() + 30
    while status(sessions, job["id"]) != "processing":
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    workers.start()

    runtime = Runtime.build(celery_settings, engine)
    maintenance = Maintenance(runtime, CeleryExecutor(runtime))
    deadline = time.monotonic() + 60
    while status(sessions, job["id"]) != "completed":
        assert time.monotonic() < deadline, status(sessions, job["id"])
        maintenance.run_once()  # what serve does every BROADSHEET_MAINTENANCE_SECONDS
        time.sleep(0.5)
    with sessions() as session:
        row = session.get(models.ReportJob, uuid.UUID(job["id"]))
        assert row is not None and row.attempts == 2 and row.result_id is not None


def status(sessions: sessionmaker[Session], job_id: str) -> str:
    with sessions() as session:
        row = session.get(models.ReportJob, uuid.UUID(job_id))
        assert row is not None
        return row.status
