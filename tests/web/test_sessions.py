"""Web sessions: a new id at every sign-in, idle and absolute timeouts, and sessions that end
with their user's password or the user. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.auth import web_sessions
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.kit.time import utc_now
from broadsheet.models import Role, User, WebSession
from tests.web.helpers import PASSWORD, add_user, csrf_token, page_client, set_cookies, sign_in


@pytest.fixture
def web(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with page_client(settings) as client:
        yield client


def _rows(sessions: sessionmaker[Session], of: uuid.UUID | None = None) -> list[WebSession]:
    """Every stored session, or those of user ``of``."""
    query = select(WebSession)
    if of is not None:
        query = query.where(WebSession.user_id == of)
    with session_scope(sessions) as session:
        return list(session.scalars(query))


def _age(sessions: sessionmaker[Session], **values: timedelta) -> None:
    """Move every session's stored instants back by ``values`` (created_at, last_seen_at)."""
    now = utc_now()
    with session_scope(sessions) as session:
        session.execute(update(WebSession).values({k: now - v for k, v in values.items()}))


def _cookie(web: TestClient) -> str:
    value = web.cookies.get("broadsheet_session")
    assert value
    return value


def test_the_database_keeps_only_the_tokens_hash(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    sign_in(web, user.email)
    token = _cookie(web)
    [row] = _rows(sessions)
    assert row.id == web_sessions.token_id(token) and token not in row.id
    assert len(token) >= 43  # 256 random bits


def test_sign_in_makes_a_new_session_id(
    web: TestClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    form_token = csrf_token(web.get("/login").text)
    data = {"csrf_token": form_token, "email": user.email, "password": PASSWORD}
    # A token planted in the browser before sign-in (fixation) is not what it signs in with.
    web.cookies.set("broadsheet_session", "planted-by-someone-else", domain="testserver.local")
    form_token = csrf_token(web.get("/login").text)  # the form as that browser has it
    data["csrf_token"] = form_token
    assert web.post("/login", data=data).status_code == 303
    first = _cookie(web)
    assert first != "planted-by-someone-else"
    # Signing in again (the form still open) replaces the session; the old one ends.
    assert web.post("/login", data={**data, "csrf_token": _login_token(web)}).status_code == 303
    second = _cookie(web)
    assert second != first
    assert [r.id for r in _rows(sessions)] == [web_sessions.token_id(second)]
    with page_client(settings) as other:
        other.cookies.set("broadsheet_session", first, domain="testserver.local")
        assert other.get("/probe").status_code == 303


def _login_token(web: TestClient) -> str:
    """The sign-in form's token for a browser signed in already (whose /login moves on):
    bound to its session cookie, as an open form of that page would carry it."""
    return csrf_token(web.get("/probe").text)


def test_an_idle_session_ends_and_sign_in_returns_to_the_page(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    sign_in(web, user.email)
    _age(sessions, last_seen_at=timedelta(minutes=59))
    assert web.get("/probe").status_code == 200  # within the hour
    _age(sessions, last_seen_at=timedelta(minutes=61))
    answer = web.get("/probe/editor")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fprobe%2Feditor"
    assert set_cookies(answer)["broadsheet_session"]["broadsheet_session"]["max-age"] == "0"
    again = sign_in(web, user.email, next_path="/probe/editor")
    assert again.headers["location"] == "/probe/editor"
    assert len(_rows(sessions)) == 1  # the timed-out one was swept
    assert web.get("/probe/editor").status_code == 200


def test_use_keeps_a_session_alive(web: TestClient, sessions: sessionmaker[Session]) -> None:
    user = add_user(sessions)
    sign_in(web, user.email)
    _age(sessions, last_seen_at=timedelta(minutes=50))
    assert web.get("/probe").status_code == 200
    [row] = _rows(sessions)
    assert utc_now() - row.last_seen_at < timedelta(minutes=1)


def test_a_session_ends_after_the_longest_time_even_in_use(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    sign_in(web, user.email)
    _age(sessions, created_at=timedelta(hours=11, minutes=59), last_seen_at=timedelta(0))
    assert web.get("/probe").status_code == 200
    _age(sessions, created_at=timedelta(hours=12, minutes=1), last_seen_at=timedelta(0))
    assert web.get("/probe").headers["location"] == "/login?next=%2Fprobe"


def test_the_timeouts_are_settings(settings: Settings, sessions: sessionmaker[Session]) -> None:
    short = settings.model_copy(update={"session_idle_minutes": 5, "session_max_hours": 1})
    user = add_user(sessions)
    with page_client(short) as web:
        sign_in(web, user.email)
        _age(sessions, last_seen_at=timedelta(minutes=6))
        assert web.get("/probe").status_code == 303
        sign_in(web, user.email)
        _age(sessions, created_at=timedelta(minutes=61), last_seen_at=timedelta(0))
        assert web.get("/probe").status_code == 303


def test_timed_out_sessions_are_swept_at_the_next_sign_in(
    web: TestClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    sign_in(web, user.email)
    _age(sessions, last_seen_at=timedelta(hours=3))
    with page_client(settings) as other:
        sign_in(other, user.email)
    assert len(_rows(sessions)) == 1


def test_a_new_password_or_a_deleted_user_ends_their_sessions(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions)
    sign_in(web, user.email)
    add_user(sessions, email=user.email, password="a brand new password")
    assert _rows(sessions, of=user.user_id) == []
    assert web.get("/probe").status_code == 303

    sign_in(web, user.email, "a brand new password")
    assert web.get("/probe").status_code == 200
    with session_scope(sessions) as session:
        session.execute(delete(User).where(User.id == user.user_id))
    assert _rows(sessions, of=user.user_id) == []
    assert web.get("/probe").status_code == 303


def test_a_role_change_applies_at_once(web: TestClient, sessions: sessionmaker[Session]) -> None:
    user = add_user(sessions, role=Role.admin)
    sign_in(web, user.email)
    assert web.get("/probe/admin").status_code == 200
    with session_scope(sessions) as session:
        session.execute(update(User).where(User.id == user.user_id).values(role="viewer"))
    assert web.get("/probe/admin").status_code == 403
    assert ">Admin</a>" not in web.get("/probe").text
