"""Generating reports end to end on the demo data, through the API and the local executor."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from broadsheet.config import Settings
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import generate, report_id, result, run, wait

MAY = {"startDate": "2024-05-01", "endDate": "2024-05-31"}


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def demo_db(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(Path(settings.shared_sources_dir, "portfolio_analytics.db"))


def test_monthly_performance_report(client: TestClient, admin: Caller, settings: Settings) -> None:
    rid = report_id(client, admin, "Monthly Performance Report")
    queued = generate(client, admin, rid, MAY)
    assert queued["status"] == "queued" and queued["reportId"] == rid
    assert queued["parameters"] == MAY
    job = wait(client, admin, queued["id"])
    assert job["status"] == "completed", job
    assert job["resultId"] and job["completedAt"] and job["error"] is None
    assert job["attempts"] == 1

    expected = (
        demo_db(settings)
        .execute(
            'SELECT date, strategy, "return", benchmark_return FROM portfolio_performance'
            " WHERE date BETWEEN '2024-05-01' AND '2024-05-31'"
        )
        .fetchall()
    )
    body = result(client, admin, job["resultId"], pageSize=10)
    assert body["reportId"] == rid and body["jobId"] == job["id"]
    assert body["parameters"] == MAY
    data = body["data"]
    assert data["columns"] == [
        {"name": "date", "type": "date"},
        {"name": "strategy", "type": "string"},
        {"name": "return", "type": "number"},
        {"name": "benchmark_return", "type": "number"},
    ]
    assert data["totalRows"] == len(expected) > 0
    assert len(data["rows"]) == 10
    assert [tuple(r.values()) for r in data["rows"]] == [tuple(r) for r in expected[:10]]
    assert data["summary"]["return"]["count"] == len(expected)
    assert data["summary"]["return"]["sum"] == pytest.approx(sum(r[2] for r in expected))
    assert data["summary"]["date"]["min"] == "2024-05-01"

    (viz,) = body["visualizations"]
    assert (viz["id"], viz["type"], viz.get("error")) == ("perf-chart", "line", None)
    assert viz["data"]["spec"]["$schema"].startswith("https://vega.github.io/schema/vega-lite/v5")
    assert len(viz["data"]["chartData"]) == len(expected)

    svg = client.get(
        f"/api/v1/reports/results/{job['resultId']}/visualizations/perf-chart.svg",
        headers=admin.headers,
    )
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<svg") and "Performance Over Time" in svg.text
    png = client.get(
        f"/api/v1/reports/results/{job['resultId']}/visualizations/perf-chart.png",
        headers=admin.headers,
    )
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    missing = client.get(
        f"/api/v1/reports/results/{job['resultId']}/visualizations/nope.svg", headers=admin.headers
    )
    assert missing.status_code == 404


def test_every_chart_type_is_generated_and_rendered(client: TestClient, admin: Caller) -> None:
    params = {
        "Strategy Scorecard": {"startDate": "2024-01-01", "endDate": "2024-03-31"},
        "Price History": {"ticker": "BRNX", "startDate": "2024-01-01", "endDate": "2024-03-31"},
        "Trading Activity": {"startDate": "2024-01-01", "endDate": "2024-01-31"},
        "Usage Summary": {"startDate": "2024-01-01", "endDate": "2024-01-07"},
    }
    marks: dict[str, str] = {}
    for name, values in params.items():
        job = run(client, admin, report_id(client, admin, name), values)
        assert job["status"] == "completed", job
        for viz in result(client, admin, job["resultId"])["visualizations"]:
            assert not viz.get("error"), viz
            assert viz["data"]["chartData"], viz["id"]
            marks[viz["type"]] = viz["id"]
            image = client.get(
                f"/api/v1/reports/results/{job['resultId']}/visualizations/{viz['id']}.svg",
                headers=admin.headers,
            )
            assert image.status_code == 200, (viz["id"], image.text)
    assert set(marks) == {
        "table",
        "bar",
        "candlestick",
        "heatmap",
        "pie",
        "scatter",
    }  # + line above


def test_parameters_are_checked_before_anything_is_queued(
    client: TestClient, admin: Caller
) -> None:
    rid = report_id(client, admin, "Price History")
    cases = [
        ({"ticker": "ACME", "startDate": "2024-01-01"}, "endDate", "required"),
        ({"ticker": "ZZZZ", "startDate": "2024-01-01", "endDate": "2024-02-01"}, "ticker", "ACME"),
        ({"startDate": "yesterday-ish", "endDate": "2024-02-01"}, "startDate", ""),
        (
            {"startDate": "2024-01-01", "endDate": "2024-02-01", "colour": "red"},
            "colour",
            "unknown",
        ),
    ]
    for params, field, words in cases:
        response = client.post(
            f"/api/v1/reports/{rid}/generate", json=params, headers=admin.headers
        )
        assert response.status_code == 422, (params, response.text)
        errors = response.json()["errors"]
        assert field in [e["field"] for e in errors], errors
        assert words.lower() in str(errors).lower()
    jobs = client.get(f"/api/v1/reports/{rid}/jobs", headers=admin.headers)
    assert jobs.json() == [] and jobs.headers["X-Total-Count"] == "0"
    not_an_object = client.post(f"/api/v1/reports/{rid}/generate", json=[1], headers=admin.headers)
    assert not_an_object.status_code == 422


def test_defaults_and_expressions(client: TestClient, admin: Caller) -> None:
    rid = report_id(client, admin, "Monthly Performance Report")
    job = generate(client, admin, rid, {"startDate": "2025-12-01"})  # endDate defaults to now()
    assert job["parameters"]["endDate"] == datetime.now(UTC).date().isoformat()
    assert wait(client, admin, job["id"])["status"] == "completed"


def test_history_statistics_and_pages(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    rid = report_id(client, admin, "Price History")
    first = run(
        client, admin, rid, {"ticker": "ACME", "startDate": "2024-01-01", "endDate": "2024-12-31"}
    )
    second = run(
        client, admin, rid, {"ticker": "CRWN", "startDate": "2024-01-01", "endDate": "2024-12-31"}
    )
    jobs = client.get(f"/api/v1/reports/{rid}/jobs", headers=admin.headers)
    assert [j["id"] for j in jobs.json()] == [second["id"], first["id"]]
    results = client.get(
        f"/api/v1/reports/{rid}/results", params={"limit": 1}, headers=admin.headers
    )
    assert results.headers["X-Total-Count"] == "2"
    assert [r["id"] for r in results.json()] == [second["resultId"]]

    meta = next(
        r for r in client.get("/api/v1/reports", headers=admin.headers).json() if r["id"] == rid
    )
    assert meta["executionCount"] == 2
    assert meta["lastExecutionAt"] is not None and meta["averageExecutionTimeMs"] is not None

    expected = (
        demo_db(settings)
        .execute(
            "SELECT date, close FROM prices WHERE ticker = 'CRWN' AND date BETWEEN '2024-01-01'"
            " AND '2024-12-31' ORDER BY date"
        )
        .fetchall()
    )
    page = result(client, admin, second["resultId"], page=3, pageSize=25)["data"]
    assert [(r["date"], r["close"]) for r in page["rows"]] == [tuple(r) for r in expected[50:75]]
    beyond = result(client, admin, second["resultId"], page=999, pageSize=25)["data"]
    assert beyond["rows"] == [] and beyond["totalRows"] == len(expected)
    too_big = client.get(
        f"/api/v1/reports/results/{second['resultId']}",
        params={"pageSize": 10001},
        headers=admin.headers,
    )
    assert too_big.status_code == 422


def test_other_tenants_cannot_see_jobs_or_results(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    job = run(client, admin, report_id(client, admin, "Monthly Performance Report"), MAY)
    other = tenancy.key("globex")
    for path in (
        f"/api/v1/reports/jobs/{job['id']}",
        f"/api/v1/reports/results/{job['resultId']}",
        f"/api/v1/reports/results/{job['resultId']}/visualizations/perf-chart.svg",
        f"/api/v1/reports/{job['reportId']}/jobs",
        f"/api/v1/reports/{job['reportId']}/results",
    ):
        assert client.get(path, headers=other.headers).status_code == 404, path
    assert (
        client.post(f"/api/v1/reports/jobs/{job['id']}/cancel", headers=other.headers).status_code
        == 404
    )
    generate_other = client.post(
        f"/api/v1/reports/{job['reportId']}/generate", json=MAY, headers=other.headers
    )
    assert generate_other.status_code == 404


def test_viewers_run_reports_but_cancel_only_their_own(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    viewer = tenancy.key(
        "acme", role=__import__("broadsheet.models", fromlist=["Role"]).Role.viewer, name="vic"
    )
    rid = report_id(client, admin, "Monthly Performance Report")
    mine = generate(client, viewer, rid, MAY)
    assert wait(client, viewer, mine["id"])["status"] == "completed"
    theirs = run(client, admin, rid, MAY)
    denied = client.post(f"/api/v1/reports/jobs/{theirs['id']}/cancel", headers=viewer.headers)
    assert denied.status_code == 403
    finished = client.post(f"/api/v1/reports/jobs/{mine['id']}/cancel", headers=viewer.headers)
    assert finished.status_code == 409 and "completed" in finished.json()["detail"]


def test_a_table_chart_of_a_long_result_says_how_long_the_result_is(
    client: TestClient, admin: Caller
) -> None:
    # The chart reads only the rows it draws, so its note must take the count from the result.
    body = {
        "name": "All prices",
        "category": "markets",
        "dataSource": "portfolio_analytics",
        "query": "SELECT date, ticker, close FROM prices",
        "visualizations": [{"id": "t", "type": "table", "dataMapping": {}}],
    }
    created = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    job = run(client, admin, created.json()["id"], {})
    assert job["status"] == "completed", job
    shown = result(client, admin, job["resultId"])
    total = shown["data"]["totalRows"]
    assert total > 1000  # more than the chart ever read before
    (viz,) = shown["visualizations"]
    assert len(viz["data"]["chartData"]) == 25
    (body_spec,) = viz["data"]["spec"]["vconcat"]
    assert body_spec["title"]["text"] == f"First 25 of {total:,} rows."
