"""A PostgreSQL NUMERIC without a declared precision becomes a double: one a double cannot
hold fails the job saying so and how to CAST it, never a result holding ``inf``."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body
from tests.jobs.helpers import result, run


@pytest.fixture
def admin(tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


def generate(client: TestClient, admin: Caller, sql: str) -> dict[str, object]:
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    added = client.post("/api/v1/datasources", json={"name": "pg", "url": url},
                        headers=admin.headers)  # fmt: skip
    assert added.status_code in (201, 409), added.text
    body = report_body(name=f"Numeric {abs(hash(sql))}", dataSource="pg", query=sql,
                       parameters=[], visualizations=[])  # fmt: skip
    created = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    return run(client, admin, created.json()["id"], {})


def test_a_numeric_past_a_doubles_range_fails_the_job_by_name(
    client: TestClient, admin: Caller
) -> None:
    job = generate(client, admin, "SELECT i, (repeat('9', 400) || '.5')::numeric * i AS n"
                   " FROM generate_series(1, 3) AS g(i)")  # fmt: skip
    assert job["status"] == "failed", job
    assert "column 'n' holds 1.000E+400, which a double cannot hold" in str(job["error"]), job
    assert "CAST it to NUMERIC(p, s)" in str(job["error"])


def test_ordinary_and_infinite_numerics_still_load(client: TestClient, admin: Caller) -> None:
    job = generate(client, admin, "SELECT 1.5::numeric / 3 AS n UNION ALL"
                   " SELECT 'Infinity'::numeric UNION ALL SELECT 1e300::numeric")  # fmt: skip
    assert job["status"] == "completed", job
    rows = result(client, admin, str(job["resultId"]))["data"]["rows"]
    values = [next(iter(r.values())) if isinstance(r, dict) else r[0] for r in rows]
    assert len(values) == 3
