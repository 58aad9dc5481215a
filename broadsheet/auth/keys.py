"""API keys' life: made with scopes and an optional expiry, rotated with a grace period,
revoked. The CLI, the keys API and the admin page all make and rotate keys here.

A key is shown once; only its SHA-256 is stored. Rotating a key makes a successor with the
same user, name, scopes and expiry; the old key keeps working until its grace period ends,
then answers 401 like an expired one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from broadsheet.auth.permissions import SCOPE_ORDER, SCOPE_VALUES, Scope, role_scopes
from broadsheet.errors import Conflict, NotFound, ValidationFailed
from broadsheet.kit.crypto import hash_api_key, new_api_key
from broadsheet.kit.time import utc_now
from broadsheet.models import ApiKey, Role

PREFIX_LENGTH = 10
MAX_GRACE = timedelta(days=365)
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``key`` is shown once, never stored."""

    key: str
    row: ApiKey


def scopes_for(role: Role, asked: Iterable[str] | None, field: str = "scopes") -> list[Scope]:
    """The scopes a new key gets: the ones asked for (known, at least one), in their order;
    none asked for: all its user's role can use."""
    if asked is None:
        return role_scopes(role)
    asked = [str(s).strip() for s in asked if str(s).strip()]
    unknown = sorted(set(asked) - SCOPE_VALUES)
    if unknown:
        raise ValidationFailed.field(
            field,
            f"unknown scope {', '.join(unknown)}; use any of {', '.join(SCOPE_ORDER)}",
        )
    if not asked:
        raise ValidationFailed.field(field, f"give at least one of {', '.join(SCOPE_ORDER)}")
    return [s for s in SCOPE_ORDER if s.value in asked]


def check_expiry(expires_at: datetime | None, field: str = "expiresAt") -> datetime | None:
    """``expires_at`` if it is a future instant with a time zone (else a 422 naming ``field``)."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise ValidationFailed.field(field, "give a time zone, like 2027-01-31T00:00:00Z")
    if expires_at <= utc_now():
        raise ValidationFailed.field(field, "the key would have expired already: give a later time")
    return expires_at


def parse_duration(text: str, field: str = "grace") -> timedelta:
    """``30s``, ``15m``, ``24h`` or ``7d`` (at most a year)."""
    match = _DURATION.match(text)
    if not match:
        raise ValidationFailed.field(field, "write a number and a unit: s, m, h or d (like 24h)")
    duration = timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    if duration > MAX_GRACE:
        raise ValidationFailed.field(field, "at most 365d")
    return duration


def make(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    scopes: Iterable[Scope],
    expires_at: datetime | None = None,
    key: str | None = None,
) -> NewKey:
    """A new key row (flushed); ``key`` lets the bootstrap key be chosen."""
    plaintext = key or new_api_key()
    row = ApiKey(
        tenant_id=tenant_id,
        user_id=user_id,
        name=name,
        key_hash=hash_api_key(plaintext),
        prefix=plaintext[:PREFIX_LENGTH],
        scopes=[str(s) for s in scopes],
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return NewKey(plaintext, row)


def rotate(
    session: Session, key_id: uuid.UUID, grace: timedelta, tenant_id: uuid.UUID | None = None
) -> NewKey:
    """A successor of the key (same user, name, scopes and expiry); the old key works for
    ``grace`` more, then is refused. ``tenant_id`` limits it to one tenant's keys."""
    old = session.get(ApiKey, key_id)
    if old is None or (tenant_id is not None and old.tenant_id != tenant_id):
        raise NotFound(f"no API key {key_id}")
    now = utc_now()
    if old.revoked_at is not None:
        raise Conflict(f"API key {key_id} is revoked: make a new one instead")
    if old.replaced_by is not None:
        raise Conflict(f"API key {key_id} was rotated already, to {old.replaced_by}")
    if old.expires_at is not None and old.expires_at <= now:
        raise Conflict(f"API key {key_id} has expired: make a new one instead")
    new = make(
        session,
        tenant_id=old.tenant_id,
        user_id=old.user_id,
        name=old.name,
        scopes=[Scope(s) for s in old.scopes],
        expires_at=old.expires_at,
    )
    old.replaced_by = new.row.id
    old.grace_until = now + grace
    session.flush()
    return new


def is_live(row: ApiKey, now: datetime) -> bool:
    """Whether requests with the key are accepted at ``now``."""
    return (
        row.revoked_at is None
        and (row.expires_at is None or row.expires_at > now)
        and (row.grace_until is None or row.grace_until > now)
    )
