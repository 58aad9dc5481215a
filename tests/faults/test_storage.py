"""Object storage down: the S3 emulator behind the fault proxy, dropped. ``/readyz`` says the
store does not answer; a generation then fails with an error that says so, leaving no result
and no object behind; once the store is back, the same process generates again.

Runbook: docs/operations.md, "Readiness failing: storage"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from broadsheet.config import Settings
from tests.factories import Caller
from tests.faults.conftest import MakeClient, MakeProxy, eventually
from tests.jobs.helpers import generate, wait

pytestmark = pytest.mark.faults
BUCKET = "broadsheet-faults"


def test_object_storage_down(
    fault_settings: Settings,
    admin: Caller,
    make_client: MakeClient,
    proxies: MakeProxy,
    endpoint: str,
    s3: Any,
) -> None:
    s3.create_bucket(Bucket=BUCKET)
    peer = urlparse(endpoint)
    proxy = proxies((peer.hostname or "127.0.0.1", peer.port or 80))
    settings = fault_settings.model_copy(
        update={
            "storage_url": f"s3://{BUCKET}/artifacts",
            "s3_endpoint_url": f"http://127.0.0.1:{proxy.port}",
        }
    )
    client = make_client(settings)
    created = client.post(
        "/api/v1/reports",
        json={"name": "Small", "category": "faults", "dataSource": "portfolio_analytics",
              "query": "SELECT 1 AS one, 'a' AS letter"},
        headers=admin.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert client.get("/readyz").status_code == 200

    proxy.drop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert "artifact store did not answer" in down.json()["checks"]["storage"]
    assert down.json()["checks"]["database"] == "ok"
    failed = wait(client, admin, generate(client, admin, rid, {})["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("could not store the result: the artifact store")
    assert results(client, admin, rid) == []  # nothing half-written is visible

    proxy.heal()
    eventually(lambda: client.get("/readyz").status_code == 200, 10, "storage back")
    assert objects(s3) == []  # and nothing half-written was left in the bucket
    done = wait(client, admin, generate(client, admin, rid, {})["id"])
    assert done["status"] == "completed", done
    (result,) = results(client, admin, rid)
    shown = client.get(f"/api/v1/reports/results/{result['id']}", headers=admin.headers)
    assert shown.status_code == 200
    assert shown.json()["data"]["rows"] == [{"one": 1, "letter": "a"}]
    assert objects(s3)  # the result's files are in the bucket


def results(client: TestClient, caller: Caller, rid: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/reports/{rid}/results", headers=caller.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def objects(s3: Any) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="artifacts/results/")
    return [item["Key"] for item in listed.get("Contents", [])]
