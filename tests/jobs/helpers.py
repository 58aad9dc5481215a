"""Helpers for generation tests: submit through the API and wait for the job to end."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import Caller

FINISHED = {"completed", "failed", "cancelled"}


def report_id(client: TestClient, caller: Caller, name: str) -> str:
    listed = client.get("/api/v1/reports", params={"q": name}, headers=caller.headers).json()
    return str(next(r["id"] for r in listed if r["name"] == name))


def generate(client: TestClient, caller: Caller, rid: str, params: dict[str, Any]) -> Any:
    response = client.post(f"/api/v1/reports/{rid}/generate", json=params, headers=caller.headers)
    assert response.status_code == 202, response.text
    return response.json()


def wait(client: TestClient, caller: Caller, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(
            f"/api/v1/reports/jobs/{job_id}", headers=caller.headers
        ).json()
        if job["status"] in FINISHED:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def run(client: TestClient, caller: Caller, rid: str, params: dict[str, Any]) -> dict[str, Any]:
    return wait(client, caller, generate(client, caller, rid, params)["id"])


def result(client: TestClient, caller: Caller, result_id: str, **params: Any) -> Any:
    response = client.get(
        f"/api/v1/reports/results/{result_id}", params=params, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    return response.json()
