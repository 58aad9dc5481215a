"""Web sessions: a signed-in browser is a row, found by the SHA-256 of its cookie's token.

A session ends when unused for ``BROADSHEET_SESSION_IDLE_MINUTES``, when it is older than
``BROADSHEET_SESSION_MAX_HOURS``, at sign-out, and when its user's password is set anew.
Signing in always makes a new session (and ends the one the browser came with), so a token
planted in a browser before sign-in never becomes a signed-in one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from broadsheet.auth.principal import PRINCIPAL_COLUMNS, Principal, principal_from
from broadsheet.config import Settings
from broadsheet.models import Tenant, User, WebSession

# last_seen_at is written at most this often: a page view is a read, not a write, mostly.
TOUCH_EVERY = timedelta(minutes=1)
MAX_USER_AGENT = 255


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session,
    principal: Principal,
    settings: Settings,
    now: datetime,
    *,
    replacing: str | None = None,
    user_agent: str | None = None,
    ip: str | None = None,
) -> str:
    """A new session for ``principal``; its token (for the cookie), never stored itself.
    ``replacing`` is the token the browser came with: that session ends."""
    if replacing:
        end_session(session, replacing)
    _sweep(session, settings, now)
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=token_id(token),
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            created_at=now,
            last_seen_at=now,
            user_agent=(user_agent or None) and user_agent[:MAX_USER_AGENT],
            ip=ip,
        )
    )
    session.flush()
    return token


def find(session: Session, token: str, settings: Settings, now: datetime) -> Principal | None:
    """The principal signed in with ``token``, or None (unknown, or ended by a timeout)."""
    row = session.execute(
        select(WebSession.created_at, WebSession.last_seen_at, *PRINCIPAL_COLUMNS)
        .join(User, WebSession.user_id == User.id)
        .join(Tenant, WebSession.tenant_id == Tenant.id)
        .where(WebSession.id == token_id(token))
    ).first()
    if row is None:
        return None
    created_at, last_seen_at = row[:2]
    if _expired(created_at, last_seen_at, settings, now):
        return None  # its row goes at the next sign-in's sweep (this request may roll back)
    if now - last_seen_at >= TOUCH_EVERY:
        session.execute(
            update(WebSession).where(WebSession.id == token_id(token)).values(last_seen_at=now)
        )
    return principal_from(row[2:])


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == token_id(token)))


def _expired(
    created_at: datetime, last_seen_at: datetime, settings: Settings, now: datetime
) -> bool:
    return now - created_at >= timedelta(
        hours=settings.session_max_hours
    ) or now - last_seen_at >= timedelta(minutes=settings.session_idle_minutes)


def _sweep(session: Session, settings: Settings, now: datetime) -> None:
    """Sessions that timed out and were never seen again are deleted at the next sign-in."""
    session.execute(
        delete(WebSession).where(
            or_(
                WebSession.created_at <= now - timedelta(hours=settings.session_max_hours),
                WebSession.last_seen_at <= now - timedelta(minutes=settings.session_idle_minutes),
            )
        )
    )
