"""Bad input answers a clear problem+json 4xx naming the field, and writes nothing."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.models import DataSource, ReportDefinition, ReportDefinitionView
from tests.factories import Caller, Tenancy, report_body


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def counts(sessions: sessionmaker[Session]) -> tuple[int, ...]:
    with sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (ReportDefinition, ReportDefinitionView, DataSource)
        )


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


def test_malformed_json_is_400(client: TestClient, admin: Caller) -> None:
    response = client.post(
        "/api/v1/reports",
        content=b'{"name": "x", ',
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert "not valid JSON" in problem(response, 400)["detail"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": None}, "name", "string"),
        ({"category": ""}, "category", "at least 1 character"),
        ({"timeframe": "hourly"}, "timeframe", "daily"),
        (
            {"parameters": [{"name": "x", "label": "X", "type": "datetime"}]},
            "parameters[0].type",
            "enum",
        ),
        (
            {"parameters": [{"name": "1x", "label": "X", "type": "date"}]},
            "parameters[0].name",
            "pattern",
        ),
        ({"parameters": "startDate"}, "parameters", "list"),
        (
            {"visualizations": [{"id": "v", "type": "donut", "dataMapping": {}}]},
            "visualizations[0].type",
            "table",
        ),
        (
            {"visualizations": [{"id": "v", "type": "bar"}]},
            "visualizations[0].dataMapping",
            "required",
        ),
        ({"tags": "finance"}, "tags", "list"),
        ({"tags": [""]}, "tags", "1 to 50"),
        ({"layout": [1, 2]}, "layout", "dictionary"),
        ({"dataSrouce": "portfolio_analytics"}, "dataSrouce", "Extra inputs"),
        ({"query": 42}, "query", "string"),
    ],
)
def test_invalid_fields_are_named(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    before = counts(sessions)
    response = client.post("/api/v1/reports", json=report_body(**change), headers=admin.headers)
    body = problem(response, 422)
    assert field in fields(body)
    assert message.lower() in json.dumps(body["errors"]).lower()
    assert counts(sessions) == before


def test_missing_required_fields_are_all_named(client: TestClient, admin: Caller) -> None:
    body = problem(client.post("/api/v1/reports", json={}, headers=admin.headers), 422)
    assert sorted(fields(body)) == ["category", "dataSource", "name"]
    assert problem(client.post("/api/v1/reports", headers=admin.headers), 422)["errors"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([{"name": "p", "label": "P", "type": "enum"}], "needs at least one option"),
        (
            [
                {
                    "name": "p",
                    "label": "P",
                    "type": "enum",
                    "defaultValue": "c",
                    "options": [{"label": "A", "value": "a"}],
                }
            ],
            "not one of the options",
        ),
        ([{"name": "p", "label": "P", "type": "number", "defaultValue": "ten"}], "not a number"),
        (
            [
                {
                    "name": "p",
                    "label": "P",
                    "type": "string",
                    "options": [{"label": "A", "value": "a"}],
                }
            ],
            "only for enum",
        ),
        (
            [
                {"name": "p", "label": "P", "type": "date"},
                {"name": "p", "label": "Q", "type": "date"},
            ],
            "must be unique: p",
        ),
    ],
)
def test_parameter_rules(
    client: TestClient, admin: Caller, parameters: list[dict[str, Any]], message: str
) -> None:
    response = client.post(
        "/api/v1/reports", json=report_body(parameters=parameters), headers=admin.headers
    )
    assert message in problem(response, 422)["detail"]


def test_oversize_bodies_are_413(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    before = counts(sessions)
    big = report_body(description="x" * 70_000)
    problem(client.post("/api/v1/reports", json=big, headers=admin.headers), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
        payload = json.dumps(big).encode()
        for i in range(0, len(payload), 8192):
            yield payload[i : i + 8192]

    chunked = client.post(
        "/api/v1/reports",
        content=chunks(),
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    problem(chunked, 413)
    assert counts(sessions) == before


def test_unknown_ids_and_routes(client: TestClient, admin: Caller) -> None:
    problem(client.get(f"/api/v1/reports/{uuid.uuid4()}", headers=admin.headers), 404)
    problem(client.get("/api/v1/reports/not-a-uuid", headers=admin.headers), 404)
    problem(client.get("/api/v1/reports/..%2F..%2Fetc%2Fpasswd", headers=admin.headers), 404)
    problem(client.delete(f"/api/v1/datasources/{uuid.uuid4()}", headers=admin.headers), 404)
    problem(client.get("/api/v1/nothing-here", headers=admin.headers), 404)
    problem(client.patch("/api/v1/reports", headers=admin.headers), 405)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"offset": -1}, "offset"),
        ({"timeframe": "x"}, "timeframe"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_list_parameters(
    client: TestClient, admin: Caller, params: dict[str, Any], field: str
) -> None:
    body = problem(client.get("/api/v1/reports", params=params, headers=admin.headers), 422)
    assert fields(body) == [field]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
report_keys = st.sampled_from(
    [
        "name",
        "category",
        "dataSource",
        "query",
        "parameters",
        "visualizations",
        "layout",
        "tags",
        "timeframe",
        "version",
        "description",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(report_keys, json_values, max_size=8) | json_values)
def test_no_body_makes_a_500(client: TestClient, admin: Caller, body: Any) -> None:
    for method, path in (("POST", "/api/v1/reports"), ("POST", "/api/v1/datasources")):
        response = client.request(method, path, json=body, headers=admin.headers)
        assert response.status_code < 500, response.text


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_numbers_are_rejected(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], token: str
) -> None:
    """Python's parser accepts NaN and Infinity, which JSON (and JSONB) do not."""
    before = counts(sessions)
    raw = json.dumps(report_body(layout={"columns": 1})).replace(
        '"columns": 1', f'"columns": {token}'
    )
    response = client.post(
        "/api/v1/reports",
        content=raw,
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert problem(response, 400)["detail"].startswith("the body is not valid JSON")
    assert counts(sessions) == before


def test_a_client_that_goes_away_mid_body_is_no_server_error(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A browser drops an htmx request it has replaced while the form is still arriving."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/login",
        "raw_path": b"/login",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"40"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def call_app() -> None:
        await client.app(scope, receive, send)

    assert client.portal is not None
    with caplog.at_level(logging.INFO):
        client.portal.call(call_app)
    assert sent[0]["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("went away" in r.getMessage() for r in caplog.records)
