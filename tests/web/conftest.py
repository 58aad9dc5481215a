"""Fixtures for the web UI's tests: the pages through TestClient, and for the browser tests
Debian's Chromium driven by Playwright, the real application served on a free port, a fresh
page per test, and axe-core's WCAG checks.

- ``demo_data``: tenant ``acme`` with the demo's data source, reports and schedule.
- ``web``: the pages (and ``tests.web.helpers``' probe pages) over ``demo_data``, in a
  TestClient that does not follow redirects; sign it in with ``helpers.sign_in_as``.
- ``api``: an admin's API key of ``acme`` (``demo_data`` installed), to read or set through
  the API what a page shows or did.
- ``browser``: Chromium at ``/usr/bin/chromium`` (``.ci/run`` installs it). Missing, the
  tests skip, or fail under ``BROADSHEET_REQUIRE_SERVICES=1``.
- ``live_server`` (tests/conftest.py): the application served on a free port.
- ``page``: a page in a browser context of its own; ``page_log`` is what that page reported
  that a test may want to be absent: console errors, uncaught exceptions and
  Content-Security-Policy violations (``page_log.assert_clean()``).
- ``no_script``: a page in a context of its own with JavaScript off, signed in as nobody.
- ``signed_in``: ``page``, signed in on ``live_server`` through the sign-in form as an admin
  of tenant ``acme`` (``SIGNED_IN_EMAIL``, ``tests.web.helpers.PASSWORD``), on the page the
  sign-in led to. Other users: ``sign_in_page(page, live_server, add_user(sessions, ...))``.
- ``axe``: ``axe(page)`` fails the test with a readable list when axe-core finds any WCAG 2.0,
  2.1 or 2.2 level A or AA violation on the page as it is now.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, expect, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.auth.service import SignInUser
from broadsheet.config import Settings
from broadsheet.models import Role
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy
from tests.web.helpers import PASSWORD, add_user, page_client

CHROMIUM = Path("/usr/bin/chromium")
SIGNED_IN_EMAIL = "admin@acme.test"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Each page reports its Content-Security-Policy violations to the test (init scripts run
# before the page's own and are not subject to its policy).
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__bsReportViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"}` +
      (event.sourceFile ? ` at ${event.sourceFile}:${event.lineNumber}` : "")
  );
});
"""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser journeys run on SQLite only: they test what a person sees and does, which the
    metadata database does not change, and each costs seconds of a real browser. Everything
    the pages do with the database is tested on both, through TestClient (test_*_pages.py).
    The PostgreSQL runs are deselected, so the summary counts them."""
    dropped = [
        item
        for item in items
        if "browser" in getattr(item, "fixturenames", ())
        and getattr(getattr(item, "callspec", None), "params", {}).get("database_url")
        == "postgresql"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture
def demo_data(tenancy: Tenancy) -> None:
    tenancy.demo("acme")


@pytest.fixture
def web(demo_data: None, settings: Settings) -> Iterator[TestClient]:
    with page_client(settings) as client:
        yield client


@pytest.fixture
def api(demo_data: None, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


# Per module, not per session: while Playwright's sync API runs, the main thread has a running
# event loop, and every later test that calls asyncio.run() (tests/test_load.py) would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        service_missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        except Error as exc:
            service_missing(f"Chromium at {CHROMIUM} ({exc.message.splitlines()[0]})")
        yield launched
        launched.close()


@dataclass
class PageLog:
    """What one page (and the pages it navigated to) reported."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        problems = [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"uncaught: {m}" for m in self.page_errors),
            *(f"CSP violation: {m}" for m in self.csp_violations),
        ]
        assert not problems, "the page reported:\n" + "\n".join(problems)


@dataclass
class _Browsing:
    page: Page
    log: PageLog


@pytest.fixture
def _browsing(browser: Browser) -> Iterator[_Browsing]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    log = PageLog()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url") or "the page"
            log.console_errors.append(f"{message.text} ({where})")

    def on_violation(_source: Any, description: str) -> None:
        log.csp_violations.append(description)

    context.expose_binding("__bsReportViolation", on_violation)
    context.add_init_script(_REPORT_VIOLATIONS)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    yield _Browsing(page, log)
    context.close()


@pytest.fixture
def page(_browsing: _Browsing) -> Page:
    return _browsing.page


@pytest.fixture
def page_log(_browsing: _Browsing) -> PageLog:
    return _browsing.log


@pytest.fixture
def no_script(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def sign_in_page(page: Page, base_url: str, user: SignInUser, password: str = PASSWORD) -> Page:
    """Sign ``user`` in through the form, as a person would; the page is where it led."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login(\?|$)"))
    return page


@pytest.fixture
def signed_in(live_server: str, page: Page, sessions: sessionmaker[Session]) -> Page:
    user = add_user(sessions, tenant="acme", email=SIGNED_IN_EMAIL, role=Role.admin)
    return sign_in_page(page, live_server, user)


def assert_accessible(page: Page, within: str | None = None) -> None:
    """No WCAG 2.x level A or AA violation that axe-core finds on the page (or in the part
    the ``within`` selector picks), else a failure naming each rule, element and fix."""
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    results = Axe().run(page, context=within, options=options)
    if results.violations_count:
        pytest.fail(f"axe-core on {page.url}:\n{results.generate_report()}", pytrace=False)


@pytest.fixture
def axe() -> Callable[..., None]:
    return assert_accessible
