"""The audit trail as CSV (RFC 4180, CRLF line ends), with text a spreadsheet would run as a
formula neutralised the way the report CSV export does it (a leading quote)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from broadsheet.exports.csv import PLAIN_NUMBER

if TYPE_CHECKING:
    from broadsheet.audit.schemas import AuditEntry

COLUMNS = (
    "id", "at", "actorType", "actorId", "action", "objectType", "objectId", "tenantId", "ip",
    "requestId", "changes", "details", "hash",
)  # fmt: skip
_RISKY_FIRST = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)


def safe(value: Any) -> str:
    """A cell: JSON for structures; text starting like a formula gets a leading quote."""
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(
        value, dict | list) else str(value)  # fmt: skip
    if text.startswith(_RISKY_FIRST) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def render(entries: Iterable[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow(
            safe(v)
            for v in (
                e.id,
                e.at.isoformat(),
                e.actor.type,
                e.actor.id,
                e.action,
                e.object.type,
                e.object.id,
                e.tenant_id,
                e.ip,
                e.request_id,
                e.changes,
                e.details,
                e.hash,
            )
        )
    return out.getvalue()
