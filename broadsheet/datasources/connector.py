"""Turning a data source URL into a SQLAlchemy engine, safely.

What a tenant admin may point Broadsheet at is limited: only the backends we ship drivers for;
for network databases a host must be named (no local sockets with peer authentication) and
only connection options on an allowlist pass (``?local_infile=1`` or DuckDB's
``?enable_external_access=true`` would read files on the server); for file databases (SQLite,
DuckDB) only files in the tenant's own folder, the shared folder or an operator's folder —
otherwise a source could read Broadsheet's own metadata database or any file on the server.
Options naming a file (TLS certificates and keys) follow the same folder rule, and the
metadata database itself is never a source, however its file or server is named.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

# sqlalchemy.create_engine is looked up at each call: tracing (broadsheet.tracing) wraps it.
import sqlalchemy
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

from broadsheet.datasources import hostguard
from broadsheet.datasources.hostguard import HostAllowlist, HostRefused
from broadsheet.kit import dburl
from broadsheet.kit.sqlite import deny_dangerous_functions

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb", "duckdb")
# The drivers Broadsheet ships, per backend; another (sqlite+aiosqlite, postgresql+psycopg2)
# is async or not installed, so it could only fail later.
SUPPORTED_DRIVERS: dict[str, frozenset[str]] = {
    "sqlite": frozenset({"sqlite", "sqlite+pysqlite"}),
    "postgresql": frozenset({"postgresql+psycopg"}),
    "mysql": frozenset({"mysql+pymysql"}),
    "mariadb": frozenset({"mariadb+pymysql"}),
    "duckdb": frozenset({"duckdb"}),
}
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
# Options whose value is a file the driver opens: only files in the tenant's folders, or a
# source could test whether any server file exists (or hand /etc/shadow to the TLS library).
FILE_OPTIONS = frozenset({"sslrootcert", "sslcert", "sslkey", "ssl_ca", "ssl_cert", "ssl_key"})
NOT_FILES = {"sslrootcert": "system"}  # libpq 16+: the operating system's certificates
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
SERVER_FAMILIES = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
# DuckDB's settings for a tenant's file: no files or URLs outside it (read_csv, ATTACH, COPY,
# httpfs), no extensions fetched or loaded on first use, and no SET that undoes any of it.
DUCKDB_LOCKED_DOWN: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


class UnsupportedSource(ValueError):
    """The URL is not one Broadsheet will connect to; the message says why."""


def parse_source_url(
    raw: str,
    allowed_dirs: list[Path],
    *,
    metadata_url: str | URL | None = None,
    allowed_hosts: HostAllowlist | None = None,
) -> URL:
    """The URL if Broadsheet may connect there, else ``UnsupportedSource`` saying why.
    ``metadata_url`` is Broadsheet's own database, which no source may name;
    ``allowed_hosts`` the operator's list of servers network sources may reach."""
    try:
        url = dburl.normalize(raw)
    except (ArgumentError, ValueError) as exc:
        raise UnsupportedSource(f"not a database URL ({exc})") from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise UnsupportedSource(
            f"unsupported scheme '{url.drivername}'; use one of: {', '.join(SUPPORTED_BACKENDS)}"
        )
    if url.drivername not in SUPPORTED_DRIVERS[backend]:
        raise UnsupportedSource(
            f"unsupported driver '{url.drivername}'; use {backend}:// (Broadsheet's own driver)"
        )
    url = _checked_options(url, backend, allowed_dirs)
    if backend in FILE_BACKENDS:
        _check_file(url, allowed_dirs)
    elif not url.host:
        raise UnsupportedSource("name the database server's host; local sockets are not used")
    elif allowed_hosts:
        try:
            allowed_hosts.check(url.host, _port(url))
        except HostRefused as exc:
            raise UnsupportedSource(str(exc)) from None
    if backend == "postgresql":
        _check_pg_names(url)
    if metadata_url is not None and is_metadata_database(url, dburl.normalize(metadata_url)):
        raise UnsupportedSource(
            "this is Broadsheet's own metadata database; it cannot be a data source"
        )
    return url


