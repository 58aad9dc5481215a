"""How every long-running command logs: INFO and up on stderr, as readable text or, with
``BROADSHEET_LOG_FORMAT=json``, one JSON object a line (``ts``, ``level``, ``logger``, ``msg``,
``request_id`` inside a request, ``exc`` with a traceback) — the server's lines and its
libraries' (uvicorn's access lines included) alike.

Whatever the format, a line passes through :func:`redact` first: API keys, bearer tokens and
passwords inside URLs never reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

# The id of the request being answered (set by ``middleware.RequestId``), for its lines.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRETS = (
    # scheme://user:password@host — the password only.
    (re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\g<keep>***@"),
    # Authorization: Bearer <token>, Basic <credentials>
    (re.compile(r"(?i)(?P<keep>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<keep>***"),
    # Broadsheet's API keys, wherever they stand.
    (re.compile(r"\bbs_[A-Za-z0-9_-]{8,}"), "bs_***"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so configuring again replaces it and leaves any other handler be."""


def configure(log_format: LogFormat = "text") -> None:
    """Our handler on the root logger (every logger's lines reach it), in place of an earlier
    one of ours."""
    handler = _Handler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_Json())
    else:
        handler.setFormatter(_Redacting("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _Handler)] + [handler]
    root.setLevel(logging.INFO)
