"""Schedules that send a dashboard (issue 14): saved against the dashboard's filters, fired with
the filter values of their instant, the dashboard's PDF made once per execution by a real
executor and Typst, and delivered to a real SMTP server and HTTP receiver — on SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pdfplumber
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.deliveries import notices
from broadsheet.deliveries import service as deliveries
from broadsheet.jobs.executors import Executor
from broadsheet.kit.time import utc_now
from broadsheet.models import Role
from broadsheet.runtime import Runtime
from broadsheet.schedules import dashboard_runs, executions, ticker
from tests.deliveries.httpserver import Recorded, RecordingServer, Reply
from tests.deliveries.test_delivery_flow import OWNER, Deliverer, delivering  # noqa: F401
from tests.deliveries.test_email import Inbox, serve  # noqa: F401
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id
from tests.schedules.test_ticker import executions_of, set_next_run

SCHEDULES = "/api/v1/schedules"
DASHBOARDS = "/api/v1/dashboards"
SCORECARD = "Strategy Scorecard"
BOARD = "Desk Overview"


def board(scorecard: str) -> dict[str, Any]:
    """A text widget and a table of the scorecard, whose start date the ``since`` filter
    sets; three more filters target nothing (their values are still the schedule's)."""
    return {
        "name": BOARD,
        "timezone": "UTC",
        "widgets": [
            {
                "id": "notes",
                "type": "text",
                "title": "Notes",
                "source": {"markdown": "# Desk notes\n\nRebalance the momentum book on Friday.\n"},
                "position": {"x": 0, "y": 0},
                "size": {"width": 12, "height": 2},
            },
            {
                "id": "scorecard",
                "type": "report",
                "title": "Scorecard",
                "source": {"reportId": scorecard, "parameters": {"endDate": "{{today()}}"}},
                "position": {"x": 0, "y": 2},
                "size": {"width": 12, "height": 4},
            },
        ],
        "parameters": [
            {
                "name": "since",
                "label": "Since",
                "type": "date",
                "defaultValue": "{{today().minusDays(30)}}",
                "targets": [{"widgetId": "scorecard", "parameter": "startDate"}],
            },
            {
                "name": "desk",
                "label": "Desk",
                "type": "enum",
                "options": [
                    {"value": "eq", "label": "Equities"},
                    {"value": "fi", "label": "Fixed income"},
                ],
                "defaultValue": "eq",
            },
            {"name": "top", "label": "Top", "type": "integer", "defaultValue": 5},
            {"name": "closing", "label": "Closing only", "type": "boolean"},
        ],
    }


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


@pytest.fixture
def dashboard(client: TestClient, admin: Caller) -> str:
    created = client.post(
        DASHBOARDS, json=board(report_id(client, admin, SCORECARD)), headers=admin.headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture
def executor(client: TestClient) -> Executor:
    """The app's local executor: it runs the widgets' jobs (dispatch wakes its poller)."""
    found: Executor = client.app.state.executor  # type: ignore[attr-defined]
    return found


def body(dashboard_id: str, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "dashboardId": dashboard_id,
        "name": "Morning desk",
        "schedule": "0 7 * * *",
        "timezone": "UTC",
        "parameters": {"since": "{{today().minusDays(7)}}", "desk": "fi"},
        "recipients": [],
        "exportFormat": "pdf",
    }
    payload.update(changes)
    return payload


def create(client: TestClient, caller: Caller, dashboard_id: str, **changes: Any) -> dict[str, Any]:
    response = client.post(SCHEDULES, json=body(dashboard_id, **changes), headers=caller.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


def fire(runtime: Runtime, sessions: sessionmaker[Session], schedule: dict[str, Any],
         due: datetime) -> models.ReportExecution:  # fmt: skip
    set_next_run(sessions, schedule["id"], due)
    assert ticker.tick(runtime, due + timedelta(seconds=5)) == []  # no job of its own
    (execution,) = executions_of(sessions, schedule["id"])
    return execution


def execution_row(
    sessions: sessionmaker[Session], execution_id: uuid.UUID
) -> models.ReportExecution:
    with sessions() as session:
        row = session.get(models.ReportExecution, execution_id)
        assert row is not None
        return row


def pdf_text(content: bytes) -> str:
    with pdfplumber.open(io.BytesIO(content)) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def test_a_schedule_names_one_report_or_one_dashboard_of_its_tenant(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    tenancy: Tenancy,
    sessions: sessionmaker[Session],
) -> None:
    def post(payload: dict[str, Any]) -> Any:
        return client.post(SCHEDULES, json=payload, headers=admin.headers)

    neither = body(dashboard)
    del neither["dashboardId"]
    assert fields(post(neither)) == ["reportId"]
    both = body(dashboard, reportId=report_id(client, admin, SCORECARD))
    assert fields(post(both)) == ["dashboardId"]
    assert fields(post(body(str(uuid.uuid4())))) == ["dashboardId"]
    tenancy.demo("globex")
    other = tenancy.key("globex")
    theirs = client.post(
        DASHBOARDS, json=board(report_id(client, other, SCORECARD)), headers=other.headers
    ).json()["id"]
    assert fields(post(body(theirs))) == ["dashboardId"]  # another tenant's is unknown here
    assert fields(post(body(dashboard, exportFormat="csv"))) == ["exportFormat"]
    for values, field in [
        ({"region": "south"}, "parameters.region"),  # no such filter
        ({"since": "last tuesday"}, "parameters.since"),
        ({"since": "{{today().fortnightAgo()}}"}, "parameters.since"),  # a bad template
        ({"since": "week of {{today()}}"}, "parameters.since"),  # text, not a date
        ({"desk": "commodities"}, "parameters.desk"),  # not one of the options
        ({"top": 2.5}, "parameters.top"),  # an integer filter
        ({"top": "5"}, "parameters.top"),  # a JSON number, not text
        ({"closing": "yes"}, "parameters.closing"),
    ]:
        assert fields(post(body(dashboard, parameters=values))) == [field], values
    recipient = {"type": "email", "address": "ann@example.com", "parameters": {"desk": "x"}}
    assert fields(post(body(dashboard, recipients=[recipient]))) == [
        "recipients[0].parameters.desk"
    ]
    viewer = tenancy.key("acme", Role.viewer, name="vera")
    assert client.post(SCHEDULES, json=body(dashboard), headers=viewer.headers).status_code == 403
    with sessions() as session:  # nothing was saved (the demo's own schedules are there)
        saved = select(models.ReportSchedule).where(models.ReportSchedule.name == "Morning desk")
        assert session.scalars(saved).all() == []


def test_a_dashboard_schedule_as_answered_listed_and_changed(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    tenancy: Tenancy,
    sessions: sessionmaker[Session],
) -> None:
    created = create(client, admin, dashboard)
    assert created["dashboardId"] == dashboard and created["reportId"] is None
    assert created["exportFormat"] == "pdf"
    first = created["preview"][0]
    fired_on = datetime.fromisoformat(first["utc"]).date()
    # The schedule's values (its template at the fire's instant), then the defaults.
    assert first["parameters"] == {
        "since": (fired_on - timedelta(days=7)).isoformat(),
        "desk": "fi",
        "top": 5,
    }
    got = client.get(f"{SCHEDULES}/{created['id']}", headers=admin.headers).json()
    assert got == created
    report_schedule = client.post(SCHEDULES, headers=admin.headers, json={
        "reportId": report_id(client, admin, SCORECARD), "name": "Scorecard",
        "schedule": "0 9 * * *",
        "parameters": {"startDate": "{{today().minusDays(7)}}", "endDate": "{{today()}}"},
    }).json()  # fmt: skip
    assert report_schedule["dashboardId"] is None and report_schedule["reportId"]
    listed = {s["id"]: s for s in client.get(SCHEDULES, headers=admin.headers).json()}
    assert listed[created["id"]]["dashboardId"] == dashboard
    assert listed[report_schedule["id"]]["dashboardId"] is None
    with sessions() as session:
        view = session.get(models.ScheduledReportView, uuid.UUID(created["id"]))
        assert view is not None
        assert (view.dashboard_id, view.report_id) == (uuid.UUID(dashboard), None)
        assert view.report_name == BOARD  # what the schedule sends, by name

    # What a GET answered goes back as a PUT.
    changed = client.put(f"{SCHEDULES}/{created['id']}", headers=admin.headers,
                         json=dict(got, name="Evening desk"))  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["dashboardId"] == dashboard and changed.json()["name"] == "Evening desk"
    # A schedule may change what it sends: now the report.
    to_report = dict(got, dashboardId=None, reportId=report_schedule["reportId"],
                     parameters=report_schedule["parameters"])  # fmt: skip
    switched = client.put(f"{SCHEDULES}/{created['id']}", json=to_report, headers=admin.headers)
    assert switched.status_code == 200, switched.text
    assert switched.json()["dashboardId"] is None
    assert switched.json()["reportId"] == report_schedule["reportId"]
    with sessions() as session:
        view = session.get(models.ScheduledReportView, uuid.UUID(created["id"]))
        assert view is not None and view.dashboard_id is None and view.report_name == SCORECARD

    tenancy.demo("globex")
    other = tenancy.key("globex")
    assert client.get(f"{SCHEDULES}/{created['id']}", headers=other.headers).status_code == 404


def test_filter_templates_resolve_at_the_scheduled_instant(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    executor: Executor,
) -> None:
    # 03:30 UTC on 6 May is still 5 May in New York: the schedule's template is evaluated
    # there; the defaults it leaves out, in the dashboard's zone (UTC).
    due = datetime(2024, 5, 6, 3, 30, tzinfo=UTC)
    mine = create(client, admin, dashboard, timezone="America/New_York",
                  parameters={"since": "{{today().minusDays(7)}}"})  # fmt: skip
    defaults = create(client, admin, dashboard, name="Defaults only", parameters={})
    execution = fire(runtime, sessions, mine, due)
    assert execution.status == "running" and execution.job_id is None
    assert execution.parameters == {"since": "2024-04-28", "desk": "eq", "top": 5}
    assert fire(runtime, sessions, defaults, due).parameters == {
        "since": "2024-04-06",  # {{today().minusDays(30)}} on 6 May, UTC
        "desk": "eq",
        "top": 5,
    }
    before = utc_now()
    assert dashboard_runs.advance(runtime, executor) == 2
    with sessions() as session:
        jobs = session.scalars(
            select(models.ReportJob).where(models.ReportJob.created_at >= before)
        ).all()
        owner = session.scalar(select(models.User.id).where(models.User.email == OWNER))
    # One job per execution for the scorecard, with each fire's start date, made for the
    # schedule's owner, marked as a schedule's and queued with the scheduled runs.
    assert sorted(j.parameters["startDate"] for j in jobs if j.parameters) == [
        "2024-04-06",
        "2024-04-28",
    ]
    assert {(j.trigger, j.priority, j.created_by) for j in jobs} == {("schedule", "low", owner)}
    done = execution_row(sessions, execution.id)
    assert done.status == "completed" and done.file_url and done.file_size
    assert "2024-04-28" in pdf_text(runtime.storage.local_path(done.file_url).read_bytes())


def test_a_scheduled_dashboard_is_delivered_with_its_pdf(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    sessions: sessionmaker[Session],
    delivering: Deliverer,  # noqa: F811
    executor: Executor,
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox, webhook_allow_private=True, webhook_allow_http=True)
    hooks: list[Recorded] = []

    def receive(request: Recorded) -> Reply:
        hooks.append(request)
        return Reply(204)

    due = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    with RecordingServer(receive) as receiver:
        schedule = create(client, admin, dashboard, recipients=[
            {"type": "email", "address": "ann@example.com"},
            {"type": "email", "address": "bob@example.com"},
            {"type": "webhook", "address": f"{receiver.url}/hook",
             "secret": "a-long-enough-webhook-secret"},
        ], parameters={"since": "2025-10-01", "desk": "fi"})  # fmt: skip
        # (The demo data ends on 2025-12-31.)
        execution = fire(runtime, sessions, schedule, due)
        assert deliveries.advance(runtime) == 0  # nothing to send before the PDF is made
        assert dashboard_runs.advance(runtime, executor) == 1
        assert dashboard_runs.advance(runtime, executor) == 0  # made once
        made = execution_row(sessions, execution.id)
        assert made.status == "completed" and made.file_url
        pdf = runtime.storage.local_path(made.file_url).read_bytes()
        assert deliveries.advance(runtime) == 3
        assert deliveries.advance(runtime) == 0

    filename = f"desk-overview_{due.date().isoformat()}.pdf"
    assert sorted(r for m in inbox.received for r in m.rcpt_tos) == [
        "ann@example.com", "bob@example.com"]  # fmt: skip
    for received in inbox.received:
        message = received.message
        assert message["Subject"].startswith(f"{BOARD} — ")
        text = message.get_body(("plain",))
        assert text is not None
        words = text.get_content()
        assert BOARD in words and "View the dashboard" in words
        assert f"The dashboard's PDF is attached as {filename}" in words
        assert "desk: fi" in words  # the filter values it was made with
        assert "rows" not in words.splitlines()[1]  # a dashboard has no row count
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == filename
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content() == pdf  # the one PDF made for the execution
    printed = pdf_text(pdf)
    assert BOARD in printed
    assert "Desk notes" in printed and "Rebalance the momentum book on Friday." in printed
    assert "Scorecard" in printed and "Global Equity" in printed  # the table widget's rows
    assert "Fixed income" in printed  # the desk filter, by its option's label

    (hook,) = hooks
    payload = hook.json()
    assert payload["type"] == "dashboard.delivered"
    assert payload["dashboard"]["id"] == dashboard and payload["dashboard"]["name"] == BOARD
    assert "report" not in payload and "result" not in payload
    assert payload["artifact"]["filename"] == filename
    assert payload["parameters"]["desk"] == "fi"

    shown = client.get(f"/api/v1/executions/{execution.id}", headers=admin.headers).json()
    assert shown["status"] == "completed" and shown["jobId"] is None
    assert shown["attempts"] == 1
    assert {d["recipient"]: d["status"] for d in shown["deliveries"]} == {
        "ann@example.com": "sent",
        "bob@example.com": "sent",
        f"{receiver.url}/hook": "sent",
    }
    assert shown["artifact"]["format"] == "pdf"
    download = client.get(shown["artifact"]["href"], headers=admin.headers)
    assert download.status_code == 200 and download.content == pdf
    assert f'filename="{filename}"' in download.headers["content-disposition"]


def test_run_now_retries_and_two_builders_make_one_pdf(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    executor: Executor,
) -> None:
    schedule = create(client, admin, dashboard)
    started = client.post(f"{SCHEDULES}/{schedule['id']}/run", headers=admin.headers)
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["trigger"], run["status"], run["jobId"], run["attempts"]) == (
        "manual", "running", None, 1)  # fmt: skip
    execution_id = uuid.UUID(run["id"])

    # A scheduler died while making the PDF: its lease ran out with the build unfinished.
    with session_scope(sessions) as session:
        session.execute(
            update(models.ReportExecution)
            .where(models.ReportExecution.id == execution_id)
            .values(
                details={"attempts": [], "building": utc_now().isoformat()},
                next_attempt_at=utc_now() - timedelta(seconds=1),
            )
        )
    assert dashboard_runs.advance(runtime, executor) == 0
    interrupted = execution_row(sessions, execution_id)
    assert interrupted.status == "retrying" and interrupted.retry_count == 1
    assert interrupted.error_message == dashboard_runs.INTERRUPTED

    # The retry (base 0.01 s in tests) makes it due again; two schedulers race for it.
    deadline = utc_now() + timedelta(seconds=5)
    while execution_row(sessions, execution_id).status != "running":
        assert utc_now() < deadline
        executions.advance(runtime)
    made: list[int] = []
    racers = [
        threading.Thread(target=lambda: made.append(dashboard_runs.advance(runtime, executor)))
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(made) == [0, 1]
    done = execution_row(sessions, execution_id)
    assert done.status == "completed" and done.details is not None
    assert [a["status"] for a in done.details["attempts"]] == ["failed", "completed"]
    assert "building" not in done.details
    assert done.file_url is not None
    kept = runtime.storage.local_path(done.file_url)
    assert list(kept.parent.iterdir()) == [kept]  # the loser's PDF, if it made one, is gone
    listed = client.get(f"{SCHEDULES}/{schedule['id']}", headers=admin.headers).json()
    assert listed["lastRunStatus"] == "completed"


def test_the_last_interrupted_build_fails_and_the_owner_is_told(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    sessions: sessionmaker[Session],
    delivering: Deliverer,  # noqa: F811
    executor: Executor,
) -> None:
    inbox = Inbox()
    runtime = delivering(inbox)
    schedule = create(client, admin, dashboard)
    execution = fire(runtime, sessions, schedule, datetime(2024, 5, 6, 7, 0, tzinfo=UTC))
    with session_scope(sessions) as session:  # every retry used, and the last build died
        session.execute(
            update(models.ReportExecution)
            .where(models.ReportExecution.id == execution.id)
            .values(
                retry_count=runtime.settings.schedule_max_retries,
                details={"attempts": [], "building": utc_now().isoformat()},
                next_attempt_at=utc_now() - timedelta(seconds=1),
            )
        )
    assert dashboard_runs.advance(runtime, executor) == 0
    assert execution_row(sessions, execution.id).status == "failed"
    assert notices.advance(runtime) == 1
    (notice,) = inbox.received
    assert notice.rcpt_tos == [OWNER] and "failed" in notice.message["Subject"]
    assert dashboard_runs.INTERRUPTED in notice.message.get_content()


def test_a_deleted_dashboard_takes_its_schedule_and_nothing_in_flight_breaks(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    executor: Executor,
) -> None:
    recipients = [{"type": "email", "address": "ann@example.com"}]
    built = create(client, admin, dashboard, recipients=recipients)
    waiting = create(client, admin, dashboard, name="Not built yet", recipients=recipients)
    due = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    fire(runtime, sessions, built, due)
    assert dashboard_runs.advance(runtime, executor) == 1  # its deliveries are pending now
    fire(runtime, sessions, waiting, due)  # its PDF is due, not made
    with sessions() as session:
        assert len(session.scalars(select(models.ReportDelivery)).all()) == 1
    assert client.delete(f"{DASHBOARDS}/{dashboard}", headers=admin.headers).status_code == 204
    for schedule in (built, waiting):
        assert client.get(f"{SCHEDULES}/{schedule['id']}", headers=admin.headers).status_code == 404
    with sessions() as session:
        assert session.scalars(select(models.ReportExecution)).all() == []
        assert session.scalars(select(models.ReportDelivery)).all() == []
        # The read model lets them go too: lists never show a schedule that is gone.
        view = models.ScheduledReportView
        assert session.scalars(select(view).where(view.dashboard_id.is_not(None))).all() == []
    listed = client.get(SCHEDULES, headers=admin.headers).json()
    assert [s for s in listed if s["dashboardId"] is not None] == []
    # Every step of the scheduler finds nothing to do, and nothing fails.
    assert ticker.tick(runtime) == []
    assert executions.advance(runtime) == []
    assert dashboard_runs.advance(runtime, executor) == 0
    assert deliveries.advance(runtime) == 0
    assert notices.advance(runtime) == 0


@pytest.mark.parametrize(("policy", "expected"), [("run_once", 1), ("skip", 0)])
def test_misfire_policies_hold_for_dashboards(
    client: TestClient,
    admin: Caller,
    dashboard: str,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    policy: str,
    expected: int,
) -> None:
    schedule = create(client, admin, dashboard, schedule="0 * * * *", misfirePolicy=policy)
    stopped = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    set_next_run(sessions, schedule["id"], stopped)
    back = stopped + timedelta(hours=3, minutes=20)  # three hourly fires missed, and one more
    ticker.tick(runtime, back)
    ticker.tick(runtime, back + timedelta(seconds=5))
    runs = executions_of(sessions, schedule["id"])
    assert len(runs) == expected  # the latest only, or none: never a storm
    if expected:
        assert runs[0].scheduled_for == datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
        assert runs[0].parameters == {"since": "2024-04-29", "desk": "fi", "top": 5}
