"""A tenant's people and API keys as its admins manage them: users with their roles, a new
user who signs in with a password, keys issued to a user and revoked.

Every function is bound to one tenant: another tenant's user or key is a 404, as everywhere.
A new user follows ``broadsheet users create``'s rules (an email address, a password of at
least 12 characters), except that an email already in the tenant is refused rather than
given a new password: an admin resets nobody's password by accident.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadsheet.auth import keys, passwords
from broadsheet.auth.principal import Principal
from broadsheet.auth.service import SignInUser, set_sign_in
from broadsheet.deliveries.recipients import EMAIL, MAX_EMAIL
from broadsheet.errors import Conflict, NotFound, ValidationFailed
from broadsheet.kit.tenancy import get_owned
from broadsheet.kit.time import utc_now
from broadsheet.models import ApiKey, Role, Tenant, User

MAX_NAME = 255


@dataclass(frozen=True)
class Member:
    """A user of the tenant, as the users page lists them."""

    user: User
    active_keys: int

    @property
    def can_sign_in(self) -> bool:
        return self.user.password_hash is not None


def members(session: Session, tenant_id: uuid.UUID) -> list[Member]:
    """Every user of the tenant, by email (users without one, made for keys, by name)."""
    active = (
        select(ApiKey.user_id, func.count().label("n"))
        .where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
        .group_by(ApiKey.user_id)
        .subquery()
    )
    rows = session.execute(
        select(User, func.coalesce(active.c.n, 0))
        .outerjoin(active, active.c.user_id == User.id)
        .where(User.tenant_id == tenant_id)
        .order_by(User.email.is_(None), User.email, User.name, User.id)
    ).all()
    return [Member(user, int(count)) for user, count in rows]


def get_user(session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
    return get_owned(session, User, tenant_id, user_id, "user")


def set_role(session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> User:
    """Give a user another role (it applies at their next request). The tenant's last admin
    stays one, so someone can always manage it."""
    user = get_user(session, tenant_id, user_id)
    if user.role == Role.admin and role != Role.admin:
        others = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.tenant_id == tenant_id, User.role == Role.admin, User.id != user.id)
        )
        if not others:
            raise Conflict(
                f"{user.email or user.name} is the tenant's only admin: make someone else an "
                "admin first"
            )
    user.role = role
    session.flush()
    return user


def add_user(
    session: Session,
    caller: Principal,
    *,
    email: str,
    role: Role,
    password: str,
    name: str | None = None,
) -> SignInUser:
    """A new user of the caller's tenant who signs in with ``email`` and ``password``."""
    email = email.strip()
    errors = []
    if not (len(email) <= MAX_EMAIL and EMAIL.fullmatch(email)):
        errors.append({"field": "email", "message": "enter an email address, like ann@example.com"})
    if name is not None and len(name) > MAX_NAME:
        errors.append({"field": "name", "message": f"use at most {MAX_NAME} characters"})
    trouble = passwords.problem(password)
    if trouble:
        errors.append({"field": "password", "message": trouble})
    if errors:
        raise ValidationFailed("; ".join(e["message"] for e in errors), errors=errors)
    taken = session.scalar(
        select(User.id).where(User.tenant_id == caller.tenant_id, User.email == email.lower())
    )
    if taken is not None:
        raise ValidationFailed.field("email", "a user with this email exists already")
    tenant = session.get(Tenant, caller.tenant_id)
    assert tenant is not None  # the caller belongs to it
    return set_sign_in(
        session, tenant=tenant.slug, email=email, role=role, password=password, name=name or None
    )


IssuedKey = keys.NewKey  # a new key: ``key`` is shown once, never stored


def keys_of(session: Session, tenant_id: uuid.UUID) -> list[ApiKey]:
    """The tenant's keys, newest first, revoked ones included (with their user)."""
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.tenant_id == tenant_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id)
        )
    )


def issue_key(
    session: Session,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """A key for a user of the tenant: it acts as that user, with the user's role and
    ``scopes`` (none given: every scope the role can use) until ``expires_at``."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed.field("name", f"give the key a name of 1 to {MAX_NAME} characters")
    try:
        user = get_user(session, tenant_id, user_id)
    except NotFound:
        raise ValidationFailed.field("userId", "choose a user of this tenant") from None
    chosen = keys.scopes_for(Role(user.role), scopes)
    return keys.make(
        session,
        tenant_id=tenant_id,
        user_id=user.id,
        name=name,
        scopes=chosen,
        expires_at=keys.check_expiry(expires_at),
    )


def revoke_key(session: Session, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    """From now on, requests with the key are refused (401). Revoking twice keeps the first
    instant."""
    row = get_owned(session, ApiKey, tenant_id, key_id, "API key")
    row.revoked_at = row.revoked_at or utc_now()
    session.flush()
    return row
