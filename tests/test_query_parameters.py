"""Every numeric query parameter has bounds: a value past them, a negative one or a word
answers 422 problem+json naming the parameter, never a 500 (a 30-digit offset once overflowed
SQLite's 64-bit integers); the largest value allowed works on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from broadsheet.events.endpoints import MAX_ID as MAX_EVENT_ID
from broadsheet.kit.pagination import MAX_LIMIT, MAX_OFFSET
from broadsheet.results.endpoints import MAX_PAGE, MAX_PAGE_SIZE
from broadsheet.schedules.service import MAX_PREVIEW
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id, run

ID = "00000000-0000-4000-8000-000000000000"
LISTS = [
    "/api/v1/reports",
    "/api/v1/reports/{reportId}/jobs",
    "/api/v1/reports/{reportId}/results",
    "/api/v1/schedules",
    "/api/v1/schedules/{scheduleId}/executions",
    "/api/v1/audit",
    "/api/v1/dashboards",
    "/api/v1/keys",
    "/api/v1/events",
    "/api/v1/event-subscriptions",
]
# (path, parameter, its largest value, other parameters the request needs)
NUMERIC: list[tuple[str, str, int, dict[str, str]]] = [
    *((path, "limit", MAX_LIMIT, {}) for path in LISTS),
    *((path, "offset", MAX_OFFSET, {}) for path in LISTS),
    ("/api/v1/reports/results/{resultId}", "page", MAX_PAGE, {}),
    ("/api/v1/reports/results/{resultId}", "pageSize", MAX_PAGE_SIZE, {}),
    ("/api/v1/reports/results/{resultId}/export", "pdfMaxRows", 10_000, {"format": "pdf"}),
    ("/api/v1/schedules/preview", "count", MAX_PREVIEW, {"schedule": "0 9 * * 1"}),
    ("/api/v1/dashboards/{dashboardId}", "wait", 30, {}),
    ("/embed/dashboards/{token}/data", "wait", 30, {}),
    # The run below leaves events, so the longest wait answers at once.
    ("/api/v1/events", "wait", 30, {}),
    ("/api/v1/events", "after", MAX_EVENT_ID, {}),
]
HUGE = "87887735627699698897904048530"
# Parameters that are seconds and may be fractional: "1.5" is a good value for them.
FRACTIONAL = {("/api/v1/events", "wait")}


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def url(path: str, ids: dict[str, str] | None = None) -> str:
    ids = ids or {}
    for name in ("reportId", "scheduleId", "resultId", "dashboardId", "token"):
        path = path.replace(f"{{{name}}}", ids.get(name, ID))
    return path


def test_the_table_has_every_numeric_query_parameter(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    found = set()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schemas = parameter["schema"].get("anyOf", [parameter["schema"]])
                numeric = [s for s in schemas if s.get("type") in ("integer", "number")]
                if parameter["in"] != "query" or not numeric:
                    continue
                found.add((path, parameter["name"]))
                assert "minimum" in numeric[0] and "maximum" in numeric[0], (path, parameter)
    assert found == {(path, name) for path, name, _, _ in NUMERIC}


@pytest.mark.parametrize(
    ("path", "name", "largest", "needs"), NUMERIC, ids=[f"{p} {n}" for p, n, _, _ in NUMERIC]
)
def test_a_bad_number_is_422_naming_the_parameter(
    client: TestClient, tenancy: Tenancy, path: str, name: str, largest: int, needs: dict[str, str]
) -> None:
    caller = tenancy.key("acme")  # validation comes first: no rows are needed
    bad = [HUGE, str(largest + 1), "-1", "-" + HUGE, "ten", "1.5", "", "0x10"]
    if (path, name) in FRACTIONAL:
        bad.remove("1.5")
    for sent in bad:
        response = client.get(url(path), params={**needs, name: sent}, headers=caller.headers)
        assert response.status_code == 422, (sent, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body: dict[str, Any] = response.json()
        assert [e["field"] for e in body["errors"]] == [name], body
        assert body["detail"].startswith(f"{name}: ")


def test_the_largest_values_work_on_both_databases(client: TestClient, admin: Caller) -> None:
    report = report_id(client, admin, "Monthly Performance Report")
    job = run(client, admin, report, {"startDate": "2024-05-01", "endDate": "2024-05-31"})
    assert job["status"] == "completed", job
    schedules = client.get("/api/v1/schedules", headers=admin.headers).json()
    # A dashboard without widgets: waiting the longest for nothing takes no time.
    board = client.post(
        "/api/v1/dashboards", json={"name": "Empty", "widgets": []}, headers=admin.headers
    ).json()
    embed = client.post(
        f"/api/v1/dashboards/{board['id']}/embed", json={}, headers=admin.headers
    ).json()
    ids = {
        "reportId": report,
        "resultId": job["resultId"],
        "scheduleId": schedules[0]["id"],
        "dashboardId": board["id"],
        "token": embed["token"],
    }
    for path, name, largest, needs in NUMERIC:
        response = client.get(
            url(path, ids), params={**needs, name: largest}, headers=admin.headers
        )
        assert response.status_code == 200, (path, name, response.text)
        if name == "offset":
            assert response.json() == []
            assert int(response.headers["X-Total-Count"]) >= 0
            assert 'rel="prev"' in response.headers["Link"]
    page = client.get(
        url("/api/v1/reports/results/{resultId}", ids),
        params={"page": MAX_PAGE},
        headers=admin.headers,
    )
    assert page.json()["data"]["rows"] == [] and page.json()["data"]["page"] == MAX_PAGE


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/reports/results/{resultId}/export", {"format": "csv", "bom": "maybe"}, "bom"),
        (
            "/api/v1/schedules/preview",
            {"schedule": "0 9 * * 1", "businessDaysOnly": "2"},
            "businessDaysOnly",
        ),
        ("/api/v1/audit", {"subjectId": "12"}, "subjectId"),
        ("/api/v1/reports", {"timeframe": "hourly"}, "timeframe"),
        ("/api/v1/reports", {"sort": "size"}, "sort"),
    ],
)
def test_other_typed_query_parameters_are_422_naming_them(
    client: TestClient, admin: Caller, path: str, params: dict[str, str], name: str
) -> None:
    response = client.get(url(path), params=params, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [name]
