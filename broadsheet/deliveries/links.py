"""Signed links that need no API key: artifact downloads (expiring) and unsubscribes.

A token is ``<payload>.<signature>``, both base64url: the payload is a small JSON object, the
signature an HMAC-SHA256 under a key derived from the service's secret for this purpose only
(so an artifact token can never pass as an unsubscribe token, nor the other way round).
Nothing is stored: changing ``BROADSHEET_SECRET_KEY`` invalidates every link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broadsheet.errors import Forbidden, Gone
from broadsheet.kit.time import utc_now


class LinkTampered(Forbidden):
    pass


class LinkExpired(Gone):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: str, purpose: str) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"broadsheet:{purpose}".encode()
        ).derive(secret.encode())

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(orjson.dumps(payload))
        return f"{body}.{_b64(self._mac(body))}"

    def open(self, token: str) -> dict[str, Any]:
        """The payload, or LinkTampered (no detail on what was wrong: nothing to learn)."""
        body, _, signature = token.partition(".")
        try:
            good = hmac.compare_digest(_unb64(signature), self._mac(body))
            payload = orjson.loads(_unb64(body)) if good else None
        except (ValueError, orjson.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict):
            raise LinkTampered("this link is not one Broadsheet made, or it was changed")
        return payload

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class ArtifactGrant:
    tenant_id: uuid.UUID
    execution_id: uuid.UUID
    expires_at: datetime


def artifact_token(secret: str, tenant_id: uuid.UUID, execution_id: uuid.UUID,
                   expires_at: datetime) -> str:  # fmt: skip
    payload = {"t": str(tenant_id), "e": str(execution_id), "x": int(expires_at.timestamp())}
    return Signer(secret, "artifact-links").sign(payload)


def open_artifact_token(secret: str, token: str, now: datetime | None = None) -> ArtifactGrant:
    payload = Signer(secret, "artifact-links").open(token)
    try:
        grant = ArtifactGrant(
            uuid.UUID(payload["t"]),
            uuid.UUID(payload["e"]),
            datetime.fromtimestamp(int(payload["x"]), tz=(now or utc_now()).tzinfo),
        )
    except (KeyError, TypeError, ValueError):
        raise LinkTampered("this link is not one Broadsheet made, or it was changed") from None
    if grant.expires_at <= (now or utc_now()):
        raise LinkExpired("this download link has expired; ask for the report again")
    return grant


def unsubscribe_token(secret: str, tenant_id: uuid.UUID, address: str) -> str:
    return Signer(secret, "unsubscribe-links").sign({"t": str(tenant_id), "a": address.lower()})


def open_unsubscribe_token(secret: str, token: str) -> tuple[uuid.UUID, str]:
    payload = Signer(secret, "unsubscribe-links").open(token)
    try:
        return uuid.UUID(payload["t"]), str(payload["a"])
    except (KeyError, TypeError, ValueError):
        raise LinkTampered("this link is not one Broadsheet made, or it was changed") from None


def expiry(days: int, now: datetime | None = None) -> datetime:
    return (now or utc_now()) + timedelta(days=days)
