"""Dashboard definitions through /api/v1/dashboards (issue 14, first slice): CRUD, the read
model, tenancy, roles and every save-time rule, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.models import Dashboard, DashboardView, Role
from tests.factories import Caller, Tenancy

MONTHLY = "Monthly Performance Report"
PRICES = "Price History"


def report_id(client: TestClient, caller: Caller, name: str) -> str:
    listed = client.get("/api/v1/reports", params={"q": name}, headers=caller.headers).json()
    return str(next(r["id"] for r in listed if r["name"] == name))


def board(monthly: str, **overrides: Any) -> dict[str, Any]:
    """A dashboard with a chart, a table, a metric and a text widget over the demo report,
    and a date filter that sets both charts' start date."""
    body: dict[str, Any] = {
        "name": "Trading Performance Dashboard",
        "description": "Real-time overview of trading performance",
        "tags": ["trading", "performance"],
        "widgets": [
            {
                "id": "daily-returns",
                "type": "visualization",
                "title": "Daily Returns",
                "source": {"reportId": monthly, "visualizationId": "perf-chart"},
                "position": {"x": 0, "y": 0},
                "size": {"width": 6, "height": 4},
                "options": {"refreshInterval": 300},
            },
            {
                "id": "table",
                "type": "report",
                "source": {
                    "reportId": monthly,
                    "parameters": {"startDate": "{{today().minusDays(30)}}"},
                },
                "position": {"x": 6, "y": 0},
                "size": {"width": 6, "height": 4},
                "options": {"pageSize": 50},
            },
            {
                "id": "total",
                "type": "metric",
                "source": {
                    "reportId": monthly,
                    "parameters": {"startDate": "2025-01-01", "endDate": "2025-12-31"},
                    "column": "return",
                    "aggregate": "sum",
                },
                "position": {"x": 0, "y": 4},
                "size": {"width": 3, "height": 2},
            },
            {
                "id": "notes",
                "type": "text",
                "source": {"markdown": "# Notes\n\nRead *carefully*.\n"},
                "position": {"x": 3, "y": 4},
                "size": {"width": 9, "height": 2},
            },
        ],
        "parameters": [
            {
                "name": "since",
                "label": "Since",
                "type": "date",
                "defaultValue": "{{today().startOfMonth()}}",
                "targets": [{"widgetId": "daily-returns", "parameter": "startDate"}],
            }
        ],
    }
    body.update(overrides)
    return body


def errors_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


@pytest.fixture
def acme(client: TestClient, tenancy: Tenancy) -> tuple[Caller, str]:
    tenancy.demo("acme")
    editor = tenancy.key("acme", Role.editor, name="erin")
    return editor, report_id(client, editor, MONTHLY)


