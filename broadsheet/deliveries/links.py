"""Signed links that need no API key: artifact downloads (expiring) and unsubscribes.

A token is ``<payload>.<signature>``, both base64url: the payload is a small JSON object, the
signature an HMAC-SHA256 under a key derived from the service's secret for this purpose only
(so an artifact token can never pass as an unsubscribe token, nor the other way round).
Nothing is stored: changing ``BROADSHEET_SECRET_KEY`` invalidates every link, unless the old
key stays in ``BROADSHEET_SECRET_KEYS`` behind the new one (new links are signed with the
newest; a link opens under any of them until it expires).

A token has one spelling: the signature is compared as the exact base64url text we write
(unpadded, unused bits zero), so no other spelling of the same bytes opens it. Every field of
the payload is checked for its type and range; a token that fails any check is a 403, never
an error of ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broadsheet.errors import Forbidden, Gone
from broadsheet.kit.time import utc_now

# The last second a datetime can hold (9999-12-31 23:59:59 UTC): a later expiry is no
# expiry Broadsheet wrote.
_LATEST_EXPIRY = 253_402_300_799


class LinkTampered(Forbidden):
    pass


class LinkExpired(Gone):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


Secrets = str | Sequence[str]  # one secret, or several newest first


class Signer:
    def __init__(self, secret: Secrets, purpose: str) -> None:
        newest_first = [secret] if isinstance(secret, str) else list(secret)
        self._keys = [
            HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=f"broadsheet:{purpose}".encode(),
            ).derive(s.encode())
            for s in newest_first
        ]

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(orjson.dumps(payload))
        return f"{body}.{_b64(self._mac(self._keys[0], body))}"

    def open(self, token: str) -> dict[str, Any]:
        """The payload, or LinkTampered (no detail on what was wrong: nothing to learn)."""
        body, _, signature = token.partition(".")
        try:
            # The text, not its decoded bytes: base64 decoders accept other spellings of the
            # same signature (padding, the unused low bits of the last character, stray
            # characters), and only the one we write may open a link.
            good = any(
                hmac.compare_digest(signature.encode(), _b64(self._mac(key, body)).encode())
                for key in self._keys
            )
            payload = orjson.loads(_unb64(body)) if good else None
        except (ValueError, UnicodeError, orjson.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict):
            raise LinkTampered("this link is not one Broadsheet made, or it was changed")
        return payload

    @staticmethod
    def _mac(key: bytes, body: str) -> bytes:
        return hmac.new(key, body.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class ArtifactGrant:
    tenant_id: uuid.UUID
    execution_id: uuid.UUID
    expires_at: datetime


def artifact_token(secret: Secrets, tenant_id: uuid.UUID, execution_id: uuid.UUID,
                   expires_at: datetime) -> str:  # fmt: skip
    payload = {"t": str(tenant_id), "e": str(execution_id), "x": int(expires_at.timestamp())}
    return Signer(secret, "artifact-links").sign(payload)


def open_artifact_token(secret: Secrets, token: str, now: datetime | None = None) -> ArtifactGrant:
    payload = Signer(secret, "artifact-links").open(token)
    now = now or utc_now()
    expires = payload.get("x")
    # An int of seconds that a datetime holds (bool is an int to Python, not to us).
    if type(expires) is not int or not 0 <= expires <= _LATEST_EXPIRY:
        raise _tampered()
    grant = ArtifactGrant(
        _uuid(payload.get("t")),
        _uuid(payload.get("e")),
        datetime.fromtimestamp(expires, tz=now.tzinfo),
    )
    if grant.expires_at <= now:
        raise LinkExpired("this download link has expired; ask for the report again")
    return grant


def unsubscribe_token(secret: Secrets, tenant_id: uuid.UUID, address: str) -> str:
    return Signer(secret, "unsubscribe-links").sign({"t": str(tenant_id), "a": address.lower()})


def open_unsubscribe_token(secret: Secrets, token: str) -> tuple[uuid.UUID, str]:
    payload = Signer(secret, "unsubscribe-links").open(token)
    address = payload.get("a")
    if not isinstance(address, str):
        raise _tampered()
    return _uuid(payload.get("t")), address


def _uuid(value: Any) -> uuid.UUID:
    """A payload's UUID field, which must be a UUID's text."""
    if not isinstance(value, str):
        raise _tampered()
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _tampered() from None


def _tampered() -> LinkTampered:
    return LinkTampered("this link is not one Broadsheet made, or it was changed")


def expiry(days: int, now: datetime | None = None) -> datetime:
    return (now or utc_now()) + timedelta(days=days)
