"""Tenants, users, API keys and passwords. Keys are shown once; only their SHA-256 is stored.
Passwords are kept as argon2id hashes (``broadsheet.auth.passwords``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from broadsheet.auth import keys, passwords
from broadsheet.auth.permissions import SCOPE_VALUES, Scope
from broadsheet.auth.principal import PRINCIPAL_COLUMNS, Principal, principal_from
from broadsheet.config import Settings
from broadsheet.errors import NotFound, ValidationFailed
from broadsheet.kit.crypto import Cipher, hash_api_key
from broadsheet.kit.time import utc_now
from broadsheet.kit.webhook_secrets import new_secret
from broadsheet.models import ApiKey, Role, Tenant, User, WebSession

TENANT_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class IssuedKey:
    key: str
    key_id: uuid.UUID
    user_id: uuid.UUID
    tenant: str
    role: Role


def get_tenant(session: Session, slug: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.slug == slug))


def ensure_tenant(session: Session, slug: str, name: str | None = None) -> Tenant:
    if not TENANT_SLUG.match(slug):
        raise ValidationFailed.field(
            "tenant", "use 1-63 lowercase letters, digits or '-', starting with a letter or digit"
        )
    tenant = get_tenant(session, slug)
    if tenant is None:
        tenant = Tenant(slug=slug, name=name or slug)
        session.add(tenant)
        session.flush()
    return tenant


def ensure_user(
    session: Session, tenant: Tenant, *, name: str, role: Role, email: str | None
) -> User:
    """The user with this email in the tenant (its role set to ``role``), or a new one."""
    user = None
    if email:
        user = session.scalar(
            select(User).where(User.tenant_id == tenant.id, User.email == email.lower())
        )
    if user is None:
        user = User(
            tenant_id=tenant.id, name=name, role=role, email=email.lower() if email else None
        )
        session.add(user)
    else:
        user.role = role
    session.flush()
    return user


@dataclass(frozen=True)
class SignInUser:
    """A user made or changed by :func:`set_sign_in`."""

    user_id: uuid.UUID
    tenant: str
    email: str
    role: Role
    created: bool


def set_sign_in(
    session: Session,
    *,
    tenant: str,
    email: str,
    role: Role,
    password: str,
    name: str | None = None,
) -> SignInUser:
    """Let ``email`` sign in to ``tenant`` (made if missing) with ``password`` and ``role``.

    An existing user with the email (one made with an API key, say) keeps its keys and gets
    the password and role; its open web sessions end. ``email`` is taken as checked.
    """
    trouble = passwords.problem(password)
    if trouble:
        raise ValidationFailed.field("password", trouble)
    tenant_row = ensure_tenant(session, tenant)
    email = email.strip().lower()
    existing = session.scalar(
        select(User.id).where(User.tenant_id == tenant_row.id, User.email == email)
    )
    user = ensure_user(
        session, tenant_row, name=name or email.partition("@")[0], role=role, email=email
    )
    if name:
        user.name = name
    user.password_hash = passwords.hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    return SignInUser(user.id, tenant_row.slug, email, role, created=existing is None)


def ensure_bootstrap_sign_in(session: Session, *, tenant: str, email: str, password: str) -> bool:
    """Give the configured admin its password unless it has one (a password changed since is
    kept); True when it was set."""
    tenant_row = ensure_tenant(session, tenant)
    current = session.scalar(
        select(User.password_hash).where(
            User.tenant_id == tenant_row.id, User.email == email.strip().lower()
        )
    )
    if current:
        return False
    set_sign_in(session, tenant=tenant, email=email, role=Role.admin, password=password)
    return True


def anyone_can_sign_in(session: Session) -> bool:
    return (
        session.scalar(select(User.id).where(User.password_hash.is_not(None)).limit(1)) is not None
    )


def issue_key(
    session: Session,
    *,
    tenant: str,
    role: Role,
    name: str,
    email: str | None = None,
    key: str | None = None,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Create a key for a (new or existing) user; ``key`` lets the bootstrap key be chosen.
    Without ``scopes`` the key gets every scope the role can use."""
    chosen = keys.scopes_for(role, scopes)
    expires_at = keys.check_expiry(expires_at)
    tenant_row = ensure_tenant(session, tenant)
    user = ensure_user(session, tenant_row, name=name, role=role, email=email)
    made = keys.make(
        session,
        tenant_id=tenant_row.id,
        user_id=user.id,
        name=name,
        scopes=chosen,
        expires_at=expires_at,
        key=key,
    )
    return IssuedKey(made.key, made.row.id, user.id, tenant_row.slug, role)


