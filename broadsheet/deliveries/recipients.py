"""Typed recipients: who a schedule delivers to, checked when the schedule is saved.

A recipient is ``{type, address}`` and may carry its own ``parameters`` (its slice of the
report) — stored as given, so one schedule can later send each recipient their own rows.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from pydantic import Field, model_validator

from broadsheet.kit.crypto import Cipher
from broadsheet.kit.schema import ApiInput

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
SLACK_CHANNEL = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
SLACK_ID = re.compile(r"^[CGDU][A-Z0-9]{6,20}$")
S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\x00-\x1f]*)?$")


class RecipientType(StrEnum):
    email = "email"
    slack = "slack"
    teams = "teams"
    webhook = "webhook"
    s3 = "s3"


class Recipient(ApiInput):
    type: RecipientType
    address: str = Field(min_length=1, max_length=1000)
    parameters: dict[str, Any] | None = Field(
        None, description="This recipient's own parameter values, over the schedule's."
    )
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="webhook: the key its requests are signed with (write-only; without one, "
        "the tenant's webhook secret).",
    )

    @model_validator(mode="after")
    def _address_fits_type(self) -> Recipient:
        problem = _problem(self.type, self.address)
        if problem:
            raise ValueError(f"{self.type} recipient: {problem}")
        return self


def _problem(kind: RecipientType, address: str) -> str | None:
    if kind is RecipientType.email:
        return None if EMAIL.match(address) else f"{address!r} is not an email address"
    if kind is RecipientType.slack:
        if SLACK_CHANNEL.match(address) or SLACK_ID.match(address) or _https(address):
            return None
        return "use a #channel, a channel or user id, or an incoming-webhook https URL"
    if kind in (RecipientType.teams, RecipientType.webhook):
        return None if _web_url(address) else "use an http(s) URL"
    if kind is RecipientType.s3:
        return None if S3_URL.match(address) else "use s3://bucket/prefix"
    return None


def _https(address: str) -> bool:
    parsed = urlparse(address)
    return parsed.scheme == "https" and bool(parsed.hostname)


def _web_url(address: str) -> bool:
    parsed = urlparse(address)
    return parsed.scheme in ("https", "http") and bool(parsed.hostname)


def domain_allowed(address: str, allowed: list[str]) -> bool:
    """An email address at one of ``allowed`` (or its subdomains); any, when none are set."""
    if not allowed:
        return True
    domain = address.rsplit("@", 1)[-1].lower()
    return any(domain == d or domain.endswith(f".{d}") for d in (a.lower() for a in allowed))


def stored(
    recipients: list[Recipient], before: list[dict[str, Any]], cipher: Cipher
) -> list[dict[str, Any]]:
    """Recipients as saved: secrets encrypted; a recipient saved again without its secret
    keeps the one it had (secrets are write-only, so clients cannot send them back)."""
    kept = {(r.get("type"), r.get("address")): r.get("secret") for r in before}
    out = []
    for recipient in recipients:
        row = recipient.model_dump(by_alias=True, exclude_none=True)
        if recipient.secret:
            row["secret"] = cipher.encrypt(recipient.secret)
        elif kept.get((recipient.type.value, recipient.address)):
            row["secret"] = kept[(recipient.type.value, recipient.address)]
        out.append(row)
    return out


def shown(recipients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recipients as the API shows them: a secret only as ``hasSecret``."""
    return [
        {
            **{k: v for k, v in r.items() if k != "secret"},
            **({"hasSecret": True} if r.get("secret") else {}),
        }
        for r in recipients
    ]
