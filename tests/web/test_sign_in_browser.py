"""The sign-in page in a real browser: accessible (axe-core, keyboard), no CSP violation, at
desktop and phone widths, and signing in and out by its own buttons."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.web.conftest import PageLog
from tests.web.helpers import PASSWORD, add_user


@pytest.mark.parametrize("width", [1280, 375, 320])
def test_signing_in_and_out_in_a_browser(
    live_server: str,
    page: Page,
    page_log: PageLog,
    axe: Callable[..., None],
    sessions: sessionmaker[Session],
    width: int,
) -> None:
    user = add_user(sessions, name="Ann Admin")
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")
    expect(page).to_have_title("Sign in · Broadsheet")
    axe(page)
    # Nothing is cut off: the page is no wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()

    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The email address or password is not right.")
    expect(summary).to_be_focused()
    expect(page.get_by_label("Email")).to_have_value(user.email)
    axe(page)

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/reports")
    nav = page.get_by_role("navigation", name="Main")
    for section in ("Reports", "Dashboards", "Schedules", "Admin"):
        expect(nav.get_by_role("link", name=section)).to_be_visible()
    expect(page.get_by_text("Ann Admin")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/login")
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")
    assert page_log.csp_violations == []
    assert page_log.page_errors == []
