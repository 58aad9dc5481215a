"""Keys, roles and tenant isolation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import startup
from broadsheet.auth import service
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.kit.crypto import hash_api_key
from broadsheet.kit.time import utc_now
from broadsheet.models import ApiKey, Role, User
from tests.factories import Tenancy, report_body


def test_every_api_request_needs_a_valid_key(client: TestClient, tenancy: Tenancy) -> None:
    missing = client.get("/api/v1/reports")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in missing.json()["detail"]
    wrong = client.get("/api/v1/reports", headers={"Authorization": "Bearer bs_not-a-key"})
    assert wrong.status_code == 401
    basic = client.get("/api/v1/reports", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_only_the_hash_is_stored_and_revoked_keys_stop_working(
    client: TestClient, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    caller = tenancy.key("acme", Role.viewer)
    assert client.get("/api/v1/reports", headers=caller.headers).status_code == 200
    with session_scope(sessions) as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.key_hash == hash_api_key(caller.key)
        assert caller.key not in (row.key_hash, row.prefix)
        service.revoke_key(session, row.id)
    assert client.get("/api/v1/reports", headers=caller.headers).status_code == 401


@pytest.mark.parametrize(
    ("role", "reports_write", "sources_read"),
    [(Role.viewer, 403, 403), (Role.editor, 201, 403), (Role.admin, 201, 200)],
)
def test_roles(
    client: TestClient, tenancy: Tenancy, role: Role, reports_write: int, sources_read: int
) -> None:
    tenancy.demo("acme")
    caller = tenancy.key("acme", role)
    assert client.get("/api/v1/reports", headers=caller.headers).status_code == 200
    write = client.post("/api/v1/reports", json=report_body(), headers=caller.headers)
    assert write.status_code == reports_write
    assert client.get("/api/v1/datasources", headers=caller.headers).status_code == sources_read
    if role is Role.viewer:
        assert write.json()["detail"] == (
            "report.write (create, change and delete reports) needs the editor role; "
            "the key's user is viewer"
        )


def test_another_tenants_ids_answer_404(client: TestClient, tenancy: Tenancy) -> None:
    tenancy.demo("acme")
    tenancy.demo("globex")
    acme = tenancy.key("acme")
    globex = tenancy.key("globex")
    report = client.get("/api/v1/reports", headers=acme.headers).json()[0]["id"]
    source = client.get("/api/v1/datasources", headers=acme.headers).json()[0]["id"]

    assert client.get(f"/api/v1/reports/{report}", headers=globex.headers).status_code == 404
    put = client.put(f"/api/v1/reports/{report}", json=report_body(), headers=globex.headers)
    assert put.status_code == 404
    assert client.delete(f"/api/v1/reports/{report}", headers=globex.headers).status_code == 404
    for method in ("GET", "DELETE"):
        r = client.request(method, f"/api/v1/datasources/{source}", headers=globex.headers)
        assert r.status_code == 404
    assert (
        client.post(f"/api/v1/datasources/{source}/test", headers=globex.headers).status_code == 404
    )
    # Lists only show the caller's own tenant.
    globex_ids = {r["id"] for r in client.get("/api/v1/reports", headers=globex.headers).json()}
    assert report not in globex_ids and len(globex_ids) == 5
    # And acme's report is untouched.
    assert client.get(f"/api/v1/reports/{report}", headers=acme.headers).json()["version"] == 1


def test_bootstrap_admin_key_is_created_once(
    settings: Settings, sessions: sessionmaker[Session], client: TestClient
) -> None:
    configured = settings.model_copy(
        update={
            "bootstrap_admin_key": "bs_bootstrap-key-0123456789",
            "bootstrap_admin_email": "ops@example.com",
        }
    )
    startup.prepare(configured, sessions)
    startup.prepare(configured, sessions)  # a second start adds nothing
    with sessions() as session:
        keys = session.scalars(select(ApiKey)).all()
        users = session.scalars(select(User)).all()
    assert len(keys) == 1 and len(users) == 1
    assert (users[0].email, users[0].role) == ("ops@example.com", "admin")
    headers = {"Authorization": "Bearer bs_bootstrap-key-0123456789"}
    assert client.get("/api/v1/datasources", headers=headers).status_code == 200


def test_key_for_existing_email_reuses_the_user(
    tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    with session_scope(sessions) as session:
        first = service.issue_key(
            session, tenant="acme", role=Role.viewer, name="a", email="A@x.io"
        )
        second = service.issue_key(
            session, tenant="acme", role=Role.editor, name="a", email="a@x.io"
        )
    assert first.user_id == second.user_id
    with sessions() as session:
        user = session.get(User, first.user_id)
        assert user is not None and (user.email, user.role) == ("a@x.io", "editor")


def test_a_keys_last_use_is_recorded_to_the_minute_even_when_the_request_fails(
    client: TestClient, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    caller = tenancy.key("acme", Role.viewer)

    def last_used() -> datetime | None:
        with session_scope(sessions) as session:
            return session.scalars(select(ApiKey.last_used_at)).one()

    assert last_used() is None
    # A viewer may not write: the 403 still counts as a use of the key.
    assert client.post("/api/v1/reports", json={}, headers=caller.headers).status_code == 403
    first = last_used()
    assert first is not None
    assert abs((utc_now() - first).total_seconds()) < 30
    # Within the minute, uses write nothing (every request would otherwise be a write).
    assert client.get("/api/v1/reports", headers=caller.headers).status_code == 200
    assert last_used() == first
    # A minute on, the next use moves it.
    with session_scope(sessions) as session:
        session.execute(update(ApiKey).values(last_used_at=first - timedelta(minutes=2)))
    assert client.get("/api/v1/reports", headers=caller.headers).status_code == 200
    moved = last_used()
    assert moved is not None and moved > first - timedelta(seconds=1)
