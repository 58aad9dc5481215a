"""``/metrics`` scraped for real and parsed with prometheus-client's own parser: what requests,
a generated job, a scheduled fire, a scheduler tick and a delivery change; who may read it;
and that labels never carry ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from broadsheet import cli
from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.deliveries import service as deliveries
from broadsheet.jobs.executors import make_executor
from broadsheet.metrics import server
from broadsheet.runtime import Runtime
from broadsheet.schedules import ticker
from broadsheet.schedules.scheduler import Scheduler
from tests.deliveries.httpserver import Recorded, RecordingServer, Reply
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id, run
from tests.schedules.test_ticker import create, executions_of, set_next_run, settle
from tests.serving import free_port

TOKEN = "metrics-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
USAGE = {"startDate": "2024-01-01", "endDate": "2024-01-07"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metered(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": TOKEN})


@pytest.fixture
def client(metered: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(metered, prepare=False), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def test_not_served_without_the_setting(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """Unset: /metrics answers as a path that does not exist, whatever the caller sends."""
    with TestClient(create_app(settings, prepare=False)) as plain:
        absent = plain.get("/no-such-path")
        for headers in ({}, BEARER):
            answer = plain.get("/metrics", headers=headers)
            assert answer.status_code == 404
            assert answer.headers["content-type"] == absent.headers["content-type"]
            assert answer.text == absent.text


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN]
)
def test_a_missing_or_wrong_token_is_401(client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 401 and "BROADSHEET_METRICS_TOKEN" in answer.json()["detail"]
    assert TOKEN not in answer.text


def test_not_in_the_api_description(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_requests_are_counted_by_route_template_never_by_id(
    client: TestClient, admin: Caller
) -> None:
    before = scrape(client)
    unknown = uuid.uuid4()
    for _ in range(3):
        assert client.get(f"/api/v1/reports/{unknown}", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/reports", headers=admin.headers).status_code == 200
    assert client.get(f"/no/such/{unknown}").status_code == 404
    assert client.request("BREW", "/healthz").status_code == 405
    after = scrape(client)
    count = "broadsheet_http_requests_total"
    one = {"route": "/api/v1/reports/{reportId}", "method": "GET"}
    assert value(after, count, **one, status="404") - value(before, count, **one, status="404") == 3
    listed = {"route": "/api/v1/reports", "method": "GET", "status": "200"}
    assert value(after, count, **listed) - value(before, count, **listed) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 1
    # A made-up method adds no series of its own.
    brewed = {"route": "/healthz", "method": "other", "status": "405"}
    assert value(after, count, **brewed) - value(before, count, **brewed) == 1
    timed = "broadsheet_http_request_duration_seconds_count"
    route = "/api/v1/reports/{reportId}"
    assert value(after, timed, route=route) - value(before, timed, route=route) == 3
    labels = {v for (_, pairs) in after for (_, v) in pairs}
    assert not [v for v in labels if str(unknown) in v or str(admin.tenant) in v]


def test_a_generated_job_is_counted_and_its_phases_timed(client: TestClient, admin: Caller) -> None:
    before = scrape(client)
    job = run(client, admin, report_id(client, admin, "Usage Summary"), USAGE)
    assert job["status"] == "completed", job
    exported = client.get(
        f"/api/v1/reports/results/{job['resultId']}/export",
        params={"format": "csv"},
        headers=admin.headers,
    )
    assert exported.status_code == 200
    after = scrape(client)
    ended = {"status": "completed", "executor": "local", "trigger": "api"}
    jobs = "broadsheet_jobs_total"
    assert value(after, jobs, **ended) - value(before, jobs, **ended) == 1
    phases = "broadsheet_job_phase_seconds_count"
    for phase in ("query", "store", "render", "export"):
        assert value(after, phases, phase=phase) - value(before, phases, phase=phase) >= 1, phase
    assert value(after, "broadsheet_job_phase_seconds_sum", phase="query") > 0
    # Read from the database at scrape time: nothing waits, the result's files are counted.
    assert value(after, "broadsheet_jobs_waiting") == 0
    assert value(after, "broadsheet_stored_bytes") > value(before, "broadsheet_stored_bytes")
    labels = {v for (_, pairs) in after for (_, v) in pairs}
    assert not [v for v in labels if job["id"] in v or job["resultId"] in v]


def test_a_scheduled_fire_records_its_lag_and_run_now_does_not(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    schedule = create(client, admin)
    before = scrape(client)
    due = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
    set_next_run(sessions, schedule["id"], due)
    assert len(ticker.tick(runtime, due + timedelta(seconds=7))) == 1
    ran = client.post(f"/api/v1/schedules/{schedule['id']}/run", headers=admin.headers)
    assert ran.status_code in (200, 201, 202), ran.text
    after = scrape(client)
    lag = "broadsheet_fire_lag_seconds"
    assert value(after, f"{lag}_count") - value(before, f"{lag}_count") == 1
    assert value(after, f"{lag}_sum") - value(before, f"{lag}_sum") == pytest.approx(7)
    le_5 = value(after, f"{lag}_bucket", le="5.0") - value(before, f"{lag}_bucket", le="5.0")
    le_10 = value(after, f"{lag}_bucket", le="10.0") - value(before, f"{lag}_bucket", le="10.0")
    assert (le_5, le_10) == (0, 1)


def test_a_scheduler_tick_is_timed(client: TestClient, runtime: Runtime) -> None:
    before = scrape(client)
    Scheduler(runtime, make_executor(runtime)).run_once()
    after = scrape(client)
    ticks = "broadsheet_scheduler_tick_seconds_count"
    assert value(after, ticks) - value(before, ticks) == 1


def test_deliveries_are_counted_by_channel_and_outcome(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    metered: Settings,
    engine: Engine,
) -> None:
    """A real receiver on loopback: /ok takes the report, /gone answers 404 (final)."""
    runtime = Runtime.build(
        metered.model_copy(update={"webhook_allow_private": True, "webhook_allow_http": True}),
        engine,
    )

    def respond(request: Recorded) -> Reply:
        return Reply(404 if request.path == "/gone" else 204)

    before = scrape(client)
    with RecordingServer(respond) as receiver:
        recipients = [
            {"type": "webhook", "address": f"{receiver.url}/ok"},
            {"type": "webhook", "address": f"{receiver.url}/gone"},
        ]
        schedule = create(client, admin, recipients=recipients)
        set_next_run(sessions, schedule["id"], datetime(2024, 5, 6, 14, 0, tzinfo=UTC))
        ticker.tick(runtime, datetime(2024, 5, 6, 14, 0, 5, tzinfo=UTC))
        (execution,) = executions_of(sessions, schedule["id"])
        assert settle(runtime, sessions, execution.id) == "completed"
        assert deliveries.advance(runtime) == 2
    after = scrape(client)
    sent = {"channel": "webhook", "status": "sent"}
    failed = {"channel": "webhook", "status": "failed"}
    total = "broadsheet_deliveries_total"
    assert value(after, total, **sent) - value(before, total, **sent) == 1
    assert value(after, total, **failed) - value(before, total, **failed) == 1
    labels = {v for (_, pairs) in after for (_, v) in pairs}
    assert not [v for v in labels if receiver.url in v or str(execution.id) in v]


def test_the_metrics_port_of_worker_and_scheduler(
    runtime: Runtime, sessions: sessionmaker[Session]
) -> None:
    """What ``--metrics-port`` starts: the same token, the same metrics, the database's gauges."""
    port = free_port()
    served = server.start("127.0.0.1", port, TOKEN, runtime.sessions)
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/metrics").status_code == 401
        wrong = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["content-type"] == "application/problem+json"
        assert httpx.get(f"{base}/other", headers=BEARER).status_code == 404
        answer = httpx.get(f"{base}/metrics", headers=BEARER)
        assert answer.status_code == 200
        samples = parse(answer.text)
        assert ("broadsheet_jobs_waiting", frozenset()) in samples
        assert any(name.startswith("broadsheet_scheduler_tick_seconds") for name, _ in samples)
    finally:
        served.shutdown()
        served.server_close()
    closed = server.start("127.0.0.1", port, "", None)
    try:
        assert httpx.get(f"{base}/metrics", headers=BEARER).status_code == 404
    finally:
        closed.shutdown()
        closed.server_close()


@pytest.mark.parametrize("command", ["scheduler", "worker"])
def test_a_metrics_port_needs_the_token(command: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli.app,
        [command, "--metrics-port", str(free_port())],
        env={"BROADSHEET_DATA_DIR": str(tmp_path), "BROADSHEET_METRICS_TOKEN": ""},
    )
    assert result.exit_code == 1
    assert "--metrics-port needs BROADSHEET_METRICS_TOKEN" in result.output
