"""Passwords for signing in to the web UI: argon2id hashes (argon2-cffi's defaults, RFC 9106's
second recommended profile), never the password itself."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
# Long enough for any passphrase; bounded so a request cannot make hashing arbitrarily slow.
MAX_LENGTH = 1024

_hasher = PasswordHasher()
# Verified when no user matched, so an unknown email takes as long to refuse as a known one.
_DECOY = _hasher.hash("broadsheet decoy password")


def problem(password: str) -> str | None:
    """Why ``password`` may not be set, or None when it may."""
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"use at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when ``password`` is the one hashed; a missing or damaged hash matches nothing
    (after the same work as a real check)."""
    try:
        return _hasher.verify(password_hash or _DECOY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with other parameters than today's: hash the password anew."""
    return _hasher.check_needs_rehash(password_hash)
