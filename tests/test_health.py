"""Health and readiness, the request id, and the OpenAPI document."""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Iterator
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.app import create_app
from broadsheet.config import Executor, Settings
from broadsheet.runtime import Runtime
from broadsheet.storage import Storage

SEED_SCHEMAS = {"ReportMetadata", "ReportDefinition", "ReportParameter", "Visualization"}


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    # The local executor needs no broker, so none is checked.
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}


class BrokenStorage:
    def exists(self, key: str) -> bool:
        raise OSError("the bucket does not answer")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_readiness_names_what_does_not_answer_with_a_503(client: TestClient) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    unreachable = create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/none",
        connect_args={"connect_timeout": 2},
    )
    broken = dataclasses.replace(
        runtime, engine=unreachable, storage=cast(Storage, BrokenStorage())
    )
    client.app.state.runtime = broken  # type: ignore[attr-defined]
    try:
        answer = client.get("/readyz")
    finally:
        client.app.state.runtime = runtime  # type: ignore[attr-defined]
        unreachable.dispose()
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("OperationalError")
    assert body["checks"]["storage"] == "OSError: the bucket does not answer"
    assert client.get("/readyz").status_code == 200  # back when they answer again


@dataclasses.dataclass(frozen=True)
class Broker:
    url: str
    up: bool


@pytest.fixture(params=[True, False], ids=["broker-up", "broker-down"])
def broker(request: pytest.FixtureRequest, redis_url: str) -> Broker:
    up = bool(request.param)
    return Broker(redis_url if up else f"redis://127.0.0.1:{closed_port()}/0", up)


@pytest.fixture
def celery_client(
    settings: Settings, sessions: sessionmaker[Session], broker: Broker
) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"executor": Executor.celery, "broker_url": broker.url})
    with TestClient(create_app(configured, prepare=False), raise_server_exceptions=False) as c:
        yield c


def test_with_celery_the_broker_is_checked_too(celery_client: TestClient, broker: Broker) -> None:
    answer = celery_client.get("/readyz")
    checks = answer.json()["checks"]
    assert set(checks) == {"database", "storage", "broker"}
    assert checks["database"] == "ok" and checks["storage"] == "ok"
    if broker.up:
        assert answer.status_code == 200 and checks["broker"] == "ok"
    else:
        assert answer.status_code == 503 and checks["broker"].startswith("OperationalError")


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    made = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz").headers["x-request-id"] != made  # one per request
    kept = client.get("/api/v1/reports", headers={"X-Request-ID": "lb-7f3a.42:1"})
    assert kept.status_code == 401 and kept.headers["x-request-id"] == "lb-7f3a.42:1"
    for unusable in ("has space", "x" * 129, "semi;colon", ""):
        answer = client.get("/healthz", headers={"X-Request-ID": unusable})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), unusable
    # A body refused before any parsing (413) carries it too, and only once.
    big = client.post("/api/v1/reports", content=b"x" * 10, headers={"Content-Length": str(10**9)})
    assert big.status_code == 413 and len(big.headers.get_list("x-request-id")) == 1


def test_openapi_describes_every_endpoint_with_seed_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/v1/reports"]) == {"get", "post"}
    assert set(paths["/api/v1/reports/{reportId}"]) == {"get", "put", "delete"}
    assert set(paths["/api/v1/datasources/{sourceId}"]) == {"get", "put", "delete"}
    assert "post" in paths["/api/v1/datasources/{sourceId}/test"]
    schemas = set(spec["components"]["schemas"])
    assert {"ReportMetadata", "ReportDefinition", "Problem"} <= schemas
    listing = paths["/api/v1/reports"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"category", "timeframe", "tag", "q", "limit", "offset"} <= names
    created = paths["/api/v1/reports"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/ReportMetadata")
    assert "422" in paths["/api/v1/reports"]["post"]["responses"]


def test_docs_page_is_served(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()
