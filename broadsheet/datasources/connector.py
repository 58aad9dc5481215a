"""Turning a data source URL into a SQLAlchemy engine, safely.

What a tenant admin may point Broadsheet at is limited: only the backends we ship drivers for;
for network databases a host must be named (no local sockets with peer authentication) and
only connection options on an allowlist pass (``?local_infile=1`` or DuckDB's
``?enable_external_access=true`` would read files on the server); for file databases (SQLite,
DuckDB) only files in the tenant's own folder, the shared folder or an operator's folder —
otherwise a source could read Broadsheet's own metadata database or any file on the server.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from broadsheet.kit import dburl
from broadsheet.kit.sqlite import deny_dangerous_functions

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb", "duckdb")
FILE_BACKENDS = ("sqlite", "duckdb")
CONNECT_TIMEOUT_SECONDS = 10
# Query-string options a source URL may carry; anything else is refused.
ALLOWED_OPTIONS: dict[str, frozenset[str]] = {
    "postgresql": frozenset(
        {"sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "target_session_attrs"}
    ),
    "mysql": frozenset({"charset", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert"}),
    "mariadb": frozenset({"charset", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert"}),
    "sqlite": frozenset(),
    "duckdb": frozenset(),
}


class UnsupportedSource(ValueError):
    """The URL is not one Broadsheet will connect to; the message says why."""


def parse_source_url(raw: str, allowed_dirs: list[Path]) -> URL:
    try:
        url = dburl.normalize(raw)
    except (ArgumentError, ValueError) as exc:
        raise UnsupportedSource(f"not a database URL ({exc})") from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise UnsupportedSource(
            f"unsupported scheme '{url.drivername}'; use one of: {', '.join(SUPPORTED_BACKENDS)}"
        )
    refused = sorted(set(url.query) - ALLOWED_OPTIONS[backend])
    if refused:
        allowed = ", ".join(sorted(ALLOWED_OPTIONS[backend])) or "none"
        raise UnsupportedSource(
            f"URL option(s) {', '.join(refused)} are not allowed for {backend} (allowed: {allowed})"
        )
    if backend in FILE_BACKENDS:
        _check_file(url, allowed_dirs)
    elif not url.host:
        raise UnsupportedSource("name the database server's host; local sockets are not used")
    return url


def _check_file(url: URL, allowed_dirs: list[Path]) -> None:
    database = url.database or ""
    if database in ("", ":memory:"):
        return
    path = Path(database).resolve()
    if not any(path.is_relative_to(d) for d in allowed_dirs):
        folders = ", ".join(str(d) for d in allowed_dirs)
        raise UnsupportedSource(
            f"file databases must lie in one of this tenant's folders ({folders}); "
            "an operator can add one with BROADSHEET_FILE_SOURCE_DIRS"
        )


def make_source_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    is_file = url.database not in (None, "", ":memory:")
    connect_args: dict[str, Any] = {}
    if backend in ("postgresql", "mysql", "mariadb"):
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    elif backend == "duckdb":
        # Without this a SELECT could read any file on the server (read_csv('/etc/passwd')).
        connect_args = {"read_only": is_file, "config": {"enable_external_access": False}}
    elif backend == "sqlite" and is_file:
        # Reports present data, they never change it: open the file read-only, and fail on a
        # missing file instead of creating an empty database there.
        path = quote(str(Path(str(url.database)).resolve()))
        url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        # Declared DATE, TIMESTAMP and BOOLEAN columns come back typed (see _sqlite_types).
        connect_args = {"detect_types": sqlite3.PARSE_DECLTYPES}
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if backend == "sqlite":
        event.listen(engine, "connect", deny_dangerous_functions)
    return engine


def _sqlite_date(raw: bytes) -> date | str:
    text = raw.decode()
    try:
        return date.fromisoformat(text)  # the common case, 'YYYY-MM-DD', in C
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return text  # not a date after all: kept as text, never dropped


def _sqlite_timestamp(raw: bytes) -> datetime | str:
    text = raw.decode()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


_BOOLEANS = {b"1": True, b"0": False, b"true": True, b"false": False, b"t": True, b"f": False}


def _sqlite_boolean(raw: bytes) -> bool | str:
    value = _BOOLEANS.get(raw)  # one dict lookup for the values SQLite itself writes
    if value is None:
        value = _BOOLEANS.get(raw.strip().lower())
    return raw.decode() if value is None else value


# SQLite stores any value in any column; its declared type is the only hint of what a column
# means. These converters are used only by connections opened with detect_types (our sources).
for _name in ("DATE",):
    sqlite3.register_converter(_name, _sqlite_date)
for _name in ("TIMESTAMP", "DATETIME", "TIMESTAMPTZ"):
    sqlite3.register_converter(_name, _sqlite_timestamp)
for _name in ("BOOLEAN", "BOOL"):
    sqlite3.register_converter(_name, _sqlite_boolean)


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: int | None = None
    server_version: str | None = None
    error: str | None = None


def probe(url: URL) -> Probe:
    """Connect and run ``SELECT 1``; the error, if any, is the driver's words without the URL."""
    engine = make_source_engine(url)
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            info = conn.dialect.server_version_info
        version = ".".join(str(p) for p in info) if info else None
        return Probe(True, round((time.perf_counter() - started) * 1000), version)
    except SQLAlchemyError as exc:
        return Probe(False, error=_describe(exc, url))
    finally:
        engine.dispose()


def _describe(exc: SQLAlchemyError, url: URL) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if url.password:
        message = message.replace(str(url.password), "***")
    return message
