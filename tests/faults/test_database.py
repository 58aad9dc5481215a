"""PostgreSQL, the metadata database, restarted under load: API calls answer 503
``problem+json`` (never 500) and ``/readyz`` 503 while it is down; once it is back, the same
process serves again (pool pre-ping) and every job submitted ends completed, once.

Runbook: docs/operations.md, "Readiness failing: the database"."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from tests.factories import Caller
from tests.faults.conftest import (
    MakeClient,
    MakeProxy,
    busy_report,
    eventually,
    job_rows,
    results_per_job,
)
from tests.faults.servers import PostgresCluster

pytestmark = pytest.mark.faults
JOBS = 6


class Load:
    """API reads in a loop on a thread of its own, each answer's status and media type kept."""

    def __init__(self, client: TestClient, caller: Caller) -> None:
        self.client = client
        self.caller = caller
        self.answers: list[tuple[int, str]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self.thread.join(30)

    def _run(self) -> None:
        while not self.stopping.is_set():
            answer = self.client.get("/api/v1/reports", headers=self.caller.headers)
            self.answers.append((answer.status_code, answer.headers.get("content-type", "")))
            self.stopping.wait(0.02)

    def seen(self, status: int) -> int:
        return sum(1 for code, _ in self.answers if code == status)


def test_postgresql_restarted_under_load(
    pg_cluster: PostgresCluster,
    fault_settings: Settings,
    meta_sessions: sessionmaker[Session],
    admin: Caller,
    make_client: MakeClient,
) -> None:
    # Maintenance every half second: recovery finds the runs the outage cut off by itself.
    settings = fault_settings.model_copy(update={"maintenance_seconds": 0.5})
    client = make_client(settings)
    rid = busy_report(client, admin)
    ids = []
    for _ in range(JOBS):
        answer = client.post(f"/api/v1/reports/{rid}/generate", json={}, headers=admin.headers)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    eventually(
        lambda: any(j.status == "processing" for j in job_rows(meta_sessions, ids).values()),
        15, "a job running",
    )  # fmt: skip

    with Load(client, admin) as load:
        eventually(lambda: load.seen(200), 10, "the load answered")
        pg_cluster.stop()
        try:
            eventually(lambda: load.seen(503), 10, "a 503 while the database is down")
            down = client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["database"] != "ok"
            assert down.json()["checks"]["storage"] == "ok"
            refused = client.get(f"/api/v1/reports/{rid}", headers=admin.headers)
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["retry-after"]
            assert refused.json()["status"] == 503
        finally:
            pg_cluster.start()
        # The same process, not restarted: ready again, and serving.
        eventually(lambda: client.get("/readyz").status_code == 200, 15, "ready again")
        served = load.seen(200)
        eventually(lambda: load.seen(200) > served, 10, "API calls answered again")

    statuses = Counter(code for code, _ in load.answers)
    assert set(statuses) <= {200, 503}, statuses  # never a 500
    assert all(kind == "application/problem+json" for code, kind in load.answers if code == 503)

    def all_ended() -> bool:
        rows = job_rows(meta_sessions, ids).values()
        return all(row.status in ("completed", "failed") for row in rows)

    eventually(all_ended, 30, "every job ended")
    rows = job_rows(meta_sessions, ids)
    assert {row.status for row in rows.values()} == {"completed"}, {
        i: (r.status, r.error) for i, r in rows.items()
    }
    assert all(row.attempts <= settings.job_max_attempts for row in rows.values())
    assert results_per_job(meta_sessions, ids) == dict.fromkeys(ids, 1)  # none lost, none twice


def test_readiness_answers_in_time_while_the_database_hangs(
    fault_settings: Settings, meta_url: str, make_client: MakeClient, proxies: MakeProxy
) -> None:
    """A database that takes connections but never answers (a stalled network, a frozen
    server) fails the readiness check within its three seconds, instead of holding the probe;
    once it answers again, so does the check."""
    target = make_url(meta_url)
    proxy = proxies((target.host or "127.0.0.1", target.port or 5432))
    through = target.set(host="127.0.0.1", port=proxy.port)
    settings = fault_settings.model_copy(
        update={"database_url": through.render_as_string(hide_password=False)}
    )
    client = make_client(settings)
    assert client.get("/readyz").json()["checks"]["database"] == "ok"
    proxy.stall()
    started = time.monotonic()
    hung = client.get("/readyz")
    took = time.monotonic() - started
    assert hung.status_code == 503, hung.text
    assert hung.json()["checks"] == {"database": "no answer within 3 s", "storage": "ok"}
    assert took < 5, f"the probe took {took:.1f} s"
    proxy.heal()
    eventually(lambda: client.get("/readyz").status_code == 200, 15, "the database back")
