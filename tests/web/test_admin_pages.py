"""The admin pages' server rules, through TestClient on SQLite and PostgreSQL: admins only
(403 for viewers and editors, forms included), another tenant's ids are 404, data sources
through the same service as the API with passwords never on a page, users and roles, keys
shown once and revoked, the audit log's paging and filter, and hostile names as text."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.audit import log as audit
from broadsheet.config import Settings
from broadsheet.datasources.service import DataSourceService
from broadsheet.db import session_scope
from broadsheet.models import Role
from tests.factories import Caller, Tenancy
from tests.web.helpers import (
    PASSWORD,
    audit_deliveries,
    csrf_token,
    field_value,
    page_client,
    post_form,
    sign_in,
    sign_in_as,
    tenant_id_of,
)

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'
HOSTILE_SHOWN = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
SECRET_URL = "postgresql://reporter:s3cr3t-pw@db.internal:5432/analytics"
ADMIN_PAGES = [
    "/admin",
    "/admin/datasources",
    "/admin/datasources/new",
    "/admin/users",
    "/admin/users/new",
    "/admin/keys",
    "/admin/audit",
    "/admin/tenant",
]

# An admin form, posted with the token the admin home page carries.
post = partial(post_form, page="/admin")


def source_named(web: TestClient, api: Caller, name: str) -> dict[str, Any]:
    """The data source ``name`` as the API lists it."""
    listed = web.get("/api/v1/datasources", headers=api.headers).json()
    found: dict[str, Any] = next(s for s in listed if s["name"] == name)
    return found


def source_fields(**changes: str) -> dict[str, str]:
    fields = {
        "name": "warehouse",
        "url": SECRET_URL,
        "description": "The analytics warehouse",
        "statementTimeoutSeconds": "30",
        "rowLimit": "5,000",
    }
    fields.update(changes)
    return fields


@pytest.mark.parametrize("role", [Role.viewer, Role.editor])
def test_only_admins_reach_the_admin_pages(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], role: Role
) -> None:
    user = sign_in_as(web, sessions, role).user_id
    home = web.get("/reports")
    assert 'href="/admin"' not in home.text  # the navigation shows Admin to admins only
    for path in ADMIN_PAGES:
        answer = web.get(path)
        assert answer.status_code == 403, path
        assert "You cannot do that" in answer.text
    source = web.get("/api/v1/datasources", headers=api.headers).json()[0]["id"]
    token = csrf_token(home.text)
    for path, fields in [
        ("/admin/datasources/new", source_fields()),
        (f"/admin/datasources/{source}", source_fields()),
        (f"/admin/datasources/{source}/test", {}),
        (f"/admin/datasources/{source}/delete", {}),
        ("/admin/users/new", {"email": "x@acme.test", "role": "admin", "password": PASSWORD}),
        (f"/admin/users/{user}/role", {"role": "admin"}),
        ("/admin/keys", {"name": "mine", "userId": str(user)}),
        ("/admin/tenant", {"allowedEmailDomains": "example.com"}),
        ("/admin/tenant/webhook-secret", {}),
    ]:
        answer = web.post(path, data={"csrf_token": token, **fields})
        assert answer.status_code == 403, path
    with session_scope(sessions) as session:
        assert session.scalar(select(models.User.role).where(models.User.id == user)) == role
        assert (
            session.scalar(
                select(models.DataSource.name).where(models.DataSource.name == "warehouse")
            )
            is None
        )


def test_data_sources_through_the_form_never_show_the_password(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], settings: Settings
) -> None:
    sign_in_as(web, sessions, Role.admin)
    made = post(web, "/admin/datasources/new", source_fields())
    assert made.status_code == 303 and made.headers["location"] == "/admin/datasources?done=created"
    listing = web.get(made.headers["location"]).text
    assert "The data source is added." in listing
    assert "postgresql+psycopg://reporter:***@db.internal:5432/analytics" in listing
    warehouse = source_named(web, api, "warehouse")
    assert (warehouse["statementTimeoutSeconds"], warehouse["rowLimit"]) == (30, 5000)

    edit = web.get(f"/admin/datasources/{warehouse['id']}").text
    assert "s3cr3t-pw" not in edit and "s3cr3t-pw" not in listing
    assert field_value(edit, "url") == warehouse["url"]
    # Saved back with the masked URL, it keeps the password.
    saved = post(web, f"/admin/datasources/{warehouse['id']}",
                 source_fields(url=warehouse["url"], rowLimit="10"))  # fmt: skip
    assert saved.status_code == 303
    with sessions() as session:
        row = session.scalars(
            select(models.DataSource).where(models.DataSource.name == "warehouse")
        ).one()
        assert "s3cr3t-pw" in DataSourceService(session, settings).url_of(row)
        assert row.row_limit == 10


def test_a_refused_data_source_form_keeps_what_was_typed(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.admin)
    bad = post(web, "/admin/datasources/new", source_fields(name="no spaces", url="oracle://x@y/z"))
    assert bad.status_code == 422
    assert 'id="name-error"' in bad.text and 'id="url-error"' not in bad.text  # pydantic first
    assert field_value(bad.text, "name") == "no spaces"
    bad_url = post(web, "/admin/datasources/new", source_fields(url="oracle://scott:tiger@db/orcl"))
    assert bad_url.status_code == 422 and 'id="url-error"' in bad_url.text
    assert "Unsupported scheme" in bad_url.text
    assert field_value(bad_url.text, "url") == "oracle://scott:tiger@db/orcl"
    taken = post(web, "/admin/datasources/new", source_fields(name="portfolio_analytics"))
    assert taken.status_code == 409 and 'id="name-error"' in taken.text
    assert "exists already" in taken.text
    bad_limit = post(web, "/admin/datasources/new", source_fields(rowLimit="lots"))
    assert bad_limit.status_code == 422 and 'id="rowLimit-error"' in bad_limit.text


def test_a_data_source_in_use_is_kept(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.admin)
    demo = source_named(web, api, "portfolio_analytics")
    refused = post(web, f"/admin/datasources/{demo['id']}/delete", {})
    assert refused.status_code == 409
    assert "is used by" in refused.text and "The data source was not deleted" in refused.text
    renamed = post(web, f"/admin/datasources/{demo['id']}",
                   source_fields(name="renamed", url=demo["url"]))  # fmt: skip
    assert renamed.status_code == 409 and 'id="name-error"' in renamed.text
    spare = post(
        web, "/admin/datasources/new", source_fields(name="spare", url="duckdb:///:memory:")
    )
    assert spare.status_code == 303
    spare_id = source_named(web, api, "spare")["id"]
    confirm = web.get(f"/admin/datasources/{spare_id}/delete")
    assert confirm.status_code == 200 and "Delete the data source spare?" in confirm.text
    gone = post(web, f"/admin/datasources/{spare_id}/delete", {})
    assert gone.status_code == 303
    names = [s["name"] for s in web.get("/api/v1/datasources", headers=api.headers).json()]
    assert "spare" not in names and "portfolio_analytics" in names


def test_test_connection_answers_on_the_page_and_as_a_fragment(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.admin)
    demo = web.get("/api/v1/datasources", headers=api.headers).json()[0]["id"]
    page = post(web, f"/admin/datasources/{demo}/test", {})
    assert page.status_code == 200 and "<html" in page.text
    assert re.search(r"Connected</strong> in \d+ ms, server version 3\.", page.text)  # SQLite
    token = csrf_token(web.get("/admin/datasources").text)
    fragment = web.post(f"/admin/datasources/{demo}/test",
                        headers={"HX-Request": "true", "X-CSRF-Token": token})  # fmt: skip
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Connected" in fragment.text
    down = post(web, "/admin/datasources/new",
                source_fields(name="down", url="postgresql://u:pw-123@127.0.0.1:1/x"))  # fmt: skip
    assert down.status_code == 303
    down_id = source_named(web, api, "down")["id"]
    failed = post(web, f"/admin/datasources/{down_id}/test", {})
    assert "Could not connect:" in failed.text and "pw-123" not in failed.text


def test_users_and_roles(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], settings: Settings
) -> None:
    sign_in_as(web, sessions, Role.admin)
    short = post(web, "/admin/users/new", {"email": "eve@acme.test", "name": HOSTILE,
                                           "role": "editor", "password": "short"})  # fmt: skip
    assert short.status_code == 422 and 'id="password-error"' in short.text
    assert field_value(short.text, "email") == "eve@acme.test"
    assert field_value(short.text, "password") is None  # a password is never shown again
    assert HOSTILE_SHOWN in short.text and "<script>alert" not in short.text
    bad_email = post(
        web, "/admin/users/new", {"email": "eve", "role": "editor", "password": PASSWORD}
    )
    assert bad_email.status_code == 422 and 'id="email-error"' in bad_email.text

    made = post(web, "/admin/users/new", {"email": "Eve@Acme.test", "name": HOSTILE,
                                          "role": "editor", "password": PASSWORD})  # fmt: skip
    assert made.status_code == 303
    listing = web.get(made.headers["location"]).text
    assert "The user is added" in listing and HOSTILE_SHOWN in listing
    assert "<script>alert" not in listing
    again = post(web, "/admin/users/new", {"email": "eve@acme.test", "role": "viewer",
                                           "password": PASSWORD})  # fmt: skip
    assert again.status_code == 422 and "exists already" in again.text
    with page_client(settings) as eve:  # she signs in with what the admin set
        assert sign_in(eve, "eve@acme.test").status_code == 303
        assert eve.get("/schedules/new").status_code == 200  # an editor
        with session_scope(sessions) as session:
            eve_id = session.scalar(
                select(models.User.id).where(models.User.email == "eve@acme.test")
            )
        changed = post(web, f"/admin/users/{eve_id}/role", {"role": "viewer"})
        assert (
            changed.status_code == 303 and changed.headers["location"] == "/admin/users?done=role"
        )
        assert eve.get("/schedules/new").status_code == 403  # at her next step
    bad_role = post(web, f"/admin/users/{eve_id}/role", {"role": "owner"})
    assert bad_role.status_code == 422


def test_the_last_admin_stays_one(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    me = sign_in_as(web, sessions, Role.admin).user_id
    with session_scope(sessions) as session:  # the other admins (the key's, the demo's) go
        session.execute(update(models.User).where(models.User.id != me).values(role=Role.viewer))
    refused = post(web, f"/admin/users/{me}/role", {"role": "editor"})
    assert refused.status_code == 409
    assert "only admin: make someone else an admin first" in refused.text
    with session_scope(sessions) as session:
        assert session.scalar(select(models.User.role).where(models.User.id == me)) == "admin"


def test_a_key_is_shown_once_and_revoked(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    me = sign_in_as(web, sessions, Role.admin).user_id
    made = post(web, "/admin/keys", {"name": HOSTILE, "userId": str(me)})
    assert made.status_code == 201
    found = re.search(r'id="new-key"[^>]*value="([^"]+)"', made.text)
    assert found and found.group(1).startswith("bs_")
    key = found.group(1)
    assert "shown only this once" in made.text
    assert made.headers["cache-control"] == "no-store"
    assert HOSTILE_SHOWN in made.text and "<script>alert" not in made.text
    headers = {"Authorization": f"Bearer {key}"}
    unused = re.search(rf"{re.escape(key[:10])}….*?</tr>", made.text, re.S)
    assert unused and 'data-label="Last used"><span class="muted">Never' in unused.group(0)
    assert web.get("/api/v1/reports", headers=headers).status_code == 200
    listing = web.get("/admin/keys").text
    assert key not in listing and key[:10] + "…" in listing  # never again, but its prefix
    used = re.search(rf"{re.escape(key[:10])}….*?</tr>", listing, re.S)
    assert used and 'data-label="Last used"><time datetime="' in used.group(0)
    with session_scope(sessions) as session:
        key_id = session.scalar(select(models.ApiKey.id).where(models.ApiKey.prefix == key[:10]))
    revoked = post(web, f"/admin/keys/{key_id}/revoke", {})
    assert revoked.status_code == 303
    assert "The key is revoked" in web.get(revoked.headers["location"]).text
    assert web.get("/api/v1/reports", headers=headers).status_code == 401
    nameless = post(web, "/admin/keys", {"name": " ", "userId": str(me)})
    assert nameless.status_code == 422 and 'id="name-error"' in nameless.text
    nobody = post(web, "/admin/keys", {"name": "x", "userId": "not-an-id"})
    assert nobody.status_code == 422 and 'id="userId-error"' in nobody.text


def test_another_tenants_ids_are_not_found(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    theirs = tenancy.key("other")
    source = web.post("/api/v1/datasources", json={"name": "theirs", "url": "duckdb:///:memory:"},
                      headers=theirs.headers).json()["id"]  # fmt: skip
    with session_scope(sessions) as session:
        their_user = session.scalar(
            select(models.User.id).where(models.User.email.like("%@other.test"))
        )
        their_key = session.scalar(
            select(models.ApiKey.id).join(models.Tenant).where(models.Tenant.slug == "other")
        )
    sign_in_as(web, sessions, Role.admin)
    for path in (f"/admin/datasources/{source}", f"/admin/datasources/{source}/delete",
                 "/admin/datasources/not-an-id"):  # fmt: skip
        assert web.get(path).status_code == 404, path
    for path, fields in [
        (f"/admin/datasources/{source}", source_fields()),
        (f"/admin/datasources/{source}/test", {}),
        (f"/admin/datasources/{source}/delete", {}),
        (f"/admin/users/{their_user}/role", {"role": "viewer"}),
        (f"/admin/keys/{their_key}/revoke", {}),
    ]:
        answer = post(web, path, fields)
        assert answer.status_code == 404, path
        assert "Page not found" in answer.text
    assert post(web, "/admin/keys", {"name": "x", "userId": str(their_user)}).status_code == 422
    assert web.get("/api/v1/reports", headers=theirs.headers).status_code == 200  # not revoked


def test_the_audit_log_pages_and_filters(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.admin)
    with session_scope(sessions) as session:
        tenant = tenant_id_of(session)
        audit_deliveries(session, tenant, 55)
        audit.record(session, tenant, "email.unsubscribed", "email", None, address=HOSTILE)
    with sessions() as session:  # with the entries the key and the person wrote when made
        total = session.scalar(select(func.count()).select_from(models.AuditEvent)) or 0
    assert 56 < total <= 100
    first = web.get("/admin/audit").text
    assert f"Entries 1 to 50 of {total}" in first and "Page 1 of 2" in first
    assert "&lt;script&gt;alert" in first and "<script>alert" not in first
    for asked in ("2", "500"):
        last = web.get(f"/admin/audit?page={asked}").text
        assert "Page 2 of 2" in last and f"Entries 51 to {total} of {total}" in last
    only = web.get("/admin/audit?action=email.unsubscribed").text
    assert "Entries 1 to 1 of 1 for email.unsubscribed" in only
    assert "r00@example.com" not in only
    unknown = web.get("/admin/audit?action=nonsense").text
    assert f"of {total}" in unknown  # every entry, the filter showing "Every action"


def test_tenant_settings(web: TestClient, api: Caller, sessions: sessionmaker[Session]) -> None:
    sign_in_as(web, sessions, Role.admin)
    before = web.get("/api/v1/tenant", headers=api.headers).json()
    page = web.get("/admin/tenant").text
    assert before["webhookSecret"] in page
    saved = post(web, "/admin/tenant", {"allowedEmailDomains": "Example.com\nacme.test"})
    assert saved.status_code == 303
    assert web.get("/api/v1/tenant", headers=api.headers).json()["allowedEmailDomains"] == [
        "acme.test", "example.com"]  # fmt: skip
    bad = post(web, "/admin/tenant", {"allowedEmailDomains": "example.com\nnot a domain"})
    assert bad.status_code == 422 and 'id="allowedEmailDomains-error"' in bad.text
    assert "not a domain" in bad.text
    rotated = post(web, "/admin/tenant/webhook-secret", {})
    assert rotated.status_code == 303
    after = web.get("/api/v1/tenant", headers=api.headers).json()["webhookSecret"]
    assert after != before["webhookSecret"] and after in web.get("/admin/tenant").text
