"""API keys with scopes, expiry and rotation: the keys API, the CLI (create, rotate,
permissions), what a key's scopes let it do, and keys made before scopes existed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from broadsheet import cli, migrate
from broadsheet.auth import keys as key_life
from broadsheet.auth import service
from broadsheet.auth.permissions import PERMISSIONS
from broadsheet.cli import app
from broadsheet.config import Settings
from broadsheet.models import Role
from tests.factories import Caller, Tenancy, plant, report_body

KEYS = "/api/v1/keys"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme", Role.admin)


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("BROADSHEET_SECRET_KEY", settings.secret_key)
    # Wide enough that rich's tables wrap no cell.
    monkeypatch.setattr(cli, "console", Console(width=250))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plant(key)}"}


def later(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    """Move the clock keys are checked against ``delta`` ahead."""
    now = datetime.now(UTC) + delta
    monkeypatch.setattr(service, "utc_now", lambda: now)
    monkeypatch.setattr(key_life, "utc_now", lambda: now)


def field_errors(answer: Any) -> list[str]:
    return [e["field"] for e in answer.json().get("errors", [])]


def test_create_list_and_revoke_through_the_api(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    made = client.post(
        KEYS,
        json={
            "name": "nightly export",
            "role": "viewer",
            "scopes": ["run", "read"],
            "expiresAt": expires.isoformat(),
        },
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    key, key_id = body["key"], body["id"]
    assert key.startswith("bs_") and body["scopes"] == ["read", "run"]
    assert body["role"] == "viewer" and body["name"] == "nightly export"
    assert datetime.fromisoformat(body["expiresAt"]) == expires
    assert client.get("/api/v1/reports", headers=bearer(key)).status_code == 200

    listed = client.get(KEYS, params={"limit": 1}, headers=admin.headers)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    assert 'rel="next"' in listed.headers["Link"]
    everything = client.get(KEYS, headers=admin.headers)
    assert key not in everything.text and all("key" not in k for k in everything.json())
    assert {k["id"] for k in everything.json()} >= {key_id}
    used = next(k for k in everything.json() if k["id"] == key_id)
    assert used["lastUsedAt"] is not None and used["prefix"] == key[:10]

    stranger = tenancy.key("globex", Role.admin)
    assert client.delete(f"{KEYS}/{key_id}", headers=stranger.headers).status_code == 404
    assert client.delete(f"{KEYS}/not-a-uuid", headers=admin.headers).status_code == 404
    assert client.get(KEYS, headers=stranger.headers).json()[0]["name"] == "tester"
    assert client.delete(f"{KEYS}/{key_id}", headers=admin.headers).status_code == 204
    assert client.get("/api/v1/reports", headers=bearer(key)).status_code == 401
    revoked = next(k for k in client.get(KEYS, headers=admin.headers).json() if k["id"] == key_id)
    assert revoked["revokedAt"] is not None


def test_without_scopes_a_key_gets_all_its_role_uses(client: TestClient, admin: Caller) -> None:
    for role, scopes in [
        ("viewer", ["read", "run"]),
        ("editor", ["read", "run", "write"]),
        ("admin", ["read", "run", "write", "admin"]),
    ]:
        made = client.post(KEYS, json={"name": f"k-{role}", "role": role}, headers=admin.headers)
        assert made.status_code == 201 and made.json()["scopes"] == scopes, made.text
        plant(made.json()["key"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
        ({"expiresAt": "2999-01-01T00:00:00"}, "expiresAt"),  # no time zone
        ({"scopes": ["read", "superuser"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"role": "owner"}, "role"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, admin: Caller, change: dict[str, Any], field: str
) -> None:
    answer = client.post(
        KEYS, json={"name": "k", "role": "viewer", **change}, headers=admin.headers
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    named = [f.split("[")[0].split(".")[0] for f in field_errors(answer)]
    assert field in named, answer.json()


def test_scopes_limit_what_the_role_allows(
    client: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    reader = tenancy.key("acme", Role.admin, name="reader", scopes=["read"])
    runner = tenancy.key("acme", Role.admin, name="runner", scopes=["run"])
    viewer_writer = tenancy.key("acme", Role.viewer, name="vw", scopes=["write"])
    reports = client.get("/api/v1/reports", headers=reader.headers)
    assert reports.status_code == 200
    report_id = reports.json()[0]["id"]
    refused = client.post("/api/v1/reports", json=report_body(), headers=reader.headers)
    assert refused.status_code == 403
    assert "report.write" in refused.json()["detail"]
    assert "needs a key with the write scope; this key has: read" in refused.json()["detail"]
    generate = f"/api/v1/reports/{report_id}/generate"
    params = {"startDate": "2025-05-01", "endDate": "2025-05-31"}
    assert client.post(generate, json=params, headers=reader.headers).status_code == 403
    assert client.post(generate, json=params, headers=runner.headers).status_code == 202
    assert client.get("/api/v1/datasources", headers=runner.headers).status_code == 200
    assert client.post("/api/v1/reports", json={}, headers=runner.headers).status_code == 403
    # The role still bounds the key: a viewer's write scope writes nothing.
    by_role = client.post("/api/v1/reports", json=report_body(), headers=viewer_writer.headers)
    assert by_role.status_code == 403 and "needs the editor role" in by_role.json()["detail"]


def test_an_expired_key_is_refused(
    client: TestClient, admin: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    made = client.post(
        KEYS,
        json={"name": "short", "role": "viewer", "expiresAt": expires.isoformat()},
        headers=admin.headers,
    )
    key = made.json()["key"]
    assert client.get("/api/v1/reports", headers=bearer(key)).status_code == 200
    later(monkeypatch, timedelta(hours=1, seconds=1))
    answer = client.get("/api/v1/reports", headers=bearer(key))
    assert answer.status_code == 401
    assert answer.json()["detail"] == "the API key is unknown, revoked or expired"
    assert client.get("/api/v1/reports", headers=admin.headers).status_code == 200


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_creates_a_scoped_expiring_key(
    client: TestClient, admin: Caller, cli_env: None
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    made = run_cli(
        "keys", "create", "--tenant", "acme", "--role", "editor", "--name", "ci",
        "--scopes", "read,run", "--expires-at", expires.isoformat(),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    lines = made.output.strip().splitlines()
    key = plant(lines[-1])
    key_id = lines[0].split()[1].rstrip(",")
    shown = next(k for k in client.get(KEYS, headers=admin.headers).json() if k["id"] == key_id)
    assert shown["scopes"] == ["read", "run"] and shown["role"] == "editor"
    assert datetime.fromisoformat(shown["expiresAt"]) == expires
    assert client.get("/api/v1/reports", headers=bearer(key)).status_code == 200
    assert client.post("/api/v1/reports", json={}, headers=bearer(key)).status_code == 403

    listing = run_cli("keys", "list", "--tenant", "acme")
    assert "read,run" in listing.output and key not in listing.output

    for args, said in [
        (["--scopes", "read,root"], "--scopes: unknown scope root"),
        (["--expires-at", "2020-01-01T00:00:00+00:00"], "--expires-at: the key would have"),
        (["--expires-at", "tomorrow"], "--expires-at: 'tomorrow' is not an ISO 8601"),
    ]:
        bad = run_cli(
            "keys", "create", "--tenant", "acme", "--role", "viewer", "--name", "x", *args
        )
        assert bad.exit_code == 1 and said in bad.output, bad.output


def test_rotation_keeps_the_old_key_for_its_grace_period(
    client: TestClient,
    admin: Caller,
    tenancy: Tenancy,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = tenancy.key("acme", Role.editor, name="deployer", scopes=["read", "run", "write"])
    old_id = next(
        k["id"] for k in client.get(KEYS, headers=admin.headers).json() if k["name"] == "deployer"
    )
    rotated = run_cli("keys", "rotate", old_id, "--grace", "2h")
    assert rotated.exit_code == 0, rotated.output
    new = plant(rotated.output.strip().splitlines()[-1])
    assert new.startswith("bs_") and new != old.key
    listed = {k["id"]: k for k in client.get(KEYS, headers=admin.headers).json()}
    successor = next(k for k in listed.values() if k["prefix"] == new[:10])
    assert listed[old_id]["replacedBy"] == successor["id"]
    assert successor["name"] == "deployer" and successor["scopes"] == ["read", "run", "write"]
    assert successor["userId"] == listed[old_id]["userId"]

    for key in (old.key, new):
        assert client.get("/api/v1/reports", headers=bearer(key)).status_code == 200
    later(monkeypatch, timedelta(hours=1, minutes=59))
    assert client.get("/api/v1/reports", headers=bearer(old.key)).status_code == 200
    later(monkeypatch, timedelta(hours=2, seconds=1))
    assert client.get("/api/v1/reports", headers=bearer(old.key)).status_code == 401
    assert client.get("/api/v1/reports", headers=bearer(new)).status_code == 200

    again = run_cli("keys", "rotate", old_id)
    assert again.exit_code == 1 and "rotated already" in again.output
    for grace, said in [("5x", "--grace: write a number and a unit"), ("400d", "at most 365d")]:
        bad = run_cli("keys", "rotate", successor["id"], "--grace", grace)
        assert bad.exit_code == 1 and said in bad.output, bad.output
    missing = run_cli("keys", "rotate", str(uuid.uuid4()))
    assert missing.exit_code == 1 and "no API key" in missing.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("24h", 86400), ("7d", 604800)]
)
def test_grace_units(text: str, seconds: int) -> None:
    assert key_life.parse_duration(text) == timedelta(seconds=seconds)


def test_permissions_prints_the_table() -> None:
    printed = CliRunner().invoke(app, ["permissions"], terminal_width=200)
    assert printed.exit_code == 0, printed.output
    for action, rule in PERMISSIONS.items():
        line = next(row for row in printed.output.splitlines() if f" {action.value} " in row)
        assert f" {rule.scope.value} " in line and rule.role.value in line
    assert "viewer, editor, admin" in next(
        row for row in printed.output.splitlines() if " report.read " in row
    )


def test_keys_made_before_scopes_get_all_their_role_uses(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0013")
    engine = sa.create_engine(url)
    tenants = sa.table("tenants", *(sa.column(c) for c in ("id", "slug", "name", "created_at")))
    users = sa.table(
        "users", *(sa.column(c) for c in ("id", "tenant_id", "name", "role", "created_at"))
    )
    keys = sa.table(
        "api_keys",
        *(
            sa.column(c)
            for c in ("id", "tenant_id", "user_id", "name", "key_hash", "prefix", "created_at")
        ),
    )
    tenant = uuid.uuid4().hex
    now = datetime.now(UTC).isoformat(sep=" ")
    with engine.begin() as conn:
        conn.execute(tenants.insert().values(id=tenant, slug="acme", name="acme", created_at=now))
        for role in Role:
            user = uuid.uuid4().hex
            conn.execute(
                users.insert().values(
                    id=user, tenant_id=tenant, name=role, role=role.value, created_at=now
                )
            )
            conn.execute(
                keys.insert().values(
                    id=uuid.uuid4().hex,
                    tenant_id=tenant,
                    user_id=user,
                    name=role,
                    key_hash=uuid.uuid4().hex * 2,
                    prefix="bs_old",
                    created_at=now,
                )
            )
    migrate.upgrade(url, "head")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, scopes FROM api_keys")).all()
    engine.dispose()
    assert {name: json.loads(scopes) for name, scopes in rows} == {
        "viewer": ["read", "run"],
        "editor": ["read", "run", "write"],
        "admin": ["read", "run", "write", "admin"],
    }
