"""Signing in with email and password.

An email may be a user in several tenants. The email and password together pick the user:
the tenants where the email has that password. When that is more than one, the caller must
say which (:class:`ChooseTenant` lists them), and says it with ``tenant``.

Every try is throttled first (``broadsheet.auth.throttle``): per client address, and per
account — each tenant's user with the email, or, for an email nobody has, the email itself,
so an unknown email is refused exactly like a known one.

The failures are written to ``session``, and the errors raised here are answers, not faults:
the caller must commit them (answer with a page rather than let the error roll back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet.audit import log as audit
from broadsheet.auth import passwords, throttle
from broadsheet.auth.principal import Principal
from broadsheet.errors import TooManyRequests, Unauthorized, ValidationFailed
from broadsheet.models import Role, Tenant, User


@dataclass(frozen=True)
class TenantChoice:
    slug: str
    name: str


class ChooseTenant(ValidationFailed):
    """The email and password are right in several tenants: ask which one."""

    def __init__(self, tenants: list[TenantChoice]) -> None:
        message = "choose the tenant to sign in to"
        super().__init__(f"tenant: {message}", errors=[{"field": "tenant", "message": message}])
        self.tenants = tenants


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    tenant: str | None,
    address: str,
    now: datetime,
) -> Principal:
    """The user ``email`` and ``password`` name (in ``tenant``, when given).

    Raises TooManyRequests (locked: nothing was checked), Unauthorized (wrong email or
    password; the failure is counted) or ChooseTenant.
    """
    email = email.strip().lower()
    query = (
        select(User, Tenant)
        .join(Tenant, User.tenant_id == Tenant.id)
        .where(User.email == email, User.password_hash.is_not(None))
        .order_by(Tenant.slug)
    )
    if tenant:
        query = query.where(Tenant.slug == tenant)
    candidates = [(user, row) for user, row in session.execute(query).all()]
    accounts = [throttle.account(t.id, email) for _, t in candidates] or [
        throttle.account(tenant, email)
    ]
    subjects = [throttle.address(address), *accounts]
    wait = throttle.locked_for(session, subjects, now)
    if wait:
        raise _locked(wait)
    if not candidates:
        passwords.verify(None, password)  # as long as a real check
    matched = [(u, t) for u, t in candidates if passwords.verify(u.password_hash, password)]
    if not matched:
        # In each tenant where the email is an account; an unknown email has no tenant.
        for user, tenant_row in candidates:
            audit.record(session, tenant_row.id, "auth.signin_failed", "user", user.id,
                         email=email)  # fmt: skip
        wait = throttle.record_failure(session, subjects, now)
        if wait:
            raise _locked(wait)
        raise Unauthorized("the email address or password is not right")
    if len(matched) > 1:
        raise ChooseTenant([TenantChoice(t.slug, t.name) for _, t in matched])
    user, tenant_row = matched[0]
    throttle.clear(session, throttle.account(tenant_row.id, email))
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return Principal(
        user.id, tenant_row.id, tenant_row.slug, user.name, user.email, Role(user.role)
    )


def _locked(seconds: int) -> TooManyRequests:
    minutes = -(-seconds // 60)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return TooManyRequests(
        f"there were too many failed sign-ins; try again in {wait}", retry_after=seconds
    )
