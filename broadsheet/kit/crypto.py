"""Symmetric encryption for secrets at rest, and hashing of API keys."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Cipher", "InvalidToken", "hash_api_key", "new_api_key"]

API_KEY_PREFIX = "bs_"


class Cipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from the service's secret.

    The derivation has a purpose label, so the same secret can later sign links under
    another label without the two uses sharing a key.
    """

    def __init__(self, secret: str, purpose: str = "credentials") -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"broadsheet:{purpose}".encode()
        ).derive(secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 is enough here: keys are 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()
