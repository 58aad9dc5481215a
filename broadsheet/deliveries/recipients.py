"""Typed recipients: who a schedule delivers to, checked when the schedule is saved.

A recipient is ``{type, address}`` and may carry its own ``parameters`` (its slice of the
report) — stored as given, so one schedule can later send each recipient their own rows.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import httpx2
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from broadsheet.config import Settings
from broadsheet.kit import webhook_secrets
from broadsheet.kit.crypto import Cipher
from broadsheet.kit.schema import ApiInput

# Whole-string patterns (used with fullmatch: "$" would also match before a final newline).
EMAIL = re.compile(
    r"[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
SLACK_CHANNEL = re.compile(r"#[a-z0-9][a-z0-9._-]{0,79}")
SLACK_ID = re.compile(r"[CGDU][A-Z0-9]{6,20}")
S3_URL = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\x00-\x1f\x7f]*)?")
HOST = re.compile(r"[A-Za-z0-9.-]+")  # a name or IPv4 address, IDNA-encoded
IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_EMAIL = 254  # RFC 5321's limit on a forward path
# Bytes, not characters: the address is part of a unique index, which has a size limit.
MAX_ADDRESS_BYTES = 1000


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
        "the tenant's webhook secret): `whsec_` + the base64 of at least 24 bytes, signing "
        "with those bytes as the Standard Webhooks libraries do, or any other text, signing "
        "with its UTF-8 bytes.",
    )
    has_secret: bool | None = Field(
        None,
        exclude=True,
        description="Read-only (what a GET shows for a secret); ignored, so a schedule read "
        "can be sent back as it is.",
    )

    @field_validator("address")
    @classmethod
    def _address_fits_type(cls, address: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        problem = _problem(kind, address) if isinstance(kind, RecipientType) else None
        if problem:
            raise ValueError(f"{kind} recipient: {problem}")
        return address

    @field_validator("secret")
    @classmethod
    def _secret_decodes(cls, secret: str | None) -> str | None:
        problem = webhook_secrets.problem(secret) if secret is not None else None
        if problem:
            raise ValueError(problem)
        return secret


def _problem(kind: RecipientType, address: str) -> str | None:
    if CONTROL.search(address):
        return "control characters (line breaks, NUL…) are not allowed"
    if len(address.encode()) > MAX_ADDRESS_BYTES:
        return f"longer than {MAX_ADDRESS_BYTES} bytes"
    if kind is RecipientType.email:
        if len(address) <= MAX_EMAIL and EMAIL.fullmatch(address):
            return None
        return f"{address!r} is not an email address"
    if kind is RecipientType.slack:
        if SLACK_CHANNEL.fullmatch(address) or SLACK_ID.fullmatch(address):
            return None
        if _web_url(address, schemes=("https",)):
            return None
        return "use a #channel, a channel or user id, or an incoming-webhook https URL"
    if kind in (RecipientType.teams, RecipientType.webhook):
        return None if _web_url(address, schemes=("https", "http")) else "use an http(s) URL"
    if kind is RecipientType.s3:
        return None if S3_URL.fullmatch(address) else "use s3://bucket/prefix"
    return None


def _web_url(address: str, schemes: tuple[str, ...]) -> bool:
    """A URL the sender will be able to use: parsed as the HTTP client parses it."""
    try:
        url = httpx2.URL(address)
    except (httpx2.InvalidURL, ValueError, TypeError):
        return False
    host = url.raw_host.decode("ascii", "replace")  # IDNA-encoded; IPv6 without brackets
    host_ok = bool(HOST.fullmatch(host)) or (":" in host and bool(IPV6.fullmatch(host)))
    return url.scheme in schemes and host_ok and (url.port or 443) <= 65535


def domain_allowed(address: str, allowed: list[str]) -> bool:
    """An email address at one of ``allowed`` (or its subdomains); any, when none are set."""
    if not allowed:
        return True
    domain = address.rsplit("@", 1)[-1].lower()
    return any(domain == d or domain.endswith(f".{d}") for d in (a.lower() for a in allowed))


def bucket_allowed(address: str, allowed: list[str], storage_bucket: str | None) -> bool:
    """An ``s3://bucket/…`` address at one of the operator's buckets (any, when none are set),
    and never the bucket Broadsheet keeps its own files in."""
    bucket = address.removeprefix("s3://").partition("/")[0]
    return bucket != storage_bucket and (not allowed or bucket in allowed)


def secrets_cipher(settings: Settings) -> Cipher:
    """Encrypts recipients' secrets at rest."""
    return Cipher(settings.resolved_secret_keys, "recipient-secrets")


def stored(
    recipients: list[Recipient], before: list[dict[str, Any]], settings: Settings
) -> list[dict[str, Any]]:
    """Recipients as saved: secrets encrypted; a recipient saved again without its secret
    keeps the one it had (secrets are write-only, so clients cannot send them back)."""
    cipher = secrets_cipher(settings)
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


def loaded(row: dict[str, Any], settings: Settings) -> Recipient | str:
    """A saved recipient with its secret decrypted, ready to send to; or, if it no longer
    passes the checks (saved before a rule tightened), why not."""
    row = dict(row)
    if row.get("secret"):
        row["secret"] = secrets_cipher(settings).decrypt(row["secret"])
    try:
        return Recipient.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        said = str(first["msg"]).removeprefix("Value error, ")
        return f"{where}: {said}" if where else said


def shown(recipients: list[dict[str, Any]], *, reveal: bool) -> list[dict[str, Any]]:
    """Recipients as the API shows them: a secret only as ``hasSecret``, and, unless
    ``reveal`` (editors and admins, who may change them), URLs without their path and query —
    a Slack or Teams webhook URL is itself the credential."""
    out = []
    for r in recipients:
        row = {k: v for k, v in r.items() if k != "secret"}
        row["address"] = display(str(r.get("type")), str(r.get("address")), reveal=reveal)
        if r.get("secret"):
            row["hasSecret"] = True
        out.append(row)
    return out


def display(kind: str, address: str, *, reveal: bool) -> str:
    """A recipient's address as a caller may see it (see :func:`shown`)."""
    if reveal or kind in (RecipientType.email, RecipientType.s3) or not _is_url(address):
        return address
    return redact(address)


def redact(url: str) -> str:
    """``scheme://host/…``: a URL safe to show, since webhook paths and queries carry secrets."""
    try:
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL:
        return "(an invalid URL)"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host or '?'}/…"


def _is_url(address: str) -> bool:
    return address.lower().startswith(("https://", "http://"))
