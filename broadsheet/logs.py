"""How every long-running command logs: INFO and up on stderr, as readable text or, with
``BROADSHEET_LOG_FORMAT=json``, one JSON object a line (``ts``, ``level``, ``logger``, ``msg``,
and where known ``request_id``, ``trace_id``, ``span_id``, ``tenant_id``, ``job_id``; ``exc``
with a traceback) — the server's lines and its libraries' (uvicorn's access lines and Celery's
included) alike.

Whatever the format, a line passes through :func:`redact` first: API keys, bearer tokens,
``Authorization`` headers, passwords, secrets and tokens given as ``name=value`` (or in JSON),
webhook secrets, Slack tokens, signed links' tokens and passwords inside URLs never reach the
log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

from opentelemetry import trace

LogFormat = Literal["text", "json"]

# The id of the request being answered (set by ``middleware.RequestId``), for its lines.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# More facts for the lines of a request or a job (tenant_id, job_id), in a dict that is
# shared, not copied, with the threads the request's work runs in: the tenant that the auth
# dependency learns in a worker thread shows on the request's later lines too.
_fields: ContextVar[dict[str, str] | None] = ContextVar("log_fields", default=None)
FIELDS = ("tenant_id", "job_id")

# A name that says its value is secret, as in password=…, "apiKey": "…", X-Token: …
# (a pattern, not a password).
_NAMES_TO_HIDE = (
    r"[\w.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|credential|signature|sig)[\w-]*"
)
_SECRETS = (
    # scheme://user:password@host — the password only.
    (re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\g<keep>***@"),
    # Authorization: Bearer <token>, Basic <credentials>
    (re.compile(r"(?i)(?P<keep>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<keep>***"),
    # Authorization: <any other scheme or bare credentials> — to the end of the value.
    (
        re.compile(
            r"(?i)(?P<keep>\bauthorization[\"']?\s*[:=]\s*[\"']?)(?!\s*(?:bearer|basic)\s)"
            r"[^\"'\r\n;]+"
        ),
        r"\g<keep>***",
    ),
    # "password": "two words", 'token': '…' — the whole quoted value.
    (
        re.compile(
            rf"(?i)(?P<keep>\b{_NAMES_TO_HIDE}[\"']?\s*[:=]\s*)(?P<q>[\"'])(?:(?!(?P=q)).)*(?P=q)"
        ),
        r"\g<keep>\g<q>***\g<q>",
    ),
    # password=hunter2, ?token=…&…, X-Api-Key: … — up to a space or a separator.
    (
        re.compile(rf"(?i)(?P<keep>\b{_NAMES_TO_HIDE}\s*[:=]\s*)(?![\"'*])[^\s\"'&;)}}\]]+"),
        r"\g<keep>***",
    ),
    # Broadsheet's API keys, wherever they stand.
    (re.compile(r"\bbs_[A-Za-z0-9_-]{8,}"), "bs_***"),
    # Webhook secrets in the Standard Webhooks form, and Slack's tokens.
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{4,}"), "whsec_***"),
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]{4,}"), "xox*-***"),
    # Signed links (artifacts, unsubscribe, embedded dashboards): the token is the key.
    (
        re.compile(r"(?P<keep>/(?:artifacts|unsubscribe|embed/dashboards)/)[^\s/?#\"']+"),
        r"\g<keep>***",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def scope(**fields: object) -> Iterator[None]:
    """Lines written inside carry ``fields`` (and any :func:`tag` adds), over those of an
    enclosing scope."""
    known = {**(_fields.get() or {}), **_strings(fields)}
    token = _fields.set(known)
    try:
        yield
    finally:
        _fields.reset(token)


def tag(**fields: object) -> None:
    """Add ``fields`` to the innermost scope: the rest of the request or job carries them,
    also where the scope was opened in another thread. Outside any scope: nothing."""
    known = _fields.get()
    if known is not None:
        known.update(_strings(fields))


def _strings(fields: dict[str, object]) -> dict[str, str]:
    return {name: str(value) for name, value in fields.items() if value is not None}


def context() -> dict[str, str]:
    """What a line written now says of where it comes from."""
    line: dict[str, str] = {}
    if (current := request_id.get()) is not None:
        line["request_id"] = current
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        line["trace_id"] = format(span.trace_id, "032x")
        line["span_id"] = format(span.span_id, "016x")
    known = _fields.get()
    if known:
        line.update((name, known[name]) for name in FIELDS if name in known)
    return line


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
        line.update(context())
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
