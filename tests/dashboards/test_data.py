"""A dashboard's widgets with their data: freshness, single flight, filters, refresh, metrics
and text, through the API with the app's real executor, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.models import Dashboard, ReportJob, ReportResult, Role
from tests.dashboards.test_definitions import MONTHLY, board, errors_of, report_id
from tests.factories import Caller, Tenancy

FINISHED = {"completed", "failed", "cancelled"}


@pytest.fixture
def acme(client: TestClient, tenancy: Tenancy) -> tuple[Caller, str]:
    tenancy.demo("acme")
    editor = tenancy.key("acme", Role.editor, name="erin")
    return editor, report_id(client, editor, MONTHLY)


def create(client: TestClient, caller: Caller, body: dict[str, Any]) -> str:
    response = client.post("/api/v1/dashboards", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def read(client: TestClient, caller: Caller, dashboard_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/dashboards/{dashboard_id}", params=params, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def widgets(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["id"]: w for w in document["widgets"]}


def jobs(sessions: sessionmaker[Session], **where: Any) -> list[ReportJob]:
    with sessions() as session:
        query = select(ReportJob).filter_by(**where).order_by(ReportJob.created_at)
        return list(session.scalars(query))


def age_results(sessions: sessionmaker[Session], seconds: float) -> None:
    """Make every stored result older, as time passing would."""
    with sessions.begin() as session:
        for result in session.scalars(select(ReportResult)):
            result.created_at -= timedelta(seconds=seconds)


def test_a_cold_dashboard_queues_a_job_per_report_and_values_then_serves_them(
    client: TestClient, acme: tuple[Caller, str], sessions: sessionmaker[Session]
) -> None:
    editor, monthly = acme
    dashboard_id = create(client, editor, board(monthly))

    since = {"p.since": "2025-06-01"}  # the demo data ends on 2025-12-31
    cold = read(client, editor, dashboard_id, **since)
    by_id = widgets(cold)
    assert by_id["notes"]["data"]["status"] == "ready"
    assert by_id["notes"]["data"]["html"] == "<h1>Notes</h1>\n<p>Read <em>carefully</em>.</p>\n"
    assert by_id["notes"]["data"]["resultId"] is None
    for name in ("daily-returns", "table", "total"):
        assert by_id[name]["data"]["status"] in {"pending", "ready"}, by_id[name]["data"]
    # Three widgets over one report with three sets of values: three jobs, for a dashboard.
    made = jobs(sessions)
    assert len(made) == 3
    assert {j.trigger for j in made} == {"dashboard"}
    assert cold["filters"] == {"since": "2025-06-01"}

    warm = read(client, editor, dashboard_id, wait=30, **since)
    by_id = widgets(warm)
    assert {w["data"]["status"] for w in warm["widgets"]} == {"ready"}, [
        w["data"]["error"] for w in warm["widgets"]
    ]
    chart = by_id["daily-returns"]["data"]
    assert chart["parameters"]["startDate"] == "2025-06-01"
    assert chart["spec"]["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert chart["chartData"]
    svg = client.get(chart["svgUrl"].removeprefix("http://127.0.0.1:8080"), headers=editor.headers)
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    table = by_id["table"]["data"]
    assert table["pageSize"] == 50
    assert len(table["rows"]) == min(50, table["totalRows"])
    assert [c["name"] for c in table["columns"]][:2] == ["date", "strategy"]
    total = by_id["total"]["data"]
    every = client.get(
        f"/api/v1/reports/results/{total['resultId']}",
        params={"pageSize": 10_000},
        headers=editor.headers,
    ).json()["data"]["rows"]
    assert total["value"] == pytest.approx(sum(r["return"] for r in every))
    assert total["previousValue"] is None and total["change"] is None
    assert total["changePercent"] is None
    generated = [w["data"]["generatedAt"] for w in warm["widgets"] if w["data"]["generatedAt"]]
    assert warm["lastUpdated"] == min(generated)

    # Fresh results are served as they are: no job is made by reading again.
    again = read(client, editor, dashboard_id, **since)
    assert {w["data"]["status"] for w in again["widgets"]} == {"ready"}
    assert len(jobs(sessions)) == 3, [
        (j.status, j.created_at, j.created_by) for j in jobs(sessions)
    ]
    listed = client.get(f"/api/v1/reports/{monthly}/jobs", headers=editor.headers).json()
    assert {j["trigger"] for j in listed} == {"dashboard"}


def test_results_made_elsewhere_feed_widgets_with_the_same_values(
    client: TestClient, acme: tuple[Caller, str], sessions: sessionmaker[Session]
) -> None:
    editor, monthly = acme
    values = {"startDate": "2025-01-01", "endDate": "2025-12-31"}
    generated = client.post(
        f"/api/v1/reports/{monthly}/generate", json=values, headers=editor.headers
    ).json()
    assert generated["trigger"] == "api"
    deadline = time.monotonic() + 30
    while jobs(sessions)[0].status not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.05)
    body = board(monthly)
    body["widgets"] = [w for w in body["widgets"] if w["id"] == "total"]
    body["parameters"] = []
    document = read(client, editor, create(client, editor, body))
    data = document["widgets"][0]["data"]
    assert data["status"] == "ready"
    assert data["resultId"] == str(jobs(sessions)[0].result_id)
    assert len(jobs(sessions)) == 1


def test_thirty_viewers_of_a_cold_dashboard_make_one_job_per_feed(
    client: TestClient, acme: tuple[Caller, str], sessions: sessionmaker[Session]
) -> None:
    editor, monthly = acme
    dashboard_id = create(client, editor, board(monthly))
    url = f"/api/v1/dashboards/{dashboard_id}?p.since=2025-06-01"
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda _: client.get(url, headers=editor.headers), range(30)))
    assert [a.status_code for a in answers] == [200] * 30
    made = jobs(sessions)
    assert len(made) == 3, [(j.cache_key, j.status) for j in made]
    assert len({(j.report_id, j.cache_key) for j in made}) == 3
    # Every viewer was told about the same jobs.
    seen = {
        w["data"]["jobId"]
        for a in answers
        for w in a.json()["widgets"]
        if w["data"]["jobId"] is not None
    }
    assert seen <= {str(j.id) for j in made}
    final = read(client, editor, dashboard_id, wait=30, **{"p.since": "2025-06-01"})
    assert {w["data"]["status"] for w in final["widgets"]} == {"ready"}
    assert len(jobs(sessions)) == 3, [
        (j.status, j.created_at, j.created_by) for j in jobs(sessions)
    ]


# --- a report of our own, whose data the test changes ------------------------------------------


@pytest.fixture
def ledger(client: TestClient, tenancy: Tenancy, settings: Settings) -> tuple[Caller, str, Path]:
    """A tenant with a SQLite source holding one number, and a report reading it."""
    admin = tenancy.key("ledger", Role.admin, name="ada")
    folder = settings.source_dirs_for("ledger")[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ledger-{uuid.uuid4().hex}.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE entries (label TEXT, amount REAL)")
        db.executemany("INSERT INTO entries VALUES (?, ?)", [("a", 4.0), ("b", 6.0)])
    made = client.post(
        "/api/v1/datasources",
        json={"name": "ledger", "url": f"sqlite:///{path}"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    report = client.post(
        "/api/v1/reports",
        json={
            "name": "Ledger",
            "category": "finance",
            "dataSource": "ledger",
            "query": "SELECT label, amount FROM entries WHERE label <> :skip ORDER BY label",
            "parameters": [
                {"name": "skip", "label": "Skip", "type": "string", "defaultValue": "none"},
                {
                    "name": "kind",
                    "label": "Kind",
                    "type": "enum",
                    "defaultValue": "all",
                    "options": [{"value": "all", "label": "All"}, {"value": "a", "label": "A"}],
                },
            ],
            "visualizations": [
                {"id": "bars", "type": "bar", "dataMapping": {"x": "label", "y": "amount"}}
            ],
        },
        headers=admin.headers,
    )
    assert report.status_code == 201, report.text
    return admin, str(report.json()["id"]), path


def metric(rid: str, widget_id: str = "total", **source: Any) -> dict[str, Any]:
    return {
        "id": widget_id,
        "type": "metric",
        "source": {"reportId": rid, "column": "amount", "aggregate": "sum", **source},
        "position": {"x": 0, "y": 0},
        "size": {"width": 3, "height": 2},
    }


def test_a_stale_result_is_served_while_it_refreshes_and_metrics_show_the_change(
    client: TestClient, ledger: tuple[Caller, str, Path], sessions: sessionmaker[Session]
) -> None:
    admin, rid, path = ledger
    dashboard_id = create(client, admin, {"name": "Books", "widgets": [metric(rid)]})
    first = read(client, admin, dashboard_id, wait=30)["widgets"][0]["data"]
    assert first["status"] == "ready"
    assert first["value"] == 10.0
    assert first["previousValue"] is None

    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET amount = 9 WHERE label = 'b'")
    age_results(sessions, 301)  # past the default refresh interval of 300 s
    stale = read(client, admin, dashboard_id)["widgets"][0]["data"]
    assert stale["status"] == "refreshing"
    assert stale["value"] == 10.0  # the previous result, while the new one is made
    assert stale["resultId"] == first["resultId"]
    assert stale["jobId"] is not None

    fresh = read(client, admin, dashboard_id, wait=30)["widgets"][0]["data"]
    assert fresh["status"] == "ready"
    assert fresh["resultId"] != first["resultId"]
    assert fresh["value"] == 13.0
    assert fresh["previousValue"] == 10.0
    assert fresh["change"] == 3.0
    assert fresh["changePercent"] == pytest.approx(30.0)
    assert len(jobs(sessions, trigger="dashboard")) == 2


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("first", 4.0), ("sum", 10.0), ("avg", 5.0), ("min", 4.0), ("max", 6.0), ("count", 2)],
)
def test_metric_aggregates(
    client: TestClient, ledger: tuple[Caller, str, Path], aggregate: str, expected: Any
) -> None:
    admin, rid, _ = ledger
    body = {"name": "Books", "widgets": [metric(rid, aggregate=aggregate)]}
    data = read(client, admin, create(client, admin, body), wait=30)["widgets"][0]["data"]
    assert data["status"] == "ready", data
    assert data["value"] == expected
    assert data["aggregate"] == aggregate


def test_a_metric_of_a_missing_or_text_column_fails_with_the_reason(
    client: TestClient, ledger: tuple[Caller, str, Path]
) -> None:
    admin, rid, _ = ledger
    body = {
        "name": "Books",
        "widgets": [
            metric(rid, "nope", column="amout"),
            metric(rid, "words", column="label", aggregate="avg") | {"position": {"x": 3, "y": 0}},
            metric(rid, "last", column="label", aggregate="max") | {"position": {"x": 6, "y": 0}},
        ],
    }
    by_id = widgets(read(client, admin, create(client, admin, body), wait=30))
    assert by_id["nope"]["data"]["status"] == "failed"
    assert "no column 'amout'" in by_id["nope"]["data"]["error"]
    assert "label, amount" in by_id["nope"]["data"]["error"]
    assert by_id["words"]["data"]["status"] == "failed"
    assert "avg needs a numeric column" in by_id["words"]["data"]["error"]
    assert (
        by_id["last"]["data"] | {"value": by_id["last"]["data"]["value"]} == by_id["last"]["data"]
    )
    assert by_id["last"]["data"]["value"] == "b"


def test_a_failing_report_is_shown_failed_and_not_rerun_on_every_read(
    client: TestClient, ledger: tuple[Caller, str, Path], sessions: sessionmaker[Session]
) -> None:
    admin, rid, path = ledger
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE entries")
    dashboard_id = create(client, admin, {"name": "Books", "widgets": [metric(rid)]})
    data = read(client, admin, dashboard_id, wait=30)["widgets"][0]["data"]
    assert data["status"] == "failed"
    assert "entries" in data["error"]
    again = read(client, admin, dashboard_id)["widgets"][0]["data"]
    assert again["status"] == "failed"
    assert len(jobs(sessions)) == 1


def test_a_deleted_report_makes_its_widgets_unavailable(
    client: TestClient, ledger: tuple[Caller, str, Path]
) -> None:
    admin, rid, _ = ledger
    dashboard_id = create(client, admin, {"name": "Books", "widgets": [metric(rid)]})
    assert client.delete(f"/api/v1/reports/{rid}", headers=admin.headers).status_code == 204
    data = read(client, admin, dashboard_id)["widgets"][0]["data"]
    assert data["status"] == "unavailable"
    assert data["error"] == "its report was deleted"


def filtered_board(rid: str) -> dict[str, Any]:
    return {
        "name": "Books",
        "widgets": [
            {
                "id": "rows",
                "type": "report",
                "source": {"reportId": rid},
                "position": {"x": 0, "y": 0},
                "size": {"width": 6, "height": 3},
            },
            metric(rid) | {"position": {"x": 6, "y": 0}},
        ],
        "parameters": [
            {
                "name": "skip",
                "label": "Leave out",
                "type": "string",
                "targets": [{"widgetId": "rows", "parameter": "skip"}],
            },
            {
                "name": "kind",
                "label": "Kind",
                "type": "enum",
                "defaultValue": "all",
                "options": [{"value": "all", "label": "All"}, {"value": "a", "label": "A"}],
                "targets": [{"widgetId": "rows", "parameter": "kind"}],
            },
        ],
    }


def test_filter_values_replace_the_targeted_widgets_parameters_only(
    client: TestClient, ledger: tuple[Caller, str, Path]
) -> None:
    admin, rid, _ = ledger
    dashboard_id = create(client, admin, filtered_board(rid))
    document = read(client, admin, dashboard_id, wait=30, **{"p.skip": "a"})
    assert document["filters"] == {"skip": "a", "kind": "all"}
    by_id = widgets(document)
    assert by_id["rows"]["data"]["parameters"] == {"kind": "all", "skip": "a"}
    assert by_id["rows"]["data"]["rows"] == [{"label": "b", "amount": 6.0}]
    assert by_id["total"]["data"]["parameters"] == {"kind": "all", "skip": "none"}
    assert by_id["total"]["data"]["value"] == 10.0
    # A hostile value is bound, never run.
    hostile = read(client, admin, dashboard_id, wait=30, **{"p.skip": "x' OR '1'='1"})
    assert widgets(hostile)["rows"]["data"]["totalRows"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"p.nope": "1"}, "p.nope"),
        ({"p.kind": "b"}, "p.kind"),
        ({"p.skip": "x" * 10_001}, "p.skip"),
        ({"wait": "-1"}, "wait"),
        ({"wait": "31"}, "wait"),
        ({"wait": "soon"}, "wait"),
    ],
)
def test_bad_filter_values_and_waits_are_422s_naming_them(
    client: TestClient,
    ledger: tuple[Caller, str, Path],
    sessions: sessionmaker[Session],
    params: dict[str, str],
    field: str,
) -> None:
    admin, rid, _ = ledger
    dashboard_id = create(client, admin, filtered_board(rid))
    response = client.get(
        f"/api/v1/dashboards/{dashboard_id}", params=params, headers=admin.headers
    )
    assert errors_of(response) == [field]
    assert jobs(sessions) == []


def test_typed_filters_read_their_query_text(client: TestClient, acme: tuple[Caller, str]) -> None:
    editor, monthly = acme
    dashboard_id = create(client, editor, board(monthly))
    document = read(client, editor, dashboard_id, **{"p.since": "2025-03-01"})
    assert document["filters"] == {"since": "2025-03-01"}
    data = widgets(document)["daily-returns"]["data"]
    assert data["parameters"]["startDate"] == "2025-03-01"
    bad = client.get(
        f"/api/v1/dashboards/{dashboard_id}", params={"p.since": "March"}, headers=editor.headers
    )
    assert errors_of(bad) == ["p.since"]


def test_refresh_queues_every_feed_once_per_30_seconds(
    client: TestClient,
    ledger: tuple[Caller, str, Path],
    tenancy: Tenancy,
    sessions: sessionmaker[Session],
) -> None:
    admin, rid, _ = ledger
    dashboard_id = create(client, admin, filtered_board(rid))
    read(client, admin, dashboard_id, wait=30)
    assert len(jobs(sessions)) == 1  # the table and the metric read the same values

    url = f"/api/v1/dashboards/{dashboard_id}/refresh"
    viewer = tenancy.key("ledger", Role.viewer, name="vic")
    assert client.post(url, headers=viewer.headers).status_code == 403
    first = client.post(url, headers=admin.headers)
    assert first.status_code == 202, first.text
    queued = first.json()
    assert sorted(j["widgetId"] for j in queued["jobs"]) == ["rows", "total"]
    assert len({j["jobId"] for j in queued["jobs"]}) == 1
    assert len(jobs(sessions)) == 2  # fresh results or not

    refused = client.post(url, headers=admin.headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 30

    def window_opened(seconds_ago: float) -> None:
        with sessions.begin() as session:
            session.execute(
                update(Dashboard)
                .where(Dashboard.id == uuid.UUID(dashboard_id))
                .values(refreshed_at=datetime.now(UTC) - timedelta(seconds=seconds_ago))
            )

    window_opened(25)  # a refused call does not restart the window
    again = client.post(url, headers=admin.headers)
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) <= 5
    assert len(jobs(sessions)) == 2  # refused calls queue nothing
    window_opened(31)
    deadline = time.monotonic() + 30
    while any(j.status not in FINISHED for j in jobs(sessions)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.post(url, headers=admin.headers).status_code == 202
    assert len(jobs(sessions)) == 3, [
        (j.status, j.created_at, j.created_by) for j in jobs(sessions)
    ]


def test_another_tenants_dashboard_is_404_for_reads_and_refreshes(
    client: TestClient, ledger: tuple[Caller, str, Path], tenancy: Tenancy
) -> None:
    admin, rid, _ = ledger
    dashboard_id = create(client, admin, {"name": "Books", "widgets": [metric(rid)]})
    other = tenancy.key("globex", Role.admin, name="gil")
    url = f"/api/v1/dashboards/{dashboard_id}"
    assert client.get(url, headers=other.headers).status_code == 404
    assert client.post(f"{url}/refresh", headers=other.headers).status_code == 404


def test_text_widgets_are_sanitised_html(
    client: TestClient, ledger: tuple[Caller, str, Path]
) -> None:
    admin, _, _ = ledger
    hostile = (
        "**bold** <script>alert(1)</script> [x](javascript:alert(1)) "
        '<img src=x onerror="alert(1)"> [ok](https://example.com "t") '
        "[mail](mailto:a@example.com) ![p](data:image/png;base64,AAAA)\n\n"
        '<div style="color:red">styled</div>'
    )
    body = {
        "name": "Notes",
        "widgets": [
            {
                "id": "n",
                "type": "text",
                "source": {"markdown": hostile},
                "position": {"x": 0, "y": 0},
                "size": {"width": 12, "height": 2},
            }
        ],
    }
    data = read(client, admin, create(client, admin, body))["widgets"][0]["data"]
    html = data["html"]
    assert data["status"] == "ready"
    assert data["resultId"] is None and data["generatedAt"] is None and data["parameters"] is None
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" title="t" rel="noopener noreferrer">ok</a>' in html
    assert 'href="mailto:a@example.com"' in html
    tags = re.findall(r"<[a-z][^>]*>", html)  # real tags: escaped text starts with &lt;
    assert {t.split()[0].strip("<>") for t in tags} <= {"p", "strong", "a", "img"}
    for banned in ("script", "javascript", "onerror", "style", "data:", "src="):
        assert not [t for t in tags if banned in t], (banned, tags)
    assert "&lt;script&gt;" in html  # shown as text


def test_every_read_counts_an_access(
    client: TestClient, ledger: tuple[Caller, str, Path], sessions: sessionmaker[Session]
) -> None:
    admin, rid, _ = ledger
    dashboard_id = create(client, admin, {"name": "Books", "widgets": [metric(rid)]})
    for _ in range(3):
        read(client, admin, dashboard_id)
    listed = client.get("/api/v1/dashboards", headers=admin.headers).json()
    assert listed[0]["accessCount"] == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ReportJob)) == 1