def test_create_read_update_delete(client: TestClient, acme: tuple[Caller, str]) -> None:
    editor, monthly = acme
    created = client.post("/api/v1/dashboards", json=board(monthly), headers=editor.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Trading Performance Dashboard"
    assert body["version"] == 1
    assert body["layout"] == {"type": "grid", "columns": 12}
    assert body["refreshInterval"] == 300
    assert body["timezone"] == "UTC"
    assert body["tags"] == ["trading", "performance"]
    assert body["parameters"][0]["targets"] == [
        {"widgetId": "daily-returns", "parameter": "startDate"}
    ]
    widgets = {w["id"]: w for w in body["widgets"]}
    assert list(widgets) == ["daily-returns", "table", "total", "notes"]
    assert widgets["table"]["options"] == {"pageSize": 50}
    assert widgets["total"]["source"]["aggregate"] == "sum"
    assert widgets["daily-returns"]["source"] == {
        "reportId": monthly,
        "visualizationId": "perf-chart",
        "parameters": {},
    }
    assert widgets["notes"]["source"] == {"markdown": "# Notes\n\nRead *carefully*.\n"}
    assert "data" not in widgets["notes"]  # a definition; data comes with a GET
    dashboard_id = body["id"]

    got = client.get(f"/api/v1/dashboards/{dashboard_id}", headers=editor.headers)
    assert got.status_code == 200
    document = got.json()
    assert [w.pop("data")["status"] for w in document["widgets"]][3] == "ready"
    assert document.pop("filters") == {"since": document["lastUpdated"][:8] + "01"}
    document.pop("lastUpdated")
    assert document == body

    time.sleep(0.01)
    changed = dict(body, description="Now with notes", refreshInterval=60, timezone="Europe/Paris")
    updated = client.put(f"/api/v1/dashboards/{dashboard_id}", json=changed, headers=editor.headers)
    assert updated.status_code == 200, updated.text
    after = updated.json()
    assert after["version"] == 2
    assert after["description"] == "Now with notes"
    assert (after["refreshInterval"], after["timezone"]) == (60, "Europe/Paris")
    assert after["updatedAt"] > body["updatedAt"]
    assert (after["createdAt"], after["createdBy"]) == (body["createdAt"], body["createdBy"])

    deleted = client.delete(f"/api/v1/dashboards/{dashboard_id}", headers=editor.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (
        client.get(f"/api/v1/dashboards/{dashboard_id}", headers=editor.headers).status_code == 404
    )
    assert client.get("/api/v1/dashboards", headers=editor.headers).json() == []


def test_stale_version_is_a_conflict(client: TestClient, acme: tuple[Caller, str]) -> None:
    editor, monthly = acme
    made = client.post("/api/v1/dashboards", json=board(monthly), headers=editor.headers).json()
    url = f"/api/v1/dashboards/{made['id']}"
    assert client.put(url, json=dict(made, version=1), headers=editor.headers).status_code == 200
    stale = client.put(url, json=dict(made, version=1, name="Lost"), headers=editor.headers)
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert client.get(url, headers=editor.headers).json()["name"] == made["name"]
    # Without a version the PUT replaces whatever is stored.
    assert (
        client.put(url, json=board(monthly, name="Last"), headers=editor.headers).json()["version"]
        == 3
    )


def test_roles(client: TestClient, tenancy: Tenancy, acme: tuple[Caller, str]) -> None:
    editor, monthly = acme
    viewer = tenancy.key("acme", Role.viewer, name="vic")
    admin = tenancy.key("acme", Role.admin, name="ada")
    refused = client.post("/api/v1/dashboards", json=board(monthly), headers=viewer.headers)
    assert refused.status_code == 403
    made = client.post("/api/v1/dashboards", json=board(monthly), headers=admin.headers).json()
    url = f"/api/v1/dashboards/{made['id']}"
    assert client.get(url, headers=viewer.headers).status_code == 200
    assert len(client.get("/api/v1/dashboards", headers=viewer.headers).json()) == 1
    assert client.put(url, json=board(monthly), headers=viewer.headers).status_code == 403
    assert client.delete(url, headers=viewer.headers).status_code == 403
    assert client.put(url, json=board(monthly), headers=editor.headers).status_code == 200
    assert client.get("/api/v1/dashboards").status_code == 401


def test_another_tenants_dashboard_is_not_found(
    client: TestClient, tenancy: Tenancy, acme: tuple[Caller, str]
) -> None:
    editor, monthly = acme
    made = client.post("/api/v1/dashboards", json=board(monthly), headers=editor.headers).json()
    tenancy.demo("globex")
    stranger = tenancy.key("globex", Role.admin, name="gus")
    theirs = report_id(client, stranger, MONTHLY)
    url = f"/api/v1/dashboards/{made['id']}"
    assert client.get(url, headers=stranger.headers).status_code == 404
    assert client.put(url, json=board(theirs), headers=stranger.headers).status_code == 404
    assert client.delete(url, headers=stranger.headers).status_code == 404
    assert client.get("/api/v1/dashboards", headers=stranger.headers).json() == []
    assert client.get(url, headers=editor.headers).json()["version"] == 1
    assert client.get("/api/v1/dashboards/not-a-uuid", headers=editor.headers).status_code == 404
    missing = f"/api/v1/dashboards/{uuid.uuid4()}"
    assert client.put(missing, json=board(monthly), headers=editor.headers).status_code == 404


def test_another_tenants_report_is_refused(
    client: TestClient, tenancy: Tenancy, acme: tuple[Caller, str]
) -> None:
    editor, _ = acme
    tenancy.demo("globex")
    theirs = report_id(client, tenancy.key("globex", Role.admin, name="gus"), MONTHLY)
    refused = client.post("/api/v1/dashboards", json=board(theirs), headers=editor.headers)
    assert errors_of(refused) == [
        "widgets[0].source.reportId",
        "widgets[1].source.reportId",
        "widgets[2].source.reportId",
    ]
    unknown = client.post(
        "/api/v1/dashboards", json=board(str(uuid.uuid4())), headers=editor.headers
    )
    assert "widgets[0].source.reportId" in errors_of(unknown)
    assert client.get("/api/v1/dashboards", headers=editor.headers).json() == []


def test_hostile_text_is_stored_as_given(client: TestClient, acme: tuple[Caller, str]) -> None:
    editor, monthly = acme
    hostile = "<script>alert('x')</script> ' OR 1=1; DROP TABLE dashboards; --"
    markdown = "  <img src=x onerror=alert(1)>\n[link](javascript:alert(1))\n\n"
    body = board(monthly, name=hostile, description=hostile)
    body["widgets"][3]["source"]["markdown"] = markdown
    body["widgets"][3]["title"] = hostile
    made = client.post("/api/v1/dashboards", json=body, headers=editor.headers)
    assert made.status_code == 201, made.text
    got = client.get(f"/api/v1/dashboards/{made.json()['id']}", headers=editor.headers).json()
    assert (got["name"], got["description"]) == (hostile, hostile)
    assert got["widgets"][3]["title"] == hostile
    assert got["widgets"][3]["source"]["markdown"] == markdown
    listed = client.get("/api/v1/dashboards", params={"q": "DROP TABLE"}, headers=editor.headers)
    assert [d["name"] for d in listed.json()] == [hostile]


def test_list_filters_paging_and_read_model(
    client: TestClient, acme: tuple[Caller, str], sessions: sessionmaker[Session]
) -> None:
    editor, monthly = acme
    ids = []
    for n in range(5):
        body = board(
            monthly,
            name=f"Board {n}",
            description="about 100% of_it" if n == 3 else "plain",
            tags=["even"] if n % 2 == 0 else ["odd", "x"],
            widgets=board(monthly)["widgets"][: n % 4 + 1],
        )
        made = client.post("/api/v1/dashboards", json=body, headers=editor.headers)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
        time.sleep(0.002)

    def listing(**params: Any) -> Any:
        return client.get("/api/v1/dashboards", params=params, headers=editor.headers)

    first = listing(limit=2)
    assert first.headers["X-Total-Count"] == "5"
    assert [d["id"] for d in first.json()] == ids[::-1][:2]  # newest change first
    assert 'rel="next"' in first.headers["Link"] and "offset=2" in first.headers["Link"]
    last = listing(limit=2, offset=4)
    assert [d["id"] for d in last.json()] == [ids[0]]
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    assert listing(limit=0).status_code == 422

    assert sorted(d["name"] for d in listing(tag="even").json()) == [
        "Board 0",
        "Board 2",
        "Board 4",
    ]
    assert listing(tag="odd").headers["X-Total-Count"] == "2"
    assert listing(tag="eve").json() == []
    assert [d["name"] for d in listing(q="board 1").json()] == ["Board 1"]
    assert [d["name"] for d in listing(q="100%").json()] == ["Board 3"]  # in the description
    assert [d["name"] for d in listing(q="of_it").json()] == ["Board 3"]
    assert [d["name"] for d in listing(q="%").json()] == ["Board 3"]  # a literal %
    assert listing(q="a%t").json() == []

    item = next(d for d in listing().json() if d["id"] == ids[2])
    assert item["widgetCount"] == 3
    assert (item["accessCount"], item["lastAccessedAt"]) == (0, None)
    assert item["createdByName"] == "erin"
    assert set(item) == {
        "id", "name", "description", "createdAt", "updatedAt", "createdBy", "createdByName",
        "tags", "widgetCount", "accessCount", "lastAccessedAt",
    }  # fmt: skip

    # Each GET of one dashboard counts an access; the list does not.
    for _ in range(3):
        client.get(f"/api/v1/dashboards/{ids[2]}", headers=editor.headers)
    item = next(d for d in listing().json() if d["id"] == ids[2])
    assert item["accessCount"] == 3 and item["lastAccessedAt"] is not None

    # An update keeps the counts and follows the widgets; a delete removes the row.
    body = board(monthly, name="Renamed", widgets=board(monthly)["widgets"][:1])
    client.put(f"/api/v1/dashboards/{ids[2]}", json=body, headers=editor.headers)
    item = next(d for d in listing().json() if d["id"] == ids[2])
    assert (item["name"], item["widgetCount"], item["accessCount"]) == ("Renamed", 1, 3)
    client.delete(f"/api/v1/dashboards/{ids[2]}", headers=editor.headers)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DashboardView)) == 4
        assert session.scalar(select(func.count()).select_from(Dashboard)) == 4


