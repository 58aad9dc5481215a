"""``broadsheet secrets rotate``: every secret stored encrypted, encrypted anew with the newest key.

To rotate, put a new key in front of the old one (``BROADSHEET_SECRET_KEYS="new old"``) on
every process, run this once, and drop the old key when nothing signed with it is still needed:
links and CSRF tokens signed with an older key keep working while it is listed (until they
expire), web sessions are rows in the database and do not depend on the key, and embed tokens
are signed with each tenant's own embed secret, which this re-encrypts without changing it.

A value no listed key opens is left as it is and counted: its key was dropped too early, and
the value has to be entered again (a data source URL, a recipient's secret).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.kit.crypto import Cipher, InvalidToken

BATCH = 500


@dataclass(frozen=True)
class EncryptedText:
    """A text column holding one Fernet token (or NULL) under ``purpose``'s key."""

    column: InstrumentedAttribute[Any]
    purpose: str


@dataclass(frozen=True)
class EncryptedSecrets:
    """A JSON column holding recipients (a list of objects, or one) whose ``secret`` is a token."""

    column: InstrumentedAttribute[Any]
    purpose: str


# Everything stored encrypted. A new encrypted column belongs here, or rotation misses it.
ENCRYPTED: list[EncryptedText | EncryptedSecrets] = [
    EncryptedText(models.DataSource.url_encrypted, "credentials"),
    EncryptedText(models.Tenant.webhook_secret, "webhook-secrets"),
    EncryptedText(models.Tenant.embed_secret, "embed-secrets"),
    EncryptedText(models.EventSubscription.secret, "recipient-secrets"),
    EncryptedSecrets(models.ReportSchedule.recipients, "recipient-secrets"),
    EncryptedSecrets(models.ReportDelivery.recipient, "recipient-secrets"),
]


@dataclass
class Rotated:
    """Per column (``table.column``): values re-encrypted, and values no key opens."""

    rotated: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)


def rotate(session: Session, settings: Settings) -> Rotated:
    """Re-encrypt every value of :data:`ENCRYPTED` with the newest of the settings' keys; the
    caller commits (one transaction: a failure leaves every value as it was)."""
    outcome = Rotated()
    for item in ENCRYPTED:
        cipher = Cipher(settings.resolved_secret_keys, item.purpose)
        name = f"{item.column.class_.__tablename__}.{item.column.key}"
        change = _text if isinstance(item, EncryptedText) else _secrets
        done = failed = 0
        for row in _rows(session, item.column):
            old = getattr(row, item.column.key)
            try:
                new = change(old, cipher.rotate)
            except InvalidToken:
                failed += 1
                continue
            if new is not None:
                setattr(row, item.column.key, new)
                done += 1
        session.flush()
        outcome.rotated[name] = done
        outcome.unreadable[name] = failed
    return outcome


def _rows(session: Session, column: InstrumentedAttribute[Any]) -> Iterator[Any]:
    """Rows with a value in ``column``, a batch at a time in id order (memory stays flat)."""
    model = column.class_
    last = None
    while True:
        query = select(model).where(column.is_not(None)).order_by(model.id).limit(BATCH)
        if last is not None:
            query = query.where(model.id > last)
        batch = list(session.scalars(query))
        if not batch:
            return
        yield from batch
        session.flush()
        last = batch[-1].id


def _text(value: str | None, rotate: Callable[[str], str]) -> str | None:
    return rotate(value) if value else None


def _secrets(value: Any, rotate: Callable[[str], str]) -> Any:
    """The recipients with each ``secret`` re-encrypted (a new object, so the change is seen);
    None when none has a secret."""
    many = isinstance(value, list)
    items = value if many else [value]
    if not any(isinstance(i, dict) and i.get("secret") for i in items):
        return None
    changed = [
        {**i, "secret": rotate(i["secret"])} if isinstance(i, dict) and i.get("secret") else i
        for i in items
    ]
    return changed if many else changed[0]
