"""The delivery side of the API: tenant settings, recipients' secrets and domains,
unsubscribe links and signed artifact links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.deliveries import links
from broadsheet.models import Role
from broadsheet.runtime import Runtime
from broadsheet.schedules import ticker
from tests.factories import Caller, Tenancy
from tests.schedules.test_ticker import create, executions_of, set_next_run, settle

SCHEDULES = "/api/v1/schedules"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def test_tenant_settings(client: TestClient, admin: Caller, tenancy: Tenancy) -> None:
    first = client.get("/api/v1/tenant", headers=admin.headers)
    assert first.status_code == 200
    secret = first.json()["webhookSecret"]
    assert (
        len(secret) >= 32
        and client.get("/api/v1/tenant", headers=admin.headers).json()["webhookSecret"] == secret
    )  # made once, then kept
    changed = client.patch(
        "/api/v1/tenant",
        json={"allowedEmailDomains": ["Example.COM", "example.com", "corp.test"]},
        headers=admin.headers,
    )
    assert changed.json()["allowedEmailDomains"] == ["corp.test", "example.com"]
    bad = client.patch(
        "/api/v1/tenant", json={"allowedEmailDomains": ["not a domain"]}, headers=admin.headers
    )
    assert bad.status_code == 422 and "allowedEmailDomains" in bad.text
    rotated = client.post("/api/v1/tenant/webhook-secret", headers=admin.headers).json()
    assert rotated["webhookSecret"] != secret
    viewer = tenancy.key("acme", Role.viewer, name="v")
    assert client.get("/api/v1/tenant", headers=viewer.headers).status_code == 403


def test_email_recipients_must_be_at_an_allowed_domain(client: TestClient, admin: Caller) -> None:
    client.patch("/api/v1/tenant", json={"allowedEmailDomains": ["example.com"]},
                 headers=admin.headers)  # fmt: skip
    ok = [{"type": "email", "address": "ann@example.com"},
          {"type": "email", "address": "bob@eu.example.com"}]  # fmt: skip
    create(client, admin, recipients=ok)
    evil = [{"type": "email", "address": "eve@example.com.evil.test"}]
    refused = client.post(SCHEDULES, json=_body(client, admin, evil), headers=admin.headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "recipients[0].address"


def _body(client: TestClient, admin: Caller, recipients: list[dict[str, str]]) -> dict[str, object]:
    from tests.jobs.helpers import report_id

    return {
        "reportId": report_id(client, admin, "Usage Summary"),
        "name": "Weekly",
        "schedule": "0 9 * * 1",
        "parameters": {"startDate": "2024-01-01", "endDate": "2024-01-07"},
        "recipients": recipients,
        "exportFormat": "csv",
    }


def test_webhook_secrets_are_write_only_and_kept(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    hook = {"type": "webhook", "address": "https://hooks.example.com/in",
            "secret": "s3cret-s3cret-s3cret"}  # fmt: skip
    made = create(client, admin, recipients=[hook])
    assert made["recipients"] == [
        {"type": "webhook", "address": "https://hooks.example.com/in", "hasSecret": True}
    ]
    with sessions() as session:
        row = session.get(models.ReportSchedule, uuid.UUID(made["id"]))
        assert row is not None
        stored = row.recipients[0]["secret"]
    assert "s3cret" not in stored  # encrypted at rest
    body = _body(client, admin, [{"type": "webhook", "address": hook["address"]}])
    again = client.put(f"{SCHEDULES}/{made['id']}", json=body, headers=admin.headers)
    assert again.status_code == 200, again.text
    assert again.json()["recipients"][0]["hasSecret"] is True  # saved back without it: kept
    short = _body(client, admin, [{**hook, "secret": "short"}])
    assert client.post(SCHEDULES, json=short, headers=admin.headers).status_code == 422


def test_unsubscribe_then_added_again(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
) -> None:
    schedule = create(client, admin, recipients=[{"type": "email", "address": "Ann@Example.com"}])
    with sessions() as session:
        tenant = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "acme"))
    assert tenant is not None
    token = links.unsubscribe_token(runtime.settings.resolved_secret_key, tenant, "Ann@Example.com")
    page = client.get(f"/api/v1/unsubscribe/{token}")
    assert page.status_code == 200 and "ann@example.com" in page.text
    with sessions() as session:  # a GET changes nothing: mail scanners follow links
        assert session.scalars(select(models.EmailUnsubscribe)).all() == []
    done = client.post(f"/api/v1/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert client.post(f"/api/v1/unsubscribe/{token}").status_code == 200  # twice is fine
    with sessions() as session:
        rows = session.scalars(select(models.EmailUnsubscribe)).all()
        assert [r.address for r in rows] == ["ann@example.com"]
    audit = client.get("/api/v1/audit?action=email.unsubscribed", headers=admin.headers).json()
    assert len(audit) == 1 and audit[0]["details"]["address"] == "ann@example.com"
    assert client.post(f"/api/v1/unsubscribe/{token}x").status_code == 403
    # Removed and added back to the schedule: the address gets its emails again.
    body = _body(client, admin, [])
    client.put(f"{SCHEDULES}/{schedule['id']}", json=body, headers=admin.headers)
    body["recipients"] = [{"type": "email", "address": "ann@example.com"}]
    client.put(f"{SCHEDULES}/{schedule['id']}", json=body, headers=admin.headers)
    with sessions() as session:
        assert session.scalars(select(models.EmailUnsubscribe)).all() == []


def test_signed_artifact_links(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    tenancy: Tenancy,
) -> None:
    schedule = create(client, admin)
    due = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
    set_next_run(sessions, schedule["id"], due)
    ticker.tick(runtime, due + timedelta(seconds=5))
    (execution,) = executions_of(sessions, schedule["id"])
    assert settle(runtime, sessions, execution.id) == "completed"
    (execution,) = executions_of(sessions, schedule["id"])
    secret = runtime.settings.resolved_secret_key
    later = datetime.now(UTC) + timedelta(days=1)
    token = links.artifact_token(secret, execution.tenant_id, execution.id, later)
    got = client.get(f"/api/v1/artifacts/{token}")  # no API key
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.content == runtime.storage.local_path(execution.file_url or "").read_bytes()
    assert "usage-summary_2024-05-06_1400.csv" in got.headers["content-disposition"]
    tampered = client.get(f"/api/v1/artifacts/{token[:-3]}abc")
    assert tampered.status_code == 403
    assert tampered.headers["content-type"] == "application/problem+json"
    assert "Usage" not in tampered.text
    old = links.artifact_token(secret, execution.tenant_id, execution.id,
                               datetime.now(UTC) - timedelta(seconds=1))  # fmt: skip
    assert client.get(f"/api/v1/artifacts/{old}").status_code == 410
    tenancy.demo("other")
    with sessions() as session:
        other = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "other"))
    assert other is not None
    foreign = links.artifact_token(secret, other, execution.id, later)
    assert client.get(f"/api/v1/artifacts/{foreign}").status_code == 404
    # The one download that answered the file is in the audit log; no key: a system actor.
    audit = client.get("/api/v1/audit?action=export.downloaded", headers=admin.headers).json()
    assert [(a["object"]["id"], a["actor"]["type"]) for a in audit] == [
        (str(execution.id), "system")
    ]


@pytest.mark.parametrize(
    ("recipient", "problem"),
    [
        ({"type": "webhook", "address": "https://x.example.com/\r\nX-Evil: 1"}, "control"),
        ({"type": "email", "address": "a\u0000b@example.com"}, "control"),
        ({"type": "webhook", "address": "https://example.com/" + "\U0001f600" * 300}, "bytes"),
        ({"type": "webhook", "address": "https://example.com:99999/x"}, "URL"),
        ({"type": "webhook", "address": "https://exa mple.com/x"}, "URL"),
        ({"type": "webhook", "address": "ftp://example.com/x"}, "URL"),
        ({"type": "slack", "address": "http://hooks.example.com/x"}, "https"),
        ({"type": "email", "address": "x" * 65 + "@example.com"}, "not an email"),
        ({"type": "s3", "address": "s3://Bad_Bucket/x"}, "s3://"),
    ],
)
def test_hostile_recipients_are_422_naming_the_address(
    client: TestClient, admin: Caller, recipient: dict[str, str], problem: str
) -> None:
    refused = client.post(SCHEDULES, json=_body(client, admin, [recipient]), headers=admin.headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    (error,) = refused.json()["errors"]
    assert error["field"] == "recipients[0].address" and problem in error["message"]


def test_only_allowed_buckets(
    client: TestClient, admin: Caller, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    restricted = settings.model_copy(update={"s3_allowed_buckets": ["reports-acme"]})
    with TestClient(create_app(restricted, prepare=False)) as limited:
        ok = _body(limited, admin, [{"type": "s3", "address": "s3://reports-acme/weekly"}])
        assert limited.post(SCHEDULES, json=ok, headers=admin.headers).status_code == 201
        other = _body(limited, admin, [{"type": "s3", "address": "s3://someone-else/x"}])
        refused = limited.post(SCHEDULES, json=other, headers=admin.headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "recipients[0].address"
    own = settings.model_copy(update={"storage_url": "s3://broadsheet-files/prod"})
    with TestClient(create_app(own, prepare=False)) as storing:
        into_storage = _body(storing, admin, [{"type": "s3", "address": "s3://broadsheet-files"}])
        refused = storing.post(SCHEDULES, json=into_storage, headers=admin.headers)
    assert refused.status_code == 422 and "other buckets" in refused.text


def test_viewers_do_not_see_webhook_urls(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    hook = "https://hooks.slack.com/services/T000/B000/SECRETPART"
    both = [{"type": "slack", "address": hook}, {"type": "email", "address": "ann@example.com"}]
    made = create(client, admin, recipients=both)
    assert made["recipients"][0]["address"] == hook  # the editor who may change it
    viewer = tenancy.key("acme", Role.viewer, name="v")
    seen = client.get(f"{SCHEDULES}/{made['id']}", headers=viewer.headers).json()
    assert [r["address"] for r in seen["recipients"]] == [
        "https://hooks.slack.com/…",
        "ann@example.com",
    ]
    assert "SECRETPART" not in client.get(SCHEDULES, headers=viewer.headers).text


def test_a_long_address_can_unsubscribe(
    client: TestClient, admin: Caller, sessions: sessionmaker[Session], runtime: Runtime
) -> None:
    address = "a.very.long.mailbox.name.for.someone.in.finance@reports.example-corporation.com"
    assert len(address) > 64  # longer than the audit log's actor column
    with sessions() as session:
        tenant = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "acme"))
    assert tenant is not None
    token = links.unsubscribe_token(runtime.settings.resolved_secret_key, tenant, address)
    assert client.post(f"/api/v1/unsubscribe/{token}").status_code == 200
    assert client.post(f"/api/v1/unsubscribe/{token}").status_code == 200
    with sessions() as session:
        assert session.scalars(select(models.EmailUnsubscribe.address)).all() == [address]


def test_a_schedule_read_can_be_sent_back_as_it_is(client: TestClient, admin: Caller) -> None:
    hook = {"type": "webhook", "address": "https://hooks.example.com/in",
            "secret": "s3cret-s3cret-s3cret"}  # fmt: skip
    made = create(client, admin, recipients=[hook])
    read = client.get(f"{SCHEDULES}/{made['id']}", headers=admin.headers).json()
    again = client.put(f"{SCHEDULES}/{made['id']}", json=read, headers=admin.headers)
    assert again.status_code == 200, again.text
    assert again.json()["recipients"] == read["recipients"]  # the secret kept, still hidden