def test_defaults(client: TestClient, acme: tuple[Caller, str]) -> None:
    editor, _ = acme
    minimal = {
        "name": "Empty",
        "widgets": [
            {
                "id": "t",
                "type": "text",
                "source": {"markdown": ""},
                "position": {"x": 0, "y": 0},
                "size": {"width": 12, "height": 1},
            }
        ],
    }
    made = client.post("/api/v1/dashboards", json=minimal, headers=editor.headers)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["layout"], body["refreshInterval"], body["timezone"]) == (
        {"type": "grid", "columns": 12},
        300,
        "UTC",
    )
    assert (body["parameters"], body["tags"], body["description"]) == ([], [], None)
    assert body["widgets"][0]["options"] == {}
    assert errors_of(
        client.post("/api/v1/dashboards", json={"name": "x"}, headers=editor.headers)
    ) == ["widgets"]


def _bad(monthly: str, change: Any) -> dict[str, Any]:
    body = board(monthly)
    change(body)
    return body


def _set(path: str, value: Any) -> Any:
    """A change that sets ``a.0.b`` in the body."""

    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _widget(n: int, **overrides: Any) -> dict[str, Any]:
    w: dict[str, Any] = {
        "id": f"w{n}",
        "type": "text",
        "source": {"markdown": "x"},
        "position": {"x": (n % 6) * 2, "y": n // 6},
        "size": {"width": 2, "height": 1},
    }
    w.update(overrides)
    return w


BAD: list[tuple[str, Any, list[str]]] = [
    ("layout type", _set("layout", {"type": "free"}), ["layout.type"]),
    ("layout columns", _set("layout", {"type": "grid", "columns": 24}), ["layout.columns"]),
    ("unknown field", _set("colour", "red"), ["colour"]),
    ("unknown widget field", _set("widgets.1.colour", "red"), ["widgets[1].colour"]),
    ("widget id chars", _set("widgets.2.id", "a b"), ["widgets[2].id"]),
    ("widget id long", _set("widgets.2.id", "a" * 65), ["widgets[2].id"]),
    ("widget id empty", _set("widgets.2.id", ""), ["widgets[2].id"]),
    ("duplicate widget id", _set("widgets.2.id", "table"), ["widgets[2].id"]),
    ("widget type", _set("widgets.2.type", "map"), ["widgets[2].type"]),
    ("negative x", _set("widgets.2.position", {"x": -1, "y": 9}), ["widgets[2].position.x"]),
    ("y past 1000", _set("widgets.2.position", {"x": 0, "y": 1001}), ["widgets[2].position.y"]),
    ("x true", _set("widgets.2.position", {"x": True, "y": 9}), ["widgets[2].position.x"]),
    ("y text", _set("widgets.2.position", {"x": 0, "y": "9"}), ["widgets[2].position.y"]),
    ("refresh text", _set("refreshInterval", "300"), ["refreshInterval"]),
    ("zero width", _set("widgets.2.size", {"width": 0, "height": 1}), ["widgets[2].size.width"]),
    ("zero height", _set("widgets.2.size", {"width": 1, "height": 0}), ["widgets[2].size.height"]),
    (
        "past the grid",
        _set("widgets.2.position", {"x": 10, "y": 20}),
        ["widgets[2].position"],
    ),
    ("overlap", _set("widgets.3.position", {"x": 2, "y": 5}), ["widgets[3].position"]),
    ("overlap above", _set("widgets.2.position", {"x": 0, "y": 3}), ["widgets[2].position"]),
    ("no position", _set("widgets.2.position", None), ["widgets[2].position"]),
    (
        "visualization missing",
        _set("widgets.0.source.visualizationId", "nope"),
        ["widgets[0].source.visualizationId"],
    ),
    (
        "visualization source without reportId",
        _set("widgets.0.source", {"visualizationId": "perf-chart"}),
        ["widgets[0].source.reportId"],
    ),
    ("reportId not a uuid", _set("widgets.1.source.reportId", "7"), ["widgets[1].source.reportId"]),
    (
        "unknown source field",
        _set("widgets.1.source.visualizationId", "perf-chart"),
        ["widgets[1].source.visualizationId"],
    ),
    ("aggregate", _set("widgets.2.source.aggregate", "median"), ["widgets[2].source.aggregate"]),
    ("metric without column", _set("widgets.2.source.column", ""), ["widgets[2].source.column"]),
    ("text source", _set("widgets.3.source", {"markdown": 3}), ["widgets[3].source.markdown"]),
    (
        "text too long",
        _set("widgets.3.source.markdown", "x" * 20_001),
        ["widgets[3].source.markdown"],
    ),
    ("text with a report", _set("widgets.3.source.reportId", "x"), ["widgets[3].source.reportId"]),
    ("pageSize", _set("widgets.1.options", {"pageSize": 101}), ["widgets[1].options.pageSize"]),
    ("pageSize zero", _set("widgets.1.options", {"pageSize": 0}), ["widgets[1].options.pageSize"]),
    (
        "pageSize on a chart",
        _set("widgets.0.options", {"pageSize": 5}),
        ["widgets[0].options.pageSize"],
    ),
    (
        "widget refresh",
        _set("widgets.0.options", {"refreshInterval": 29}),
        ["widgets[0].options.refreshInterval"],
    ),
    ("refresh", _set("refreshInterval", 29), ["refreshInterval"]),
    ("time zone", _set("timezone", "Mars/Olympus"), ["timezone"]),
    ("too many widgets", _set("widgets", [_widget(n) for n in range(51)]), ["widgets"]),
    (
        "unknown parameter",
        _set("widgets.2.source.parameters.region", "south"),
        ["widgets[2].source.parameters.region"],
    ),
    (
        "bad literal",
        _set("widgets.2.source.parameters.endDate", "soon"),
        ["widgets[2].source.parameters.endDate"],
    ),
    (
        "bad template",
        _set("widgets.1.source.parameters.startDate", "{{yesterday()}}"),
        ["widgets[1].source.parameters.startDate"],
    ),
    (
        "required and not supplied",
        _set("widgets.1.source.parameters", {}),
        ["widgets[1].source.parameters.startDate"],
    ),
    (
        "required, and the filter has no default",
        _set("parameters.0.defaultValue", None),
        ["widgets[0].source.parameters.startDate"],
    ),
    ("filter name", _set("parameters.0.name", "1st"), ["parameters[0].name"]),
    ("filter type", _set("parameters.0.type", "money"), ["parameters[0].type"]),
    ("filter default type", _set("parameters.0.defaultValue", 5), ["parameters[0].defaultValue"]),
    (
        "filter default date",
        _set("parameters.0.defaultValue", "2025-02-30"),
        ["parameters[0].defaultValue"],
    ),
    (
        "filter default template",
        _set("parameters.0.defaultValue", "{{ today() }} and more"),
        ["parameters[0].defaultValue"],
    ),
    ("filter unknown field", _set("parameters.0.colour", "x"), ["parameters[0].colour"]),
    (
        "target widget missing",
        _set("parameters.0.targets", [{"widgetId": "ghost", "parameter": "startDate"}]),
        ["parameters[0].targets[0]"],
    ),
    (
        "target a text widget",
        _set(
            "parameters.0.targets",
            [
                {"widgetId": "daily-returns", "parameter": "startDate"},
                {"widgetId": "notes", "parameter": "startDate"},
            ],
        ),
        ["parameters[0].targets[1]"],
    ),
    (
        "target parameter missing",
        _set("parameters.0.targets.0.parameter", "region"),
        ["parameters[0].targets[0]"],
    ),
    (
        "target twice",
        _set(
            "parameters.0.targets",
            [
                {"widgetId": "daily-returns", "parameter": "startDate"},
                {"widgetId": "daily-returns", "parameter": "startDate"},
            ],
        ),
        ["parameters[0].targets[1]"],
    ),
]


@pytest.mark.parametrize(("change", "fields"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_definitions_are_refused_naming_the_field(
    client: TestClient,
    acme: tuple[Caller, str],
    sessions: sessionmaker[Session],
    change: Any,
    fields: list[str],
) -> None:
    editor, monthly = acme
    refused = client.post("/api/v1/dashboards", json=_bad(monthly, change), headers=editor.headers)
    assert errors_of(refused) == fields
    made = client.post("/api/v1/dashboards", json=board(monthly), headers=editor.headers).json()
    url = f"/api/v1/dashboards/{made['id']}"
    assert errors_of(client.put(url, json=_bad(monthly, change), headers=editor.headers)) == fields
    with sessions() as session:  # nothing saved: one dashboard, unchanged
        assert session.scalar(select(func.count()).select_from(Dashboard)) == 1
        assert session.scalar(select(func.count()).select_from(DashboardView)) == 1
    assert client.get(url, headers=editor.headers).json()["version"] == 1


def test_fifty_widgets_fit(client: TestClient, acme: tuple[Caller, str]) -> None:
    editor, monthly = acme
    body = board(monthly, widgets=[_widget(n) for n in range(50)], parameters=[])
    made = client.post("/api/v1/dashboards", json=body, headers=editor.headers)
    assert made.status_code == 201, made.text
    assert len(made.json()["widgets"]) == 50


def _filter(kind: str, default: Any, target: str, **more: Any) -> dict[str, Any]:
    return {
        "name": "f",
        "label": "F",
        "type": kind,
        "defaultValue": default,
        "targets": [{"widgetId": "prices", "parameter": target}],
        **more,
    }


def _price_board(prices: str, flt: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Prices",
        "timezone": "America/New_York",
        "widgets": [
            {
                "id": "prices",
                "type": "visualization",
                "source": {
                    "reportId": prices,
                    "visualizationId": "ohlc",
                    "parameters": {
                        "startDate": "{{today().minusDays(7)}}",
                        "endDate": "{{ today() }}",
                    },
                },
                "position": {"x": 0, "y": 0},
                "size": {"width": 12, "height": 6},
            }
        ],
        "parameters": [flt],
    }


def _ticker_options(values: list[str]) -> list[dict[str, str]]:
    return [{"value": v, "label": v.title()} for v in values]


@pytest.mark.parametrize(
    ("flt", "field"),
    [
        (_filter("date", "2025-06-01", "startDate"), None),
        (_filter("date", "{{today().startOfMonth()}}", "endDate"), None),
        (_filter("date", None, "startDate"), None),
        (_filter("enum", "ACME", "ticker", options=_ticker_options(["ACME"])), None),
        (_filter("string", "ACME", "ticker"), "parameters[0].targets[0]"),
        (
            _filter("enum", "ACME", "ticker", options=_ticker_options(["ACME", "NOPE"])),
            "parameters[0].targets[0]",
        ),
        (
            _filter("enum", "NOPE", "ticker", options=_ticker_options(["ACME"])),
            "parameters[0].defaultValue",
        ),
        (_filter("enum", "ACME", "ticker"), "parameters[0].options"),
        (
            _filter("date", "2025-06-01", "startDate", options=_ticker_options(["a"])),
            "parameters[0].options",
        ),
        (
            _filter("enum", "ACME", "ticker", options=_ticker_options(["ACME", "ACME"])),
            "parameters[0].options",
        ),
        (_filter("number", 3, "startDate"), "parameters[0].targets[0]"),
        (_filter("integer", 3, "startDate"), "parameters[0].targets[0]"),
        (_filter("boolean", True, "ticker"), "parameters[0].targets[0]"),
        (_filter("integer", 2.5, "startDate"), "parameters[0].defaultValue"),
        (_filter("number", True, "startDate"), "parameters[0].defaultValue"),
        (_filter("boolean", "yes", "startDate"), "parameters[0].defaultValue"),
        (_filter("string", 7, "ticker"), "parameters[0].defaultValue"),
    ],
)
def test_filter_types_and_targets(
    client: TestClient,
    tenancy: Tenancy,
    acme: tuple[Caller, str],
    flt: dict[str, Any],
    field: str | None,
) -> None:
    editor, _ = acme
    prices = report_id(client, editor, PRICES)
    response = client.post(
        "/api/v1/dashboards", json=_price_board(prices, copy.deepcopy(flt)), headers=editor.headers
    )
    if field is None:
        assert response.status_code == 201, response.text
        assert response.json()["parameters"][0]["defaultValue"] == flt["defaultValue"]
        assert response.json()["timezone"] == "America/New_York"
    else:
        assert field in errors_of(response), response.text


def test_filters_compatible_with_report_parameters(
    client: TestClient, tenancy: Tenancy, acme: tuple[Caller, str]
) -> None:
    """String, number and boolean filters against a report declaring such parameters."""
    editor, _ = acme
    report = {
        "name": "Typed",
        "category": "test",
        "dataSource": "portfolio_analytics",
        "query": (
            'SELECT * FROM portfolio_performance WHERE strategy = :s AND "return" > :n'
            " AND (:b OR 1 = 1)"
        ),
        "parameters": [
            {"name": "s", "label": "S", "type": "string", "required": True},
            {"name": "n", "label": "N", "type": "number", "required": True},
            {"name": "b", "label": "B", "type": "boolean", "defaultValue": "true"},
        ],
    }
    made = client.post("/api/v1/reports", json=report, headers=editor.headers)
    assert made.status_code == 201, made.text
    typed = made.json()["id"]
    widget = {
        "id": "t",
        "type": "report",
        "source": {"reportId": typed},
        "position": {"x": 0, "y": 0},
        "size": {"width": 12, "height": 3},
    }

    def filters(*specs: tuple[str, str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "name": f"f{i}",
                "label": f"F{i}",
                "type": kind,
                "defaultValue": default,
                "targets": [{"widgetId": "t", "parameter": param}],
            }
            for i, (kind, param, default) in enumerate(specs)
        ]

    ok = {
        "name": "Typed board",
        "widgets": [widget],
        "parameters": filters(
            ("string", "s", "<b>x</b>"), ("integer", "n", 2), ("boolean", "b", False)
        ),
    }
    created = client.post("/api/v1/dashboards", json=ok, headers=editor.headers)
    assert created.status_code == 201, created.text
    number = dict(ok, parameters=filters(("string", "s", "x"), ("number", "n", 2.5)))
    assert client.post("/api/v1/dashboards", json=number, headers=editor.headers).status_code == 201
    enum = dict(
        ok,
        parameters=[
            *filters(("string", "s", "x"), ("number", "n", 1)),
            {
                "name": "pick",
                "label": "Pick",
                "type": "enum",
                "defaultValue": "a",
                "options": [{"value": "a", "label": "A"}],
                "targets": [],
            },
        ],
    )
    assert client.post("/api/v1/dashboards", json=enum, headers=editor.headers).status_code == 201
    # n is required: supplied by neither the widget nor a filter's default.
    missing = dict(ok, parameters=filters(("string", "s", "x"), ("number", "n", None)))
    assert errors_of(client.post("/api/v1/dashboards", json=missing, headers=editor.headers)) == [
        "widgets[0].source.parameters.n"
    ]
    clash = dict(ok, parameters=filters(("boolean", "s", True), ("date", "n", "2025-01-01")))
    assert errors_of(client.post("/api/v1/dashboards", json=clash, headers=editor.headers)) == [
        "parameters[0].targets[0]",
        "parameters[1].targets[0]",
    ]
    dup = dict(ok, parameters=filters(("string", "s", "x"), ("number", "n", 1)) * 2)
    fields = errors_of(client.post("/api/v1/dashboards", json=dup, headers=editor.headers))
    assert "parameters[2].name" in fields and "parameters[2].targets[0]" in fields
