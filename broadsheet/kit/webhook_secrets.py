"""Webhook signing secrets, and the key each one signs with.

The Standard Webhooks spec writes a secret as ``whsec_`` + the base64 of its key, and the
spec's libraries (``Webhook(secret)``) sign and verify with the decoded bytes. So does
Broadsheet, so that a receiver can hand such a library the secret exactly as Broadsheet shows
it (the tenant's) or was given it (a recipient's):

- the tenant's webhook secret is made in that form, from 32 random bytes;
- a recipient's own ``secret`` in that form must be standard base64 (``A-Z a-z 0-9 + /``,
  padding optional, as the libraries allow) of at least 24 bytes — checked when the schedule
  is saved — and signs with its decoded bytes;
- any other secret signs with its UTF-8 bytes: a recipient's own in another form (at least 16
  characters), and a tenant secret made before this form, until it is rotated. A receiver
  gives a library those bytes: ``Webhook(secret.encode())``.

Only the standard alphabet is accepted because the libraries decode leniently: they would
drop the ``-`` and ``_`` of URL-safe base64 and verify with other bytes than were signed with.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

PREFIX = "whsec_"
NEW_KEY_BYTES = 32
MIN_KEY_BYTES = 24  # the spec's lower bound for a key
BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def new_secret() -> str:
    """A new secret in the spec's form: ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(NEW_KEY_BYTES)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key ``secret`` signs with: a ``whsec_`` secret's decoded bytes, else its UTF-8
    bytes. Raises ValueError for a ``whsec_`` secret that :func:`problem` refuses."""
    if not secret.startswith(PREFIX):
        return secret.encode("utf-8")
    encoded = secret.removeprefix(PREFIX)
    data = encoded.rstrip("=")
    try:
        if not BASE64.fullmatch(encoded):
            raise binascii.Error
        key = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except binascii.Error:
        raise ValueError(
            f"a {PREFIX} secret must be valid base64 after {PREFIX!r} (A-Z, a-z, 0-9, + and /, "
            "then = padding)"
        ) from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"a {PREFIX} secret must encode at least {MIN_KEY_BYTES} bytes; this one "
            f"encodes {len(key)}"
        )
    return key


def problem(secret: str) -> str | None:
    """Why ``secret`` cannot sign (a ``whsec_`` one that is not base64 of at least 24 bytes),
    or None."""
    try:
        signing_key(secret)
    except ValueError as exc:
        return str(exc)
    return None
