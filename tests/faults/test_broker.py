"""The broker restarted under a real Celery worker: Redis killed (and with it every message it
held, as it keeps nothing on disk) and started again on its port. Work queued before and
during the outage still runs, once each: the database is the queue of record, and maintenance
dispatches again what waited too long. RabbitMQ going away through the fault proxy turns
``/readyz`` to 503 naming the broker, and back.

Runbook: docs/operations.md, "Readiness failing: the broker"."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Executor, Settings
from tests.conftest import service_missing
from tests.factories import Caller
from tests.faults.conftest import (
    MakeClient,
    MakeProxy,
    busy_report,
    eventually,
    job_rows,
    results_per_job,
)
from tests.faults.servers import RedisServer
from tests.jobs.test_celery import Workers

pytestmark = pytest.mark.faults
RABBITMQ = ("127.0.0.1", 5672)


def test_redis_restarted_under_a_worker(
    fault_settings: Settings,
    redis_server: RedisServer,
    meta_sessions: sessionmaker[Session],
    admin: Caller,
    make_client: MakeClient,
) -> None:
    settings = fault_settings.model_copy(
        update={
            "executor": Executor.celery,
            "broker_url": redis_server.url,
            # Maintenance every half second: a job queued 5 x 2 s ago is dispatched again.
            "maintenance_seconds": 0.5,
        }
    )
    client = make_client(settings)
    workers = Workers(settings)
    try:
        workers.start()
        rid = busy_report(client, admin)

        def generate() -> str:
            answer = client.post(f"/api/v1/reports/{rid}/generate", json={},
                                 headers=admin.headers)  # fmt: skip
            assert answer.status_code == 202, answer.text
            return str(answer.json()["id"])

        def ended(ids: list[str]) -> bool:
            rows = job_rows(meta_sessions, ids).values()
            return all(row.status in ("completed", "failed") for row in rows)

        before = [generate() for _ in range(3)]  # in Redis, or running, when it dies
        eventually(lambda: job_rows(meta_sessions, before[:1])[before[0]].status != "queued",
                   60, "the worker took the first job")  # fmt: skip
        redis_server.kill()
        down = client.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"]["broker"] != "ok"
        during = [generate() for _ in range(2)]  # committed; their dispatch fails
        redis_server.start()
        eventually(lambda: client.get("/readyz").status_code == 200, 10, "the broker back")
        ids = before + during
        eventually(lambda: ended(ids), 40, "every job ended")
    finally:
        workers.stop()
    rows = job_rows(meta_sessions, ids)
    assert {row.status for row in rows.values()} == {"completed"}, {
        i: (r.status, r.error) for i, r in rows.items()
    }
    assert results_per_job(meta_sessions, ids) == dict.fromkeys(ids, 1)  # none lost, none twice


def test_rabbitmq_gone_and_back(
    fault_settings: Settings,
    make_client: MakeClient,
    proxies: MakeProxy,
) -> None:
    try:
        socket.create_connection(RABBITMQ, timeout=2).close()
    except OSError as exc:
        service_missing(f"RabbitMQ at {RABBITMQ} ({exc})")
    proxy = proxies(RABBITMQ)
    settings = fault_settings.model_copy(
        update={
            "executor": Executor.celery,
            "broker_url": f"amqp://guest:guest@127.0.0.1:{proxy.port}//",
        }
    )
    client = make_client(settings)
    assert client.get("/readyz").json()["checks"]["broker"] == "ok"
    proxy.drop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert "refused" in down.json()["checks"]["broker"].lower()
    assert down.json()["checks"]["database"] == "ok"
    proxy.heal()
    eventually(lambda: client.get("/readyz").status_code == 200, 10, "the broker back")
