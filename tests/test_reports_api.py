"""Report definitions through /api/v1/reports, as seed 000 says."""

from __future__ import annotations

import time
import uuid

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.models import ReportDefinition, ReportDefinitionView, Role
from tests.factories import Tenancy, report_body


def test_create_read_update_delete(client: TestClient, tenancy: Tenancy) -> None:
    tenancy.demo("acme")
    editor = tenancy.key("acme", Role.editor, name="erin")

    created = client.post(
        "/api/v1/reports", json=report_body(name="Q1 Review"), headers=editor.headers
    )
    assert created.status_code == 201, created.text
    meta = created.json()
    assert meta["name"] == "Q1 Review"
    assert meta["category"] == "performance"
    assert meta["createdByName"] == "erin"
    assert meta["version"] == 1
    assert meta["tags"] == ["performance", "monthly"]
    report_id = meta["id"]

    got = client.get(f"/api/v1/reports/{report_id}", headers=editor.headers)
    assert got.status_code == 200
    definition = got.json()
    assert definition["query"].startswith("SELECT * FROM portfolio_performance")
    assert definition["parameters"][1] == {
        "name": "endDate",
        "label": "End Date",
        "type": "date",
        "required": True,
        "defaultValue": "now()",
        "options": None,
    }
    assert definition["visualizations"][0]["dataMapping"] == {
        "x": "date",
        "y": "return",
        "series": "strategy",
    }
    assert definition["createdBy"] == meta["createdBy"]

    time.sleep(0.01)
    changed = dict(definition, description="Now with notes", tags=["performance"])
    updated = client.put(f"/api/v1/reports/{report_id}", json=changed, headers=editor.headers)
    assert updated.status_code == 200, updated.text
    after = updated.json()
    assert after["version"] == 2
    assert after["description"] == "Now with notes"
    assert after["updatedAt"] > definition["updatedAt"]
    assert after["createdAt"] == definition["createdAt"]

    listed = client.get("/api/v1/reports", params={"q": "Q1"}, headers=editor.headers).json()
    assert [(r["id"], r["version"], r["tags"]) for r in listed] == [(report_id, 2, ["performance"])]

    deleted = client.delete(f"/api/v1/reports/{report_id}", headers=editor.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"/api/v1/reports/{report_id}", headers=editor.headers).status_code == 404
    assert client.get("/api/v1/reports", params={"q": "Q1"}, headers=editor.headers).json() == []


def test_read_model_follows_the_write_model(
    client: TestClient, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    report_id = client.post("/api/v1/reports", json=report_body(), headers=admin.headers).json()[
        "id"
    ]
    body = report_body(visualizations=[], category="risk")
    client.put(f"/api/v1/reports/{report_id}", json=body, headers=admin.headers)
    with sessions() as session:
        write = session.get(ReportDefinition, uuid.UUID(report_id))
        view = session.get(ReportDefinitionView, uuid.UUID(report_id))
        assert write is not None and view is not None
        assert (view.category, view.version, view.parameter_count, view.visualization_count) == (
            "risk",
            2,
            2,
            0,
        )
        assert view.updated_at == write.updated_at
        assert view.execution_count == 0


def test_list_filters_and_pagination(client: TestClient, tenancy: Tenancy) -> None:
    tenancy.demo("acme")  # five demo reports
    viewer = tenancy.key("acme", Role.viewer)

    def get(**params: str | int) -> httpx2.Response:
        return client.get("/api/v1/reports", params=params, headers=viewer.headers)

    everything = get()
    assert everything.headers["X-Total-Count"] == "5"
    assert len(everything.json()) == 5

    assert {r["name"] for r in get(category="performance").json()} == {
        "Monthly Performance Report",
        "Strategy Scorecard",
    }
    assert {r["name"] for r in get(timeframe="weekly").json()} == {
        "Trading Activity",
        "Usage Summary",
    }
    assert [r["name"] for r in get(tag="prices").json()] == ["Price History"]
    assert [r["name"] for r in get(q="heatmap").json()] == ["Trading Activity"]  # description
    assert [r["name"] for r in get(q="usage SUMMARY").json()] == ["Usage Summary"]
    assert get(q="100%").json() == []  # LIKE wildcards are literal
    assert [r["name"] for r in get(tag="weekly", category="trading").json()] == ["Trading Activity"]

    first = get(limit=2, offset=0, sort="name")
    second = get(limit=2, offset=2, sort="name")
    last = get(limit=2, offset=4, sort="name")
    names = [r["name"] for page in (first, second, last) for r in page.json()]
    assert names == sorted(r["name"] for r in everything.json())
    assert first.headers["X-Total-Count"] == "5"
    assert 'rel="next"' in first.headers["Link"] and "offset=2" in first.headers["Link"]
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]


def test_stale_version_is_a_conflict(client: TestClient, tenancy: Tenancy) -> None:
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    report_id = client.post("/api/v1/reports", json=report_body(), headers=admin.headers).json()[
        "id"
    ]
    v1 = client.get(f"/api/v1/reports/{report_id}", headers=admin.headers).json()
    assert (
        client.put(f"/api/v1/reports/{report_id}", json=v1, headers=admin.headers).status_code
        == 200
    )
    stale = client.put(f"/api/v1/reports/{report_id}", json=v1, headers=admin.headers)
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"]


def test_data_source_must_exist_in_the_callers_tenant(
    client: TestClient, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    tenancy.demo("other")  # portfolio_analytics exists, but in another tenant
    admin = tenancy.key("acme")
    response = client.post("/api/v1/reports", json=report_body(), headers=admin.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "dataSource", "message": "no data source named 'portfolio_analytics'"}
    ]
    with sessions() as session:
        tenant_reports = session.scalars(select(ReportDefinition.name)).all()
    assert "Monthly Performance Report" in tenant_reports  # the other tenant's demo
    assert len(tenant_reports) == 5  # and nothing was added for acme


def test_timeframe_is_optional_and_checked(client: TestClient, tenancy: Tenancy) -> None:
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    body = report_body()
    del body["timeframe"]
    created = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert created.status_code == 201
    assert created.json()["timeframe"] is None
    bad = client.post(
        "/api/v1/reports", json=report_body(timeframe="hourly"), headers=admin.headers
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "timeframe"


def test_deleting_a_report_takes_its_schedules_out_of_the_list(
    client: TestClient, tenancy: Tenancy
) -> None:
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    schedules = client.get("/api/v1/schedules", headers=admin.headers).json()
    doomed = {s["reportId"] for s in schedules}.pop()
    assert client.delete(f"/api/v1/reports/{doomed}", headers=admin.headers).status_code == 204
    after = client.get("/api/v1/schedules", headers=admin.headers)
    assert [s for s in after.json() if s["reportId"] == doomed] == []
    assert int(after.headers["X-Total-Count"]) == len(after.json())
    assert len(after.json()) == len([s for s in schedules if s["reportId"] != doomed])
