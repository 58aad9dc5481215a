"""Embed tokens: a dashboard shown without an API key, under filter values fixed by its issuer.

A token is a JWT (HS256) signed with the tenant's embed secret, whose UTF-8 bytes are the
key. It carries ``dashboardId``, ``tenantId``, the locked filter ``parameters`` (JSON values by
filter name), ``iat``, ``exp`` and ``jti``. Broadsheet issues them (``POST
/api/v1/dashboards/{id}/embed``), and an admin who has read the secret may sign them in their
own application; both kinds open the same way.

Nothing is stored per token: rotating the tenant's secret revokes every token signed before,
since the new key cannot verify them. A token that fails any check opens nothing and says
little (:class:`EmbedDenied`, a 401): which check failed is of no use to its holder.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from pydantic import Field
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.audit.context import Actor, act_as
from broadsheet.config import Settings
from broadsheet.dashboards import filters
from broadsheet.dashboards.schemas import MAX_FILTERS
from broadsheet.errors import Unauthorized, ValidationFailed
from broadsheet.kit.crypto import Cipher, InvalidToken
from broadsheet.kit.schema import ApiInput, ApiModel
from broadsheet.kit.tenancy import owned
from broadsheet.kit.time import utc_now

ALGORITHM = "HS256"
DEFAULT_EXPIRES_SECONDS = 3600
MIN_EXPIRES_SECONDS = 60
MAX_EXPIRES_SECONDS = 86_400
# Longer than any token Broadsheet issues (50 locked values of 1,000 characters at most):
# a longer one was not made by us, and is not worth decoding.
MAX_TOKEN_CHARS = 200_000
# An issuer's clock a little ahead of ours does not make its fresh tokens unusable.
CLOCK_SKEW_SECONDS = 60
CLAIMS = ("dashboardId", "tenantId", "parameters", "iat", "exp", "jti")


class EmbedDenied(Unauthorized):
    """A token that opens nothing: tampered, expired, revoked, malformed, or naming a
    dashboard that is gone or not its tenant's."""


class EmbedRequest(ApiInput):
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=MAX_FILTERS,
        description="Filter values fixed for the token's holder, by filter name (JSON values "
        "of the filters' types); the holder cannot change them.",
    )
    expires_in: int = Field(
        DEFAULT_EXPIRES_SECONDS,
        strict=True,
        ge=MIN_EXPIRES_SECONDS,
        le=MAX_EXPIRES_SECONDS,
        description="Seconds the token is valid: 60 to 86400 (default 3600).",
    )


class EmbedLink(ApiModel):
    url: str = Field(description="<public URL>/embed/dashboards/<token>: the page to embed.")
    token: str = Field(description="The JWT alone, for the /data and /export calls.")
    expires_at: datetime


class EmbedSecret(ApiModel):
    secret: str = Field(
        description="The tenant's embed secret: its UTF-8 bytes are the HS256 key of embed "
        "tokens, so an application holding it can sign its own."
    )


@dataclass(frozen=True)
class EmbedGrant:
    """What a verified token allows: one dashboard of one tenant, some filters fixed."""

    tenant_id: uuid.UUID
    dashboard_id: uuid.UUID
    locked: dict[str, Any]
    expires_at: datetime
    jti: str


# --- the tenant's secret -----------------------------------------------------------------------


def embed_secret(tenant: models.Tenant, settings: Settings, *, rotate: bool = False) -> str:
    """The tenant's embed secret, made on first use (or anew with ``rotate``); encrypted at
    rest under a key of its own purpose. The caller's transaction saves a new one."""
    cipher = Cipher(settings.resolved_secret_keys, "embed-secrets")
    if rotate or not tenant.embed_secret:
        # 256 random bits as text: HS256 asks for a key of at least 32 bytes.
        tenant.embed_secret = cipher.encrypt(secrets.token_urlsafe(32))
    return cipher.decrypt(tenant.embed_secret)


# --- issuing -----------------------------------------------------------------------------------


def issue(
    secret: str,
    dashboard: models.Dashboard,
    locked: Mapping[str, Any],
    expires_in: int,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A signed token for ``dashboard`` and when it expires (whole seconds, as in the JWT)."""
    issued = int((now or utc_now()).timestamp())
    claims = {
        "dashboardId": str(dashboard.id),
        "tenantId": str(dashboard.tenant_id),
        "parameters": dict(locked),
        "iat": issued,
        "exp": issued + expires_in,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, secret.encode(), algorithm=ALGORITHM)
    return token, datetime.fromtimestamp(issued + expires_in, tz=UTC)


# --- opening -----------------------------------------------------------------------------------


def open_token(
    session: Session, settings: Settings, token: str
) -> tuple[EmbedGrant, models.Dashboard]:
    """The grant a token carries and its dashboard, or :class:`EmbedDenied`.

    The tenant is read from the token before it is verified, only to choose the key: a token
    naming tenant A verifies with A's secret or not at all.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise _denied()
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise _denied() from None
    tenant = session.get(models.Tenant, _uuid(unverified.get("tenantId")))
    if tenant is None or not tenant.embed_secret:
        raise _denied()
    try:
        key = embed_secret(tenant, settings).encode()
    except InvalidToken:  # the service's secret changed since: no token of before opens
        raise _denied() from None
    claims = _verified(token, key)
    grant = EmbedGrant(
        tenant_id=tenant.id,
        dashboard_id=_uuid(claims.get("dashboardId")),
        locked=_locked(claims.get("parameters")),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        jti=_text(claims.get("jti")),
    )
    dashboard = owned(session, models.Dashboard, grant.tenant_id, grant.dashboard_id)
    if dashboard is None:
        raise _denied()
    try:
        # Fail closed: a lock the dashboard no longer has a filter for (one renamed since the
        # token was made) would otherwise leave that filter open to the holder.
        filters.check(dashboard.parameters or [], grant.locked, "parameters.")
    except ValidationFailed:
        raise EmbedDenied(
            "this embed link's fixed filters no longer fit the dashboard; ask for a new link"
        ) from None
    act_as(Actor("embed", str(dashboard.id)))  # whatever the token does
    return grant, dashboard


def _verified(token: str, key: bytes) -> dict[str, Any]:
    # iat and exp are checked here, on Broadsheet's one clock (utc_now), not on PyJWT's.
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": list(CLAIMS), "verify_iat": False, "verify_exp": False},
        )
    except jwt.InvalidTokenError:
        raise _denied() from None
    issued, expires = claims.get("iat"), claims.get("exp")
    now = utc_now().timestamp()
    if type(issued) is not int or issued > now + CLOCK_SKEW_SECONDS or type(expires) is not int:
        raise _denied()
    if expires <= now:
        raise EmbedDenied("this embed link has expired; ask for a new one")
    return claims


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise _denied()
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _denied() from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _denied()
    return value


def _locked(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _denied()
    return value


def _denied() -> EmbedDenied:
    return EmbedDenied(
        "this embed link is not valid: it was changed, revoked, or not made for this dashboard"
    )