def ensure_bootstrap_key(session: Session, *, key: str, tenant: str, email: str | None) -> bool:
    """Create the configured admin key unless it exists; True when it was created."""
    if session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_api_key(key))):
        return False
    issue_key(session, tenant=tenant, role=Role.admin, name="bootstrap admin", email=email, key=key)
    return True


# A key's lastUsedAt is written at most this often: a write per request would make every read
# a write, and minute precision is what a person revoking a stale key needs.
LAST_USED_PRECISION = timedelta(minutes=1)


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal behind a key, or None for an unknown, revoked or expired one (or one
    rotated whose grace period is over). Every API request
    asks, so it reads the columns it needs as one plain row (no ORM objects).

    A use is recorded (``last_used_at``) and committed at once, before the request's own work,
    so a request that then fails still counts as a use."""
    now = utc_now()
    row = session.execute(
        select(ApiKey.id, ApiKey.last_used_at, ApiKey.scopes, *PRINCIPAL_COLUMNS)
        .select_from(ApiKey)
        .join(User, ApiKey.user_id == User.id)
        .join(Tenant, ApiKey.tenant_id == Tenant.id)
        .where(
            ApiKey.key_hash == hash_api_key(key),
            ApiKey.revoked_at.is_(None),
            # Expired, or rotated and past its grace period: as unknown as a revoked key.
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            or_(ApiKey.grace_until.is_(None), ApiKey.grace_until > now),
        )
    ).first()
    if row is None:
        return None
    key_id, last_used_at, scopes = row[:3]
    if last_used_at is None or last_used_at <= now - LAST_USED_PRECISION:
        _record_use(session, key_id, now)
    return replace(
        principal_from(row[3:]),
        scopes=frozenset(Scope(s) for s in scopes if s in SCOPE_VALUES),
        key_id=key_id,
    )


def _record_use(session: Session, key_id: uuid.UUID, now: datetime) -> None:
    # The condition makes concurrent requests with one key write once, not once each.
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at <= now - LAST_USED_PRECISION,
            ),
        )
        .values(last_used_at=now)
    )
    session.commit()


def list_keys(session: Session, tenant: str | None = None) -> list[tuple[ApiKey, User, Tenant]]:
    query = (
        select(ApiKey, User, Tenant)
        .join(User, ApiKey.user_id == User.id)
        .join(Tenant, ApiKey.tenant_id == Tenant.id)
        .order_by(Tenant.slug, ApiKey.created_at)
    )
    if tenant:
        query = query.where(Tenant.slug == tenant)
    return [(k, u, t) for k, u, t in session.execute(query).all()]


def revoke_key(session: Session, key_id: uuid.UUID) -> None:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    row.revoked_at = row.revoked_at or utc_now()


def system_principal(session: Session, tenant_slug: str, name: str) -> Principal:
    """A named admin user of the tenant that acts for Broadsheet itself (the demo, the CLI),
    so what it creates has an author like everything else."""
    tenant = ensure_tenant(session, tenant_slug)
    user = session.scalar(select(User).where(User.tenant_id == tenant.id, User.name == name))
    if user is None:
        user = ensure_user(session, tenant, name=name, role=Role.admin, email=None)
    return Principal(user.id, tenant.id, tenant.slug, user.name, user.email, Role(user.role))


def webhook_secret(tenant: Tenant, settings: Settings, *, rotate: bool = False) -> str:
    """The tenant's webhook signing secret, made on first use (or anew with ``rotate``) in the
    Standard Webhooks form (``whsec_`` + base64); encrypted at rest. The caller's transaction
    saves a new one."""
    cipher = Cipher(settings.resolved_secret_keys, "webhook-secrets")
    if rotate or not tenant.webhook_secret:
        tenant.webhook_secret = cipher.encrypt(new_secret())
    return cipher.decrypt(tenant.webhook_secret)