def _check_pg_names(url: URL) -> None:
    """libpq fills a missing user or database from Broadsheet's environment (``PGUSER``, the
    account's own name), and a missing client key from its home folder: so they are named."""
    if not url.username:
        raise UnsupportedSource(
            "name the user to log in as (postgresql://user@host/database); "
            "libpq would use the name Broadsheet runs as"
        )
    if not url.database:
        raise UnsupportedSource(
            "name the database (postgresql://user@host/database); "
            "libpq would pick one from Broadsheet's environment"
        )
    if "sslcert" in url.query and "sslkey" not in url.query:
        raise UnsupportedSource(
            "URL option sslcert needs sslkey beside it; "
            "libpq would use the key of the account Broadsheet runs as"
        )


def _checked_options(url: URL, backend: str, allowed_dirs: list[Path]) -> URL:
    """Only allow-listed options, each once; file options name files in the tenant's folders
    (passed on resolved, so the driver opens the file that was checked)."""
    refused = sorted(set(url.query) - ALLOWED_OPTIONS[backend])
    if refused:
        allowed = ", ".join(sorted(ALLOWED_OPTIONS[backend])) or "none"
        raise UnsupportedSource(
            f"URL option(s) {', '.join(refused)} are not allowed for {backend} (allowed: {allowed})"
        )
    query: dict[str, str] = {}
    for name, value in url.query.items():
        if not isinstance(value, str):
            raise UnsupportedSource(f"URL option {name} is given more than once")
        if name in FILE_OPTIONS and value != NOT_FILES.get(name):
            value = str(_file_in(allowed_dirs, value, f"the file in URL option {name}"))
        if name == "charset":
            _check_charset(value)
        query[name] = value
    return url.set(query=query)


def _check_charset(name: str) -> None:
    # PyMySQL fails with an AttributeError deep inside connect() on a name it does not know.
    import pymysql.charset

    if pymysql.charset.charset_by_name(name) is None:
        raise UnsupportedSource(f"unknown MySQL charset '{name}' in URL option charset")


def _file_in(allowed_dirs: list[Path], raw: str, what: str) -> Path:
    """The resolved path if it lies in one of the tenant's folders; else refused without
    looking further, so the answer says nothing about files elsewhere."""
    path = Path(raw).resolve()
    if not any(path.is_relative_to(d) for d in allowed_dirs):
        folders = ", ".join(str(d) for d in allowed_dirs)
        raise UnsupportedSource(
            f"{what} must lie in one of this tenant's folders ({folders}); "
            "an operator can add one with BROADSHEET_FILE_SOURCE_DIRS"
        )
    return path


def _check_file(url: URL, allowed_dirs: list[Path]) -> None:
    database = url.database or ""
    if database in ("", ":memory:"):
        return
    _file_in(allowed_dirs, database, "file databases")


def is_metadata_database(source: URL, metadata: URL) -> bool:
    """Does ``source`` reach Broadsheet's own database? The same file (symbolic and hard links
    followed, its -wal and -shm beside it), or the same server (by address: localhost,
    127.0.0.1 and ::1 are one) on the same port, and there the same database — any database
    of a MySQL server, since one SELECT there reads every database on it."""
    if source.get_backend_name() in FILE_BACKENDS:
        return metadata.get_backend_name() in FILE_BACKENDS and _same_file(source, metadata)
    family = SERVER_FAMILIES.get(source.get_backend_name())
    if family is None or family != SERVER_FAMILIES.get(metadata.get_backend_name()):
        return False
    if _port(source) != _port(metadata, ours=True):
        return False
    if family == "postgresql" and _pg_database(source) != _pg_database(metadata, ours=True):
        return False
    return _same_server(source.host, metadata.host)


def _same_file(source: URL, metadata: URL) -> bool:
    if source.database in (None, "", ":memory:") or metadata.database in (None, "", ":memory:"):
        return False
    path = Path(str(source.database)).resolve()
    ours = Path(str(metadata.database)).resolve()
    if path in {ours, *(ours.with_name(ours.name + s) for s in ("-wal", "-shm", "-journal"))}:
        return True
    try:
        return os.path.samefile(path, ours)  # a hard link is another name for the same file
    except OSError:
        return False


