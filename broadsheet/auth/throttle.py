"""Throttling sign-in guesses, per account and per client address.

Five failures within ``WINDOW`` lock the subject for a minute; each failure after that locks
it again for twice as long as the last lock, up to ``MAX_LOCK``. While locked, every try —
the right password included — is refused before the password is checked. A subject's record
is forgotten once a whole window has passed with neither a failure nor a lock.

The counts are rows (``sign_in_throttles``), so every process of a deployment counts the same
guesser; a row is locked while it is counted (PostgreSQL), so concurrent failures all count.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broadsheet.models import SignInThrottle

WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
FIRST_LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 15 * 60


@dataclass(frozen=True)
class Subject:
    """Who is throttled: one account, or one client address."""

    kind: str
    id: str


def account(tenant: uuid.UUID | str | None, email: str) -> Subject:
    """An email in a tenant (its id; for an email no tenant knows, the tenant as typed)."""
    return _subject("account", f"{tenant or ''}:{email.strip().lower()}")


def address(ip: str) -> Subject:
    return _subject("address", ip)


def _subject(kind: str, text: str) -> Subject:
    return Subject(kind, hashlib.sha256(f"{kind}:{text}".encode()).hexdigest())


def locked_for(session: Session, subjects: Sequence[Subject], now: datetime) -> int:
    """Seconds until every lock on ``subjects`` has ended; 0 when none is locked."""
    locks = session.scalars(
        select(SignInThrottle.locked_until).where(
            SignInThrottle.id.in_([s.id for s in subjects]), SignInThrottle.locked_until > now
        )
    )
    return max((_seconds(until, now) for until in locks), default=0)


def record_failure(session: Session, subjects: Sequence[Subject], now: datetime) -> int:
    """Count a failed sign-in against each subject; the seconds they are now locked for."""
    session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.last_failed_at < now - WINDOW,
            or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until < now - WINDOW),
        )
    )
    return max(_fail(session, subject, now) for subject in subjects)


def clear(session: Session, subject: Subject) -> None:
    """Forget a subject's failures (an account after its owner signed in)."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.id == subject.id))


def _fail(session: Session, subject: Subject, now: datetime) -> int:
    row = _row(session, subject, now)
    if row.window_started_at < now - WINDOW:
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    row.last_failed_at = now
    if row.failures < MAX_FAILURES:
        session.flush()
        return 0
    seconds = min(row.lock_seconds * 2, MAX_LOCK_SECONDS) or FIRST_LOCK_SECONDS
    row.lock_seconds = seconds
    row.locked_until = now + timedelta(seconds=seconds)
    session.flush()
    return seconds


def _row(session: Session, subject: Subject, now: datetime) -> SignInThrottle:
    row = session.get(SignInThrottle, subject.id, with_for_update=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():  # another process may insert the same subject first
            row = SignInThrottle(
                id=subject.id,
                kind=subject.kind,
                failures=0,
                window_started_at=now,
                last_failed_at=now,
                lock_seconds=0,
            )
            session.add(row)
        return row
    except IntegrityError:
        found = session.get(
            SignInThrottle, subject.id, with_for_update=True, populate_existing=True
        )
        assert found is not None  # it was there a moment ago, and rows are only swept here
        return found


def _seconds(until: datetime | None, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds())) if until else 0
