"""Signing in and out through the real form: the pages, CSRF, `next`, throttling, cookies,
security headers and errors as pages. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.auth import throttle
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.kit.time import utc_now
from broadsheet.models import Role, SignInThrottle, Tenant, WebSession
from broadsheet.web.headers import CONTENT_SECURITY_POLICY
from tests.factories import Tenancy
from tests.web.helpers import PASSWORD, add_user, csrf_token, page_client, set_cookies, sign_in


@pytest.fixture
def web(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with page_client(settings) as client:
        yield client


def _sessions_of(sessions: sessionmaker[Session]) -> list[WebSession]:
    with session_scope(sessions) as session:
        return list(session.scalars(select(WebSession)))


# --- the form -------------------------------------------------------------------------------


def test_the_sign_in_page(web: TestClient) -> None:
    page = web.get("/login")
    assert page.status_code == 200
    html = page.text
    assert "<title>Sign in · Broadsheet</title>" in html
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in html
    assert '<main id="main"' in html
    assert re.search(r'<label class="label" for="email">Email</label>', html)
    assert re.search(r'<label class="label" for="password">Password</label>', html)
    assert '<button class="button button--primary" type="submit">Sign in</button>' in html
    assert 'autocomplete="current-password"' in html
    # Nobody is signed in: no navigation, no Sign out.
    assert "Sign out" not in html and 'href="/reports"' not in html
    # The form's token is bound to a pre-session cookie made for it.
    assert "broadsheet_csrf" in set_cookies(page)
    assert csrf_token(html)


def test_home_leads_to_sign_in_or_reports(web: TestClient, sessions: sessionmaker[Session]) -> None:
    assert web.get("/").headers["location"] == "/login"
    user = add_user(sessions)
    sign_in(web, user.email)
    assert web.get("/").headers["location"] == "/reports"
    # Signed in already, the form sends you on.
    assert web.get("/login").headers["location"] == "/reports"
    assert web.get("/login", params={"next": "/probe"}).headers["location"] == "/probe"


def test_sign_in_and_sign_out(web: TestClient, sessions: sessionmaker[Session]) -> None:
    user = add_user(sessions, role=Role.admin, name="Ann Admin")
    answer = sign_in(web, user.email)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/reports"
    assert "broadsheet_session" in set_cookies(answer)
    [row] = _sessions_of(sessions)
    assert row.user_id == user.user_id
    assert row.user_agent == "testclient"

    page = web.get("/probe")
    assert page.status_code == 200
    assert "Ann Admin" in page.text and "(acme)" in page.text
    for section in ("Reports", "Dashboards", "Schedules", "Admin"):
        assert f">{section}</a>" in page.text
    assert 'action="/logout"' in page.text and ">Sign out</button>" in page.text

    out = web.post("/logout", data={"csrf_token": csrf_token(page.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert set_cookies(out)["broadsheet_session"]["broadsheet_session"]["max-age"] == "0"
    assert _sessions_of(sessions) == []
    assert web.get("/probe").headers["location"] == "/login?next=%2Fprobe"


def test_the_navigation_shows_admin_to_admins_only(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions, role=Role.editor)
    sign_in(web, user.email)
    page = web.get("/probe").text
    assert ">Reports</a>" in page and ">Schedules</a>" in page
    assert ">Admin</a>" not in page


def test_a_wrong_password_is_refused_and_keeps_the_email(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    answer = sign_in(web, user.email.upper(), "not the password at all")
    assert answer.status_code == 401
    assert "The email address or password is not right." in answer.text
    assert 'class="error-summary"' in answer.text
    assert f'value="{user.email.upper()}"' in answer.text
    assert "not the password at all" not in answer.text
    assert "broadsheet_session" not in set_cookies(answer)
    assert _sessions_of(sessions) == []
    # An unknown email gets the very same answer.
    unknown = sign_in(web, "nobody@acme.test", PASSWORD)
    assert unknown.status_code == 401
    assert "The email address or password is not right." in unknown.text


def test_the_email_is_not_case_sensitive(web: TestClient, sessions: sessionmaker[Session]) -> None:
    add_user(sessions, email="Ann@Acme.test")
    assert sign_in(web, "  ANN@acme.TEST ").status_code == 303


def test_missing_fields_are_named_at_their_fields(web: TestClient) -> None:
    token = csrf_token(web.get("/login").text)
    answer = web.post("/login", data={"csrf_token": token, "email": "", "password": ""})
    assert answer.status_code == 422
    html = answer.text
    assert '<a href="#email">Enter your email address.</a>' in html
    assert '<a href="#password">Enter your password.</a>' in html
    assert 'id="email-error"' in html
    assert re.search(r'id="email"[^>]*aria-describedby="email-error"[^>]*aria-invalid="true"', html)


def test_a_user_without_a_password_cannot_sign_in(
    web: TestClient, tenancy: Tenancy, sessions: sessionmaker[Session]
) -> None:
    tenancy.key(name="robot")  # an API key's user: email robot-admin@acme.test, no password
    assert sign_in(web, "robot-admin@acme.test", "").status_code == 422
    assert sign_in(web, "robot-admin@acme.test", PASSWORD).status_code == 401


# --- tenants --------------------------------------------------------------------------------


def test_an_email_in_several_tenants_signs_in_where_its_password_is(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    add_user(sessions, tenant="acme", email="sam@example.com", role=Role.viewer)
    add_user(sessions, tenant="globex", email="sam@example.com", password="another long password")
    assert sign_in(web, "sam@example.com", "another long password").status_code == 303
    assert "Tenant globex" in web.get("/probe").text


def test_the_same_password_in_two_tenants_asks_for_the_tenant(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    add_user(sessions, tenant="acme", email="sam@example.com", role=Role.viewer)
    add_user(sessions, tenant="globex", email="sam@example.com", role=Role.editor)
    asked = sign_in(web, "sam@example.com")
    assert asked.status_code == 200
    assert '<label class="label" for="tenant">Tenant</label>' in asked.text
    assert '<option value="acme">acme</option>' in asked.text
    assert '<option value="globex">globex</option>' in asked.text
    assert "broadsheet_session" not in set_cookies(asked)
    chosen = sign_in(web, "sam@example.com", tenant="globex")
    assert chosen.status_code == 303
    assert "Tenant globex, role editor" in web.get("/probe").text


# --- next -----------------------------------------------------------------------------------


def test_sign_in_returns_to_the_page_asked_for(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    asked = web.get("/probe/editor", params={"x": "1"})
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=%2Fprobe%2Feditor%3Fx%3D1"
    form_page = web.get(asked.headers["location"])
    assert '<input type="hidden" name="next" value="/probe/editor?x=1">' in form_page.text
    answer = sign_in(web, user.email, next_path="/probe/editor?x=1")
    assert answer.headers["location"] == "/probe/editor?x=1"


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example/",
        "https://evil.example/",
        "http:/evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/login",
        "/logout",
    ],
)
def test_next_never_leads_off_the_site(
    web: TestClient, sessions: sessionmaker[Session], next_path: str
) -> None:
    user = add_user(sessions)
    form_page = web.get("/login", params={"next": next_path})
    assert 'name="next"' not in form_page.text
    data = {
        "csrf_token": csrf_token(form_page.text),
        "email": user.email,
        "password": PASSWORD,
        "next": next_path,
    }
    answer = web.post("/login", data=data)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/reports"


def test_a_form_posted_after_the_session_ended_returns_to_its_page(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    for referer, location in [
        ("http://testserver/probe/editor?tab=2", "/login?next=%2Fprobe%2Feditor%3Ftab%3D2"),
        ("https://evil.example/probe", "/login"),  # not a place to return to
    ]:
        sign_in(web, user.email)
        token = csrf_token(web.get("/probe").text)
        with session_scope(sessions) as session:
            session.execute(update(WebSession).values(last_seen_at=utc_now() - timedelta(hours=2)))
        answer = web.post(
            "/probe/form", data={"csrf_token": token, "value": "x"}, headers={"Referer": referer}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == location


def test_htmx_without_a_session_navigates_the_page_to_sign_in(web: TestClient) -> None:
    answer = web.get(
        "/probe",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/probe/admin"},
    )
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/login?next=%2Fprobe%2Fadmin"


# --- CSRF -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-a-token", "é" * 64])
def test_sign_in_without_a_valid_token_is_403(
    web: TestClient, sessions: sessionmaker[Session], token: str | None
) -> None:
    user = add_user(sessions)
    web.get("/login")  # the pre-session cookie is there; the token is not
    data = {"email": user.email, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    answer = web.post("/login", data=data)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "You cannot do that" in answer.text
    assert _sessions_of(sessions) == []


def test_another_browsers_token_does_not_sign_in(
    web: TestClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    with page_client(settings) as other:
        theirs = csrf_token(other.get("/login").text)
    web.get("/login")
    data = {"csrf_token": theirs, "email": user.email, "password": PASSWORD}
    assert web.post("/login", data=data).status_code == 403


def test_posts_without_a_valid_token_are_403_with_or_without_a_session(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    # No session, no token: 403 (not a redirect to sign in).
    assert web.post("/probe/form", data={"value": "x"}).status_code == 403
    # No session, and the sign-in form's token: only the sign-in form takes it.
    login_token = csrf_token(web.get("/login").text)
    assert web.post("/probe/form", data={"csrf_token": login_token}).status_code == 403
    assert web.post("/logout", data={"csrf_token": login_token}).status_code == 403

    user = add_user(sessions)
    sign_in(web, user.email)
    token = csrf_token(web.get("/probe").text)
    assert web.post("/probe/form", data={"value": "x"}).status_code == 403
    assert web.post("/probe/form", data={"value": "x", "csrf_token": "0" * 64}).status_code == 403
    assert (
        web.post("/probe/form", headers={b"X-CSRF-Token": ("é" * 64).encode()}).status_code == 403
    )
    assert web.post("/probe/form", data={"csrf_token": login_token}).status_code == 403
    # Sign out needs it too: without it the session goes on.
    assert web.post("/logout").status_code == 403
    assert len(_sessions_of(sessions)) == 1

    ok = web.post("/probe/form", data={"value": "x", "csrf_token": token})
    assert (ok.status_code, ok.text) == (200, f"posted x as {user.email}")
    # htmx and scripts send it as a header.
    by_header = web.post("/probe/form", data={"value": "y"}, headers={"X-CSRF-Token": token})
    assert by_header.status_code == 200
    # A JSON body carries no form field: the header is the only way.
    assert web.post("/probe/form", json={"csrf_token": token}).status_code == 403


def test_a_new_session_means_a_new_token(web: TestClient, sessions: sessionmaker[Session]) -> None:
    user = add_user(sessions)
    form_token = csrf_token(web.get("/login").text)
    data = {"csrf_token": form_token, "email": user.email, "password": PASSWORD}
    assert web.post("/login", data=data).status_code == 303
    first = csrf_token(web.get("/probe").text)
    # The sign-in form, still open in another tab, signs in again: a new session.
    assert web.post("/login", data=data).status_code == 303
    second = csrf_token(web.get("/probe").text)
    assert first != second
    assert web.post("/probe/form", data={"csrf_token": first}).status_code == 403
    assert web.post("/probe/form", data={"csrf_token": second}).status_code == 200


# --- throttling -----------------------------------------------------------------------------


def _lock(sessions: sessionmaker[Session], subject: throttle.Subject) -> SignInThrottle | None:
    with session_scope(sessions) as session:
        return session.get(SignInThrottle, subject.id)


def _end_locks(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        session.execute(
            update(SignInThrottle).values(locked_until=utc_now() - timedelta(seconds=1))
        )


def test_five_failures_lock_the_account_even_for_the_right_password(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    # Each try from another address: the account's own count locks it.
    for attempt in range(4):
        with page_client(settings, client=(f"10.0.0.{attempt}", 5000)) as web:
            assert sign_in(web, user.email, "wrong password!!").status_code == 401
    with page_client(settings, client=("10.0.0.4", 5000)) as web:
        fifth = sign_in(web, user.email, "wrong password!!")
    assert fifth.status_code == 429
    assert fifth.headers["Retry-After"] == "60"
    with page_client(settings, client=("10.0.0.5", 5000)) as web:
        right = sign_in(web, user.email)
        assert right.status_code == 429
        assert right.headers["Retry-After"] in ("59", "60")
        assert "There were too many failed sign-ins; try again in 1 minute." in right.text
        assert right.headers["content-type"].startswith("text/html")
        assert _sessions_of(sessions) == []
        # Another account from the same address is not locked.
        other = add_user(sessions, email="other@acme.test")
        assert sign_in(web, other.email).status_code == 303


def test_each_lock_doubles_up_to_fifteen_minutes(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    for _ in range(4):
        assert sign_in(web, user.email, "wrong password!!").status_code == 401
    waits = []
    for _ in range(7):
        answer = sign_in(web, user.email, "wrong password!!")
        assert answer.status_code == 429
        waits.append(int(answer.headers["Retry-After"]))
        _end_locks(sessions)
    assert waits == [60, 120, 240, 480, 900, 900, 900]
    row = _lock(sessions, throttle.address("testclient"))
    assert row is not None and row.lock_seconds == 900
    # Once the lock is over the right password works, and the account's count is forgotten.
    assert sign_in(web, user.email).status_code == 303
    assert _lock(sessions, throttle.account(_tenant_id(sessions, "acme"), user.email)) is None


def test_five_failures_lock_the_address_for_every_account(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    for n in range(4):
        assert sign_in(web, f"guess{n}@acme.test", "wrong password!!").status_code == 401
    assert sign_in(web, "guess5@acme.test", "wrong password!!").status_code == 429
    assert sign_in(web, user.email).status_code == 429
    assert _sessions_of(sessions) == []


def test_failures_older_than_the_window_do_not_count(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    for _ in range(4):
        sign_in(web, user.email, "wrong password!!")
    with session_scope(sessions) as session:
        session.execute(
            update(SignInThrottle).values(
                window_started_at=utc_now() - timedelta(minutes=16),
                last_failed_at=utc_now() - timedelta(minutes=16),
            )
        )
    assert sign_in(web, user.email, "wrong password!!").status_code == 401
    assert sign_in(web, user.email).status_code == 303


def _tenant_id(sessions: sessionmaker[Session], slug: str) -> uuid.UUID | None:
    with session_scope(sessions) as session:
        return session.scalar(select(Tenant.id).where(Tenant.slug == slug))


# --- cookies and headers --------------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_lax(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    cookie = set_cookies(sign_in(web, user.email))["broadsheet_session"]["broadsheet_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert not cookie["secure"]  # plain http here
    assert not cookie["expires"] and not cookie["max-age"]  # the browser's session


def test_cookies_are_secure_under_https(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    with page_client(settings, base_url="https://testserver") as web:
        answer = sign_in(web, user.email)
        assert set_cookies(answer)["broadsheet_session"]["broadsheet_session"]["secure"] is True
    # Behind a proxy that ends TLS, the public URL says https.
    behind_proxy = settings.model_copy(update={"public_url": "https://reports.example.com"})
    with page_client(behind_proxy) as web:
        assert set_cookies(web.get("/login"))["broadsheet_csrf"]["broadsheet_csrf"]["secure"]


@pytest.mark.parametrize("path", ["/login", "/", "/no-such-page", "/static/app.css"])
def test_pages_carry_the_security_headers(web: TestClient, path: str) -> None:
    answer = web.get(path)
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_the_api_and_embeds_keep_their_own_headers(web: TestClient, tenancy: Tenancy) -> None:
    api = web.get("/api/v1/reports", headers=tenancy.key().headers)
    assert api.status_code == 200
    assert "Content-Security-Policy" not in api.headers
    missing = web.get("/api/v1/nothing")
    assert missing.headers["content-type"] == "application/problem+json"
    assert "Content-Security-Policy" not in missing.headers
    embed = web.get("/embed/dashboards/not-a-token")
    assert embed.status_code == 401
    assert embed.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert embed.headers["Referrer-Policy"] == "no-referrer"
    assert web.get("/healthz").json() == {"status": "ok"}
    assert web.get("/openapi.json").status_code == 200
    assert "/login" not in web.get("/openapi.json").json()["paths"]


def test_static_files_are_versioned_and_cached(web: TestClient) -> None:
    html = web.get("/login").text
    href = re.search(r'<link rel="stylesheet" href="(/static/app\.css\?v=[0-9a-f]+)">', html)
    assert href
    css = web.get(href.group(1))
    assert css.status_code == 200
    assert "immutable" in css.headers["Cache-Control"]
    assert web.get("/static/app.css").headers["Cache-Control"] == "no-cache"
    assert web.get("/static/../config.py").status_code == 404


# --- errors as pages ------------------------------------------------------------------------


def test_errors_on_pages_are_pages(web: TestClient, sessions: sessionmaker[Session]) -> None:
    unknown = web.get("/no-such-page")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "<title>Page not found · Broadsheet</title>" in unknown.text
    assert "Sign out" not in unknown.text  # nobody signed in

    user = add_user(sessions, role=Role.viewer)
    sign_in(web, user.email)
    unknown = web.get("/no-such-page")
    assert unknown.status_code == 404 and "Sign out" in unknown.text  # with its navigation

    missing = web.get("/probe/missing")
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    assert "no report 42" not in missing.text  # the page says nothing of what was asked

    forbidden = web.get("/probe/admin")
    assert forbidden.status_code == 403
    assert "<title>You cannot do that · Broadsheet</title>" in forbidden.text
    assert (
        "This needs the admin role, to manage users and their roles; you are signed in as viewer."
    ) in forbidden.text
    assert web.get("/probe/editor").status_code == 403

    invalid = web.get("/probe/invalid")
    assert invalid.status_code == 422
    assert "&lt;b&gt;bold&lt;/b&gt; is not allowed" in invalid.text  # as text, not markup

    broken = web.get("/probe/broken")
    assert broken.status_code == 500
    assert broken.headers["content-type"].startswith("text/html")
    assert "Sorry, something went wrong" in broken.text and "a bug" not in broken.text
    assert broken.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY

    not_allowed = web.delete("/login")
    assert not_allowed.status_code == 405
    assert "Page not found" in not_allowed.text


def test_the_api_keeps_problem_json(web: TestClient, tenancy: Tenancy) -> None:
    caller = tenancy.key()
    answer = web.get("/api/v1/reports/not-an-id", headers=caller.headers)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 404
    assert web.get("/api/v1/reports").status_code == 401
