"""Helpers for page tests: users who can sign in, signing in through the real form, the CSRF
token a page handed out (read from the page, as a browser would have it), forms posted with it,
and the rows a test starts from; for browser tests, keyboard focus and checks of whole pages.

    user = add_user(sessions, tenant="acme", role=Role.editor)
    sign_in(client, user.email)                  # the client now carries the session cookie
    token = csrf_token(client.get("/reports").text)
    client.post("/reports/new", data={"csrf_token": token, ...})

    sign_in_as(client, sessions, Role.editor)    # the same in one step, as editor@acme.test
    post_form(client, "/reports/new", {...}, page="/reports")
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from html import unescape
from http.cookies import SimpleCookie
from typing import Annotated, Any

import httpx2 as httpx
from fastapi import Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.app import create_app
from broadsheet.audit import log as audit
from broadsheet.auth import service as auth
from broadsheet.auth.principal import Principal
from broadsheet.auth.service import SignInUser
from broadsheet.config import Settings, SmtpSecurity
from broadsheet.db import session_scope
from broadsheet.errors import NotFound, ValidationFailed
from broadsheet.models import Role, Tenant
from broadsheet.reports.schemas import ReportDefinitionWrite
from broadsheet.reports.service import ReportService
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form
from broadsheet.web.rendering import render
from broadsheet.web.routing import page_router
from tests.factories import report_body

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')
_FIELD = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def add_user(
    sessions: sessionmaker[Session],
    *,
    tenant: str = "acme",
    email: str | None = None,
    role: Role = Role.admin,
    password: str = PASSWORD,
    name: str | None = None,
) -> SignInUser:
    """A user who signs in with ``email`` (default ``<role>@<tenant>.test``) and ``password``."""
    with session_scope(sessions) as session:
        return auth.set_sign_in(
            session,
            tenant=tenant,
            email=email or f"{role}@{tenant}.test",
            role=role,
            password=password,
            name=name,
        )


def csrf_token(html: str) -> str:
    """The token a page carries (its meta tag, else its first form's hidden field)."""
    found = _TOKEN.search(html) or _FIELD.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(
    client: TestClient,
    email: str,
    password: str = PASSWORD,
    *,
    tenant: str | None = None,
    next_path: str | None = None,
) -> httpx.Response:
    """Fill in and send the sign-in form as a browser would; the POST's answer (a 303 when
    it worked), its redirect not followed."""
    form_page = client.get("/login", params={"next": next_path} if next_path else None)
    data = {"csrf_token": csrf_token(form_page.text), "email": email, "password": password}
    if tenant:
        data["tenant"] = tenant
    if next_path:
        data["next"] = next_path
    return client.post("/login", data=data, follow_redirects=False)


def sign_in_as(
    client: TestClient, sessions: sessionmaker[Session], role: Role, tenant: str = "acme"
) -> SignInUser:
    """Sign ``client`` in afresh (its cookies cleared: whoever it was goes) as
    ``<role>@<tenant>.test``, made if missing."""
    user = add_user(sessions, tenant=tenant, role=role)
    client.cookies.clear()
    assert sign_in(client, user.email).status_code == 303
    return user


def post_form(client: TestClient, path: str, fields: dict[str, str], page: str) -> httpx.Response:
    """Post ``fields`` to ``path`` with the CSRF token ``page`` carries, as its form would."""
    return client.post(path, data={"csrf_token": csrf_token(client.get(page).text), **fields})


def field_value(html: str, name: str) -> str | None:
    """The value of the input named ``name`` as a browser shows it; None if it has none."""
    found = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    return unescape(found.group(1)) if found else None


def assert_not_found(client: TestClient, paths: Iterable[str]) -> None:
    """Each of ``paths`` answers the Page not found page, a 404."""
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "Page not found" in answer.text, path


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Each Set-Cookie of ``response`` by cookie name, with its attributes."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


# --- rows a test starts from ----------------------------------------------------------------


def create_report(
    sessions: sessionmaker[Session], settings: Settings, tenant: str = "acme", **body: Any
) -> uuid.UUID:
    """A report made through ReportService: the demo's first definition changed by ``body``."""
    with session_scope(sessions) as session:
        owner = auth.system_principal(session, tenant, "tests")
        row = ReportService(session, settings).create(
            owner, ReportDefinitionWrite.model_validate(report_body(**body))
        )
        return row.id


def tenant_id_of(session: Session, slug: str = "acme") -> uuid.UUID:
    found = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert found is not None, f"no tenant {slug}"
    return found


def audit_deliveries(session: Session, tenant: uuid.UUID, count: int) -> None:
    """``count`` audit entries of deliveries sent (to r00@example.com, r01@…), to page through."""
    for i in range(count):
        audit.record(
            session,
            tenant,
            "delivery.sent",
            "delivery",
            None,
            recipient=f"r{i:02d}@example.com",
            outcome="sent",
        )


# --- in a browser -----------------------------------------------------------------------------


def tab_to(page: Page, target: Locator | str, *, back: bool = False, most: int = 60) -> None:
    """Press Tab (Shift+Tab with ``back``) until ``target`` (a locator or a selector) has the
    focus: it must be reachable by keyboard."""
    element = page.locator(target) if isinstance(target, str) else target
    for _ in range(most):
        if element.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{target} never took focus by keyboard")


def assert_pages_fit(
    page: Page,
    base_url: str,
    pages: Iterable[tuple[str, str | None]],
    width: int,
    axe: Callable[[Page], None],
) -> None:
    """Open each (path, title) of ``pages``: its title (when one is given), axe-core's checks,
    and nothing cut off — the page is no wider than the window's ``width``."""
    for path, title in pages:
        page.goto(f"{base_url}{path}")
        if title:
            expect(page).to_have_title(title)
        axe(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path


def two_frames(page: Page) -> None:
    """Wait two frames. The first element with ``autofocus`` a swap brings into a page the
    browser focuses too, at its next rendering step, after htmx already has: a Tab pressed
    in between would be undone (a person's hand is far slower than a frame)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def htmx_idle(page: Page) -> None:
    """Wait for the htmx request a change started to be answered and swapped in: a field
    filled meanwhile would be replaced by the swap (a person's hand is slower)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    two_frames(page)


def mailing_to(settings: Settings, port: int) -> Settings:
    """``settings`` with email going to the SMTP server on this machine's ``port`` (a test's
    aiosmtpd), retried at once."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": SmtpSecurity.none,
            "delivery_retry_base_seconds": 0.01,
        }
    )


# --- probe pages: the page machinery without any real page behind it -----------------------

probes = page_router()
# Any signed-in user may read reports.
Reader = Annotated[Principal, WebAllowed("report.read")]


@probes.get("/probe")
def _probe(request: Request, caller: Reader) -> Response:
    """A signed-in page (its navigation, Sign out form and CSRF token)."""
    return render(request, "error.html.j2", _shown(caller, 200))


@probes.get("/probe/editor")
def _probe_editor(
    request: Request, caller: Annotated[Principal, WebAllowed("report.write")]
) -> Response:
    return render(request, "error.html.j2", _shown(caller, 200))


@probes.get("/probe/admin")
def _probe_admin(
    request: Request, caller: Annotated[Principal, WebAllowed("user.admin")]
) -> Response:
    return render(request, "error.html.j2", _shown(caller, 200))


@probes.post("/probe/form")
def _probe_form(caller: Reader, form: Form) -> Response:
    return PlainTextResponse(f"posted {form.get('value')} as {caller.email}")


@probes.get("/probe/missing")
def _probe_missing(caller: Reader) -> Response:
    raise NotFound("no report 42")


@probes.get("/probe/invalid")
def _probe_invalid(caller: Reader) -> Response:
    raise ValidationFailed.field("name", "<b>bold</b> is not allowed")


@probes.get("/probe/broken")
def _probe_broken(caller: Reader) -> Response:
    raise RuntimeError("a bug")


def _shown(caller: Principal, status: int) -> dict[str, object]:
    return {
        "status": status,
        "heading": f"Probe for {caller.name}",
        "message": f"tenant {caller.tenant_slug}, role {caller.role}",
        "errors": [],
    }


@contextmanager
def page_client(settings: Settings, **options: Any) -> Iterator[TestClient]:
    """The application with the probe pages, in a client that does not follow redirects."""
    app = create_app(settings, prepare=False)
    app.include_router(probes)
    with TestClient(
        app, raise_server_exceptions=False, follow_redirects=False, **options
    ) as client:
        yield client
