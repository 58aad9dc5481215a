"""The admin pages in a real browser: a data source added and tested, a key shown once and
revoked (the API refuses it after), a role changed, the audit log paged and filtered; and
axe-core's WCAG A/AA checks on every admin page at desktop and phone widths."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx2 as httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.audit import log as audit
from broadsheet.db import session_scope
from broadsheet.models import Role
from tests.factories import Caller
from tests.test_datasources_api import pg_url
from tests.web.conftest import PageLog
from tests.web.helpers import add_user, assert_pages_fit, audit_deliveries, tenant_id_of

Axe = Callable[..., None]


def test_a_data_source_added_and_tested(
    signed_in: Page, live_server: str, api: Caller, page_log: PageLog, axe: Axe
) -> None:
    page = signed_in
    page.goto(f"{live_server}/reports")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(page).to_have_title("Admin · Broadsheet")
    page.get_by_role("link", name="Data sources").first.click()
    page.get_by_role("link", name="Add data source").click()
    page.get_by_label("Name").fill("warehouse")
    page.get_by_label("Connection URL").fill(pg_url())
    page.get_by_label("Row limit").fill("5000")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("The data source is added.")
    row = page.get_by_role("row").filter(has_text="warehouse")
    row.get_by_role("button", name="Test connection of warehouse").click()
    # htmx puts the answer beside the button, in a live region.
    expect(row.locator(".test-result")).to_contain_text("Connected")
    expect(row.locator(".test-result")).to_contain_text(re.compile(r"server version \d+\."))
    assert page.url.endswith("/admin/datasources?done=created")  # no navigation
    axe(page)

    page.get_by_role("link", name="Add data source").click()
    page.get_by_label("Name").fill("down")
    page.get_by_label("Connection URL").fill("postgresql://u:pw-123@127.0.0.1:1/x")
    page.get_by_role("button", name="Save").click()
    down = page.get_by_role("row").filter(has_text="down")
    expect(down.get_by_role("code")).to_contain_text("u:***@127.0.0.1:1/x")
    down.get_by_role("button", name="Test connection of down").click()
    expect(down.locator(".test-result")).to_contain_text("Could not connect:")
    expect(page.locator("body")).not_to_contain_text("pw-123")
    page_log.assert_clean()


def test_a_key_shown_once_then_revoked(
    signed_in: Page, live_server: str, api: Caller, page_log: PageLog, axe: Axe
) -> None:
    page = signed_in
    page.goto(f"{live_server}/admin/keys")
    page.get_by_label("Key name").fill("nightly export")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("The key nightly export")
    expect(shown).to_have_value(re.compile(r"^bs_[A-Za-z0-9_-]{40,}$"))
    key = shown.input_value()
    assert key.startswith("bs_") and len(key) > 30
    expect(page.get_by_role("region", name="Your new API key")).to_contain_text(
        "shown only this once"
    )
    axe(page)
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{live_server}/api/v1/reports", headers=headers).status_code == 200

    page.goto(f"{live_server}/admin/keys")  # never again
    expect(page.locator("body")).not_to_contain_text(key)
    row = page.get_by_role("row").filter(has_text="nightly export")
    expect(row).to_contain_text(key[:10] + "…")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("The key is revoked")
    expect(page.get_by_role("row").filter(has_text="nightly export")).to_contain_text("Revoked")
    assert httpx.get(f"{live_server}/api/v1/reports", headers=headers).status_code == 401
    page_log.assert_clean()


def test_a_role_changed(
    signed_in: Page,
    live_server: str,
    api: Caller,
    sessions: sessionmaker[Session],
    page_log: PageLog,
) -> None:
    add_user(sessions, email="val@acme.test", role=Role.viewer, name="Val Viewer")
    page = signed_in
    page.goto(f"{live_server}/admin/users")
    page.get_by_label("Role of val@acme.test").select_option("editor")
    page.get_by_role("button", name="Change role of val@acme.test").click()
    expect(page.get_by_role("status")).to_have_text("The role is changed.")
    expect(page.get_by_label("Role of val@acme.test")).to_have_value("editor")
    with session_scope(sessions) as session:
        role = session.scalar(select(models.User.role).where(models.User.email == "val@acme.test"))
    assert role == "editor"
    page_log.assert_clean()


def test_the_audit_log_pages(
    signed_in: Page, live_server: str, api: Caller, sessions: sessionmaker[Session]
) -> None:
    with session_scope(sessions) as session:
        tenant = tenant_id_of(session)
        audit_deliveries(session, tenant, 52)
        audit.record(session, tenant, "email.unsubscribed", "email", None, address="a@b.test")
    with sessions() as session:  # with the entries the key and the person wrote when made
        total = session.scalar(select(func.count()).select_from(models.AuditEvent)) or 0
    assert 53 < total <= 100
    page = signed_in
    page.goto(f"{live_server}/admin/audit")
    expect(page.get_by_text(f"Entries 1 to 50 of {total}")).to_be_visible()
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_title("Audit log (page 2 of 2) · Admin · Broadsheet")
    expect(page.get_by_text(f"Entries 51 to {total} of {total}")).to_be_visible()
    page.get_by_label("Action").select_option("email.unsubscribed")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Entries 1 to 1 of 1 for email.unsubscribed")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="delivery.sent")).to_have_count(0)


@pytest.mark.parametrize("width", [1280, 375])
def test_every_admin_page_is_accessible(
    signed_in: Page,
    live_server: str,
    api: Caller,
    axe: Axe,
    page_log: PageLog,
    sessions: sessionmaker[Session],
    width: int,
) -> None:
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    source = httpx.get(f"{live_server}/api/v1/datasources", headers=api.headers).json()[0]["id"]
    with session_scope(sessions) as session:
        tenant = tenant_id_of(session)
        audit.record(session, tenant, "tenant.updated", "tenant", tenant, allowedEmailDomains=[])
    pages = [
        ("/admin", "Admin · Broadsheet"),
        ("/admin/datasources", "Data sources · Admin · Broadsheet"),
        ("/admin/datasources/new", "Add a data source · Admin · Broadsheet"),
        (f"/admin/datasources/{source}", "Edit a data source · Admin · Broadsheet"),
        (f"/admin/datasources/{source}/delete", None),
        ("/admin/users", "Users · Admin · Broadsheet"),
        ("/admin/users/new", "Add a user · Admin · Broadsheet"),
        ("/admin/keys", "API keys · Admin · Broadsheet"),
        ("/admin/audit", "Audit log · Admin · Broadsheet"),
        ("/admin/tenant", "Tenant settings · Admin · Broadsheet"),
    ]
    assert_pages_fit(page, live_server, pages, width, axe)
    # Forms with their errors, the connection test's answer, a refused delete, a new key.
    page.goto(f"{live_server}/admin/users/new")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe(page)
    page.goto(f"{live_server}/admin/datasources/{source}/delete")
    page.get_by_role("button", name="Delete the data source").click()
    expect(page.get_by_role("alert")).to_contain_text("is used by")
    axe(page)
    page.goto(f"{live_server}/admin/datasources")
    page.get_by_role("button", name="Test connection").first.click()
    expect(page.locator(".test-result")).to_contain_text("Connected")
    axe(page)
    page.goto(f"{live_server}/admin/keys")
    page.get_by_label("Key name").fill("for axe")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("region", name="Your new API key")).to_be_visible()
    axe(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page_log.csp_violations == [] and page_log.page_errors == []