def _port(url: URL, *, ours: bool = False) -> int | None:
    """A source's port is its URL's or the default (``make_source_engine`` passes it on);
    Broadsheet's own PostgreSQL connection takes a missing one from ``PGPORT``, as libpq does."""
    if url.port:
        return url.port
    if ours and url.get_backend_name() == "postgresql" and os.environ.get("PGPORT", "").isdigit():
        return int(os.environ["PGPORT"])
    return DEFAULT_PORTS.get(url.get_backend_name())


def _pg_database(url: URL, *, ours: bool = False) -> str | None:
    """A source names its database (``_check_pg_names``); Broadsheet's own connection gets a
    missing one the way libpq does: ``PGDATABASE``, else the user's name (``PGUSER``, else the
    account's)."""
    if url.database or not ours:
        return url.database
    user = url.username or os.environ.get("PGUSER") or _account_name()
    return os.environ.get("PGDATABASE") or user


def _account_name() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this account: libpq cannot connect either
        return None


def _same_server(host: str | None, metadata_host: str | None) -> bool:
    ours, theirs = _addresses(metadata_host), _addresses(host)
    if ours & theirs:
        return True
    return any(_is_this_machine(a) for a in ours) and any(_is_this_machine(a) for a in theirs)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses(host: str | None) -> set[Address]:
    """What a host name resolves to now; no host means a local socket: this machine."""
    if not host:
        return {ipaddress.ip_address("127.0.0.1")}
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()  # a name that does not resolve reaches nothing now; checked again at run
    found: set[Address] = set()
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        found.add(mapped or address)
    return found


def _is_this_machine(address: Address) -> bool:
    # 0.0.0.0 and :: connect to this machine too; so do the addresses of its own name.
    return address.is_loopback or address.is_unspecified or address in _own_addresses()


def _own_addresses() -> set[Address]:
    return _addresses(socket.gethostname())


def make_source_engine(url: URL, allowed_hosts: HostAllowlist | None = None) -> Engine:
    """An engine on ``url`` (checked by :func:`parse_source_url`); with ``allowed_hosts``,
    every connection of a network source checks its host's addresses again first."""
    backend = url.get_backend_name()
    is_file = url.database not in (None, "", ":memory:")
    connect_args: dict[str, Any] = {}
    if backend in ("postgresql", "mysql", "mariadb"):
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    if backend == "postgresql":
        _check_pg_names(url)  # parse_source_url checked them; a URL from elsewhere is too
        connect_args.update(_no_libpq_defaults(url))
    elif backend == "duckdb":
        # Without this a SELECT could read any file on the server (read_csv('/etc/passwd')).
        connect_args = {"read_only": is_file, "config": dict(DUCKDB_LOCKED_DOWN)}
    elif backend == "sqlite" and is_file:
        # Reports present data, they never change it: open the file read-only, and fail on a
        # missing file instead of creating an empty database there.
        path = quote(str(Path(str(url.database)).resolve()))
        url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        # Declared DATE, TIMESTAMP and BOOLEAN columns come back typed (see _sqlite_types).
        connect_args = {"detect_types": sqlite3.PARSE_DECLTYPES}
    engine = sqlalchemy.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if backend == "sqlite":
        event.listen(engine, "connect", deny_dangerous_functions)
    elif backend in SERVER_FAMILIES and allowed_hosts:
        hostguard.install(engine, allowed_hosts)
    return engine


