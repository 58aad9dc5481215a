"""Symmetric encryption for secrets at rest, and hashing of API keys."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Cipher", "InvalidToken", "hash_api_key", "new_api_key"]

API_KEY_PREFIX = "bs_"


class Cipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from the service's secret.

    The derivation has a purpose label, so the same secret can later sign links under
    another label without the two uses sharing a key.

    ``secret`` may be several secrets, newest first (``BROADSHEET_SECRET_KEYS``): the newest
    encrypts, any of them decrypts, and :meth:`rotate` re-encrypts under the newest.
    """

    def __init__(self, secret: str | Sequence[str], purpose: str = "credentials") -> None:
        secrets_newest_first = [secret] if isinstance(secret, str) else list(secret)
        if not secrets_newest_first:
            raise ValueError("a Cipher needs at least one secret")
        self._fernet = MultiFernet([_fernet(s, purpose) for s in secrets_newest_first])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()

    def rotate(self, token: str) -> str:
        """``token`` encrypted anew under the newest secret (InvalidToken if none opens it)."""
        return self._fernet.rotate(token.encode()).decode()


def _fernet(secret: str, purpose: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"broadsheet:{purpose}".encode()
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 is enough here: keys are 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()
