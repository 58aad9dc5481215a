"""The audit trail through the real API: every kind of object's changes with who, where and
which request; explicit actions; filters, paging and CSV; tenants kept apart."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.audit import log as audit
from broadsheet.audit import tracking
from broadsheet.models import Role
from tests.factories import Caller, Tenancy, report_body
from tests.jobs.helpers import report_id, run
from tests.web.helpers import add_user, post_form, sign_in

AUDIT = "/api/v1/audit"
SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"  # base64 of 27 bytes


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def key_id(sessions: sessionmaker[Session], caller: Caller) -> str:
    with sessions() as session:
        found = session.scalar(
            select(models.ApiKey.id).where(models.ApiKey.prefix == caller.key[:10])
        )
    return str(found)


def entries(client: TestClient, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    response = client.get(AUDIT, params={"limit": 500, **params}, headers=caller.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def only(client: TestClient, caller: Caller, action: str, object_id: str) -> dict[str, Any]:
    (found,) = entries(client, caller, action=action, objectId=object_id)
    return found


def test_each_change_through_the_api_is_written_with_who_where_and_which_request(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    me = {"type": "key", "id": key_id(sessions, admin)}
    headers = {**admin.headers, "X-Request-ID": "req-report-1"}
    made = client.post("/api/v1/reports", json=report_body(name="Audited"), headers=headers)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    created = only(client, admin, "report.created", rid)
    assert created["actor"] == me and created["object"] == {"type": "report", "id": rid}
    assert created["requestId"] == "req-report-1" and created["ip"] == "testclient"
    assert created["changes"]["name"] == {"old": None, "new": "Audited"}
    assert len(created["hash"]) == 64 and created["tenantId"]

    put = client.put(
        f"/api/v1/reports/{rid}", json=report_body(name="Renamed"), headers=admin.headers
    )
    assert put.status_code == 200, put.text
    updated = only(client, admin, "report.updated", rid)
    assert updated["changes"]["name"] == {"old": "Audited", "new": "Renamed"}
    assert "updatedAt" not in updated["changes"]  # bookkeeping stays out
    assert client.delete(f"/api/v1/reports/{rid}", headers=admin.headers).status_code == 204
    deleted = only(client, admin, "report.deleted", rid)
    assert deleted["changes"]["name"]["old"] == "Renamed"


def test_secrets_are_named_never_shown(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    url = "postgresql://reporter:s3cr3t-pw@db.internal:5432/analytics"
    made = client.post(
        "/api/v1/datasources", json={"name": "wh", "url": url}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    created = only(client, admin, "data_source.created", sid)
    assert created["changes"]["url"] == {"changed": True}
    schedule = {
        "reportId": report_id(client, admin, "Monthly Performance Report"),
        "name": "Hooked",
        "schedule": "0 0 1 * *",
        "parameters": {"startDate": "2024-01-01", "endDate": "2024-01-31"},
        "recipients": [
            {"type": "webhook", "address": "https://hooks.example.com/x", "secret": SECRET}
        ],
        "exportFormat": "csv",
    }
    made = client.post("/api/v1/schedules", json=schedule, headers=admin.headers)
    assert made.status_code == 201, made.text
    (recipient,) = only(client, admin, "schedule.created", made.json()["id"])["changes"][
        "recipients"
    ]["new"]
    assert recipient["secret"] == "***"
    rotated = client.post("/api/v1/tenant/webhook-secret", headers=admin.headers)
    assert rotated.status_code == 200, rotated.text
    (tenant,) = entries(client, admin, action="tenant.updated")
    assert tenant["changes"] == {"webhookSecret": {"changed": True}}
    whole = client.get(AUDIT, params={"limit": 500}, headers=admin.headers).text
    assert "s3cr3t-pw" not in whole and SECRET not in whole


def test_dashboards_keys_and_tenant_settings_are_audited(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    board = {"name": "Board", "widgets": []}
    made = client.post("/api/v1/dashboards", json=board, headers=admin.headers)
    assert made.status_code == 201, made.text
    did = made.json()["id"]
    changed = client.put(
        f"/api/v1/dashboards/{did}", json={**made.json(), "name": "Board 2"}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    assert only(client, admin, "dashboard.updated", did)["changes"]["name"]["new"] == "Board 2"
    assert client.delete(f"/api/v1/dashboards/{did}", headers=admin.headers).status_code == 204
    assert only(client, admin, "dashboard.deleted", did)

    key = client.post("/api/v1/keys", json={"name": "ci", "role": "viewer"}, headers=admin.headers)
    assert key.status_code == 201, key.text
    kid = key.json()["id"]
    created = only(client, admin, "key.created", kid)
    assert created["changes"]["key"] == {"changed": True} and key.json()["key"] not in str(created)
    assert client.delete(f"/api/v1/keys/{kid}", headers=admin.headers).status_code == 204
    assert only(client, admin, "key.revoked", kid)["changes"]["revokedAt"]["old"] is None
    assert entries(client, admin, action="user.created")  # the key's user

    patched = client.patch(
        "/api/v1/tenant", json={"allowedEmailDomains": ["example.com"]}, headers=admin.headers
    )
    assert patched.status_code == 200, patched.text
    (tenant,) = entries(client, admin, action="tenant.updated")
    assert tenant["changes"]["allowedEmailDomains"]["new"] == ["example.com"]


def test_a_signed_in_person_and_a_failed_sign_in(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    person = add_user(sessions, role=Role.admin)
    assert sign_in(client, person.email, "not the password").status_code == 401
    (failed,) = entries(client, admin, action="auth.signin_failed")
    assert failed["object"] == {"type": "user", "id": str(person.user_id)}
    assert failed["ip"] == "testclient" and failed["actor"]["type"] == "system"
    assert sign_in(client, "nobody@acme.test", "whatever").status_code == 401
    assert len(entries(client, admin, action="auth.signin_failed")) == 1  # no account, no row
    assert sign_in(client, person.email).status_code == 303
    # A change made in the web UI is the signed-in person's.
    saved = post_form(
        client, "/admin/tenant", {"allowedEmailDomains": "example.org"}, "/admin/tenant"
    )
    assert saved.status_code < 400, saved.text
    # (The page made the tenant's webhook secret on first sight: a change of its own.)
    (changed,) = [
        e
        for e in entries(client, admin, action="tenant.updated")
        if "allowedEmailDomains" in e["changes"]
    ]
    assert changed["actor"] == {"type": "user", "id": str(person.user_id)}
    assert changed["changes"]["allowedEmailDomains"]["new"] == ["example.org"]
    page = client.get("/admin/audit")
    assert page.status_code == 200 and "auth.signin_failed" in page.text
    assert person.email in page.text  # the actor shown by name


def test_filters_paging_and_csv(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    made = client.post(
        "/api/v1/reports", json=report_body(name="=HYPERLINK(1)"), headers=admin.headers
    )
    rid = made.json()["id"]
    everything = entries(client, admin)
    assert len(everything) > 3
    assert [e["at"] for e in everything] == sorted((e["at"] for e in everything), reverse=True)
    mine = entries(client, admin, actor=f"key:{key_id(sessions, admin)}")
    assert [e["action"] for e in mine] == ["report.created"]
    system = entries(client, admin, actor="system")
    assert system and all(e["actor"]["type"] == "system" for e in system)
    assert entries(client, admin, objectType="report", objectId=rid) == mine
    assert entries(client, admin, subjectId=rid) == mine  # the older name
    at = mine[0]["at"]
    assert entries(client, admin, objectId=rid, **{"from": at}) == mine  # inclusive
    assert entries(client, admin, objectId=rid, to=at) == []  # exclusive
    paged = client.get(AUDIT, params={"limit": 2}, headers=admin.headers)
    assert len(paged.json()) == 2 and paged.headers["X-Total-Count"] == str(len(everything))

    response = client.get(AUDIT, params={"format": "csv", "objectId": rid}, headers=admin.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows] == ["report.created"]
    assert rows[0]["actorType"] == "key" and rows[0]["hash"] == mine[0]["hash"]
    assert "\"'=HYPERLINK(1)" not in rows[0]["changes"]  # the JSON cell starts with {: safe
    with sessions() as session:
        hostile = session.scalar(
            select(models.AuditEvent).where(models.AuditEvent.object_id == uuid.UUID(rid))
        )
        assert hostile is not None
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"actor": "robot:1"}, "actor"),
        ({"actor": "user"}, "actor"),
        ({"objectId": "12"}, "objectId"),
        ({"subjectId": "12"}, "subjectId"),
        ({"objectType": "spaceship"}, "objectType"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2024-13-01"}, "to"),
        ({"action": "report.exploded"}, "action"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_filters_are_422_naming_the_field(
    client: TestClient, admin: Caller, params: dict[str, str], field: str
) -> None:
    response = client.get(AUDIT, params=params, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"].split(".")[-1] for e in response.json()["errors"]]


def test_another_tenants_entries_never_appear(
    client: TestClient, admin: Caller, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    rid = client.post("/api/v1/reports", json=report_body(), headers=admin.headers).json()["id"]
    other = tenancy.key("globex")
    theirs = entries(client, other)
    assert theirs and all(e["tenantId"] != entries(client, admin)[0]["tenantId"] for e in theirs)
    assert entries(client, other, objectId=rid) == []
    csv_text = client.get(AUDIT, params={"format": "csv"}, headers=other.headers).text
    assert rid not in csv_text
    viewer = tenancy.key("acme", Role.viewer, name="viewer")
    assert client.get(AUDIT, headers=viewer.headers).status_code == 403


def test_every_audited_action_is_a_known_action() -> None:
    known = set(audit.AuditAction.__args__)  # type: ignore[attr-defined]
    for audited in tracking.AUDITED.values():
        for verb in ("created", "updated", "deleted", *audited.verbs.values()):
            assert f"{audited.object_type}.{verb}" in known


def test_an_export_download_is_written(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    rid = report_id(client, admin, "Usage Summary")
    job = run(client, admin, rid, {"startDate": "2024-01-01", "endDate": "2024-01-07"})
    assert job["status"] == "completed", job
    result_id = job["resultId"]
    url = f"/api/v1/reports/results/{result_id}/export"
    got = client.get(url, params={"format": "csv"}, headers=admin.headers)
    assert got.status_code == 200, got.text
    (downloaded,) = entries(client, admin, action="export.downloaded")
    assert downloaded["object"] == {"type": "result", "id": result_id}
    assert downloaded["details"] == {"format": "csv"}
    assert downloaded["actor"] == {"type": "key", "id": key_id(sessions, admin)}
    missing = client.get(url.replace(result_id, str(uuid.uuid4())), params={"format": "csv"},
                         headers=admin.headers)  # fmt: skip
    assert missing.status_code == 404
    assert len(entries(client, admin, action="export.downloaded")) == 1  # nothing was sent


def test_event_subscriptions_are_audited_their_secret_by_name(
    client: TestClient, admin: Caller
) -> None:
    secret = "a-secret-of-twenty-chars"
    body = {"url": "https://hooks.example.com/in", "types": ["broadsheet.job.failed"]}
    made = client.post("/api/v1/event-subscriptions", json={**body, "secret": secret},
                       headers=admin.headers)  # fmt: skip
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    created = only(client, admin, "event_subscription.created", sid)
    assert created["changes"]["secret"] == {"changed": True}
    assert created["changes"]["url"]["new"] == body["url"]
    changed = client.put(f"/api/v1/event-subscriptions/{sid}",
                         json={**body, "types": ["broadsheet.job.completed"]},
                         headers=admin.headers)  # fmt: skip
    assert changed.status_code == 200, changed.text
    updated = only(client, admin, "event_subscription.updated", sid)
    assert updated["changes"] == {
        "types": {"old": ["broadsheet.job.failed"], "new": ["broadsheet.job.completed"]}
    }  # the secret kept: not a change
    gone = client.delete(f"/api/v1/event-subscriptions/{sid}", headers=admin.headers)
    assert gone.status_code == 204
    assert only(client, admin, "event_subscription.deleted", sid)
    assert secret not in client.get(AUDIT, params={"limit": 500}, headers=admin.headers).text