def _no_libpq_defaults(url: URL) -> dict[str, str]:
    """libpq fills what a URL leaves out from the account Broadsheet runs as: a password from
    ``PGPASSWORD``, ``~/.pgpass`` (or ``PGPASSFILE``) or a service file (``PGSERVICE``), a
    client certificate from ``~/.postgresql/``, the address from ``PGHOSTADDR``, the port from
    ``PGPORT``. A tenant's source would then log in with Broadsheet's own credentials, or to a
    server other than the one its URL names. So each of these is given explicitly: what a
    service file or a ``PG*`` variable supplies never replaces an explicit value (an empty
    one included). User and database are in the URL (``_check_pg_names``)."""
    # A path that cannot exist ("/dev/null/none"): libpq skips a missing file silently, and
    # warns on every connection about /dev/null itself ("not a plain file").
    given = {
        "passfile": os.path.join(os.devnull, "none"),
        "hostaddr": "",  # the host's own address, not PGHOSTADDR's
        "port": str(url.port or DEFAULT_PORTS["postgresql"]),
    }
    if not url.password:
        # Empty, not absent: libpq then sends no password ("fe_sendauth: no password
        # supplied") instead of PGPASSWORD's or the service file's.
        given["password"] = ""
    if "sslcert" not in url.query:
        given["sslcertmode"] = "disable"  # libpq 16+: send no client certificate at all
    return given


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


def probe(url: URL, allowed_hosts: HostAllowlist | None = None) -> Probe:
    """Connect and run ``SELECT 1``; the error, if any, is the driver's words without the URL."""
    engine = make_source_engine(url, allowed_hosts)
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            info = conn.dialect.server_version_info
        version = ".".join(str(p) for p in info) if info else None
        return Probe(True, round((time.perf_counter() - started) * 1000), version)
    except Exception as exc:  # any driver's failure is the answer to a test, never a 500
        return Probe(False, error=_describe(exc, url))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Table:
    schema: str | None
    name: str
    columns: list[tuple[str, str]]  # (name, the database's type name)


# Enough for completion in an editor; a warehouse with more is listed in part (``truncated``).
MAX_TABLES = 1_000
MAX_COLUMNS = 500


def tables(url: URL, allowed_hosts: HostAllowlist | None = None) -> tuple[list[Table], bool]:
    """The tables and views a report's query may read, with their columns, and whether the
    list was cut at :data:`MAX_TABLES`. System schemas are left out. Raises
    :class:`SchemaUnreadable` with the driver's words (never the URL's password)."""
    engine = make_source_engine(url, allowed_hosts)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            found: list[Table] = []
            for schema in _user_schemas(inspector, url.get_backend_name()):
                names = inspector.get_table_names(schema=schema)
                names += inspector.get_view_names(schema=schema)
                for name in sorted(set(names)):
                    if len(found) == MAX_TABLES:
                        return found, True
                    columns = inspector.get_columns(name, schema=schema)[:MAX_COLUMNS]
                    typed = [(str(c["name"]), _type_name(c["type"])) for c in columns]
                    found.append(Table(schema, name, typed))
            return found, False
    except Exception as exc:  # a driver's failure is said as such, never a 500
        raise SchemaUnreadable(_describe(exc, url)) from None
    finally:
        engine.dispose()


class SchemaUnreadable(Exception):
    """The source's tables could not be listed; the message is the driver's."""


SYSTEM_SCHEMAS = {
    "information_schema",
    "pg_catalog",
    "pg_toast",
    "mysql",
    "performance_schema",
    "sys",
}


def _user_schemas(inspector: Any, backend: str) -> list[str | None]:
    """The default schema first (its tables unqualified), then the others users made. On
    MySQL a schema is a database: only the source's own is listed."""
    if backend in ("mysql", "mariadb", "sqlite"):
        return [None]
    try:
        others = [s for s in inspector.get_schema_names() if s not in SYSTEM_SCHEMAS]
    except NotImplementedError:
        return [None]
    default = inspector.default_schema_name
    return [None, *sorted(s for s in others if s != default and not s.startswith("pg_"))]


def _type_name(kind: Any) -> str:
    try:
        return str(kind)
    except Exception:  # a type SQLAlchemy reflects but cannot print (compiler-specific)
        return type(kind).__name__


def _describe(exc: Exception, url: URL) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    message = lines[0] if lines else type(exc).__name__
    if url.password:
        message = message.replace(str(url.password), "***")
    return message
