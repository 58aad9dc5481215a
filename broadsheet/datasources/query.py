"""Run one report query against a data source and stream its rows as Arrow batches.

Limits are the source's: a statement timeout (enforced by the database where it can, and by
a deadline between batches everywhere) and a row limit (the query fails past it: a report
that silently drops rows is worse than one that says it is too big). Parameters are always
bound, never formatted into the SQL. Rows go straight from the DB-API cursor into Arrow — no
ORM row objects — with a server-side cursor where the driver has one, so memory stays at one
batch whatever the result's size.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from broadsheet.datasources import sqlguard
from broadsheet.datasources.arrow import BatchBuilder, MixedTypes, hinted_type

DEFAULT_BATCH_ROWS = 50_000
TIMEOUT_SLACK_SECONDS = 0.25


class QueryFailed(Exception):
    """The query did not produce a result; the message is for the person who wrote it."""


class QueryTimeout(QueryFailed):
    pass


class RowLimitExceeded(QueryFailed):
    pass


class QueryCancelled(QueryFailed):
    pass


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float
    row_limit: int


@dataclass
class Progress:
    """Shared with whoever watches the query: rows so far, and a way to interrupt it."""

    rows: int = 0
    interrupt: Callable[[], None] | None = None


def stream(
    engine: Engine,
    sql: str,
    params: dict[str, Any],
    limits: Limits,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield the result in batches; raises a QueryFailed subclass with a readable message."""
    backend = engine.dialect.name
    try:
        sqlguard.check_read_only(sql, backend)
    except sqlguard.UnsafeQuery as exc:  # the definition was checked when saved; still
        raise QueryFailed(str(exc)) from None
    deadline = time.monotonic() + limits.timeout_seconds
    progress = progress or Progress()
    try:
        with engine.connect() as conn, _guarded(conn, backend, limits, deadline) as cursor:
            progress.interrupt = _interrupter(conn.connection.dbapi_connection, backend)
            statement, args = _compile(conn, sql, params)
            cursor.execute(statement, args)
            names = [d[0] for d in cursor.description]
            builder = BatchBuilder(names, [hinted_type(backend, d) for d in cursor.description])
            yield from _batches(
                cursor, builder, batch_rows, limits, deadline, progress, should_stop
            )
            progress.interrupt = None  # the connection is about to close
    except MixedTypes as exc:
        raise QueryFailed(str(exc)) from None
    except (engine.dialect.loaded_dbapi.Error, DBAPIError, sqlite3.Error) as exc:
        # The database's own timeout fires at the deadline; allow for clock slack.
        if time.monotonic() >= deadline - TIMEOUT_SLACK_SECONDS or _says_timeout(exc):
            raise _timeout(limits) from None
        raise QueryFailed(database_message(exc, engine)) from None
    except SQLAlchemyError as exc:
        raise QueryFailed(database_message(exc, engine)) from None


def _batches(
    cursor: Any,
    builder: BatchBuilder,
    batch_rows: int,
    limits: Limits,
    deadline: float,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> Iterator[pa.RecordBatch]:
    """Fetch and convert batch by batch; an empty result still yields one (empty) batch, so
    the file has the query's columns."""
    first = True
    while True:
        rows = cursor.fetchmany(batch_rows)
        if not rows and not first:
            return
        first = False
        progress.rows += len(rows)
        if progress.rows > limits.row_limit:
            raise RowLimitExceeded(
                f"the query returned more than {limits.row_limit:,} rows, the data "
                "source's row limit; narrow the query or raise the limit"
            )
        _check_time(deadline, limits)
        if should_stop():
            raise QueryCancelled("the job was cancelled")
        yield builder.build(rows)
        if not rows:
            return


def describe(engine: Engine, sql: str, samples: dict[str, Any], timeout: float) -> list[str]:
    """The column names the query returns, without reading rows: it runs wrapped in
    ``SELECT * FROM (…) LIMIT 0`` with a sample value of the right type for each parameter
    (typed values, so PostgreSQL can resolve operators such as ``:a - :b``)."""
    sqlguard.check_read_only(sql, engine.dialect.name)
    wrapped = f"SELECT * FROM ({sql.strip().rstrip(';')}) AS broadsheet_probe LIMIT 0"  # noqa: S608
    limits = Limits(timeout, 1)
    try:
        with engine.connect() as conn, _guarded(conn, engine.dialect.name, limits, None) as cur:
            statement, args = _compile(conn, wrapped, samples)
            cur.execute(statement, args)
            return [d[0] for d in cur.description]
    except (engine.dialect.loaded_dbapi.Error, DBAPIError, sqlite3.Error, SQLAlchemyError) as exc:
        raise QueryFailed(database_message(exc, engine)) from None


def database_message(exc: BaseException, engine: Engine) -> str:
    """What the database said, on one line, with no URL or password in it."""
    original = getattr(exc, "orig", None) or exc
    message = " ".join(str(original).split()) or type(original).__name__
    password = engine.url.password
    if password:
        message = message.replace(str(password), "***")
    return message[:1000]


def _compile(conn: Connection, sql: str, params: dict[str, Any]) -> tuple[str, Any]:
    """Bind ``:name`` parameters the driver's own way (qmark, format or pyformat)."""
    compiled = text(sql).compile(dialect=conn.dialect)
    values = compiled.construct_params(params)
    if conn.dialect.name == "sqlite":
        # The sqlite3 module's date adapters are deprecated: pass ISO text, as stored.
        values = {k: _sqlite_value(v) for k, v in values.items()}
    if compiled.positional:
        return compiled.string, [values[name] for name in compiled.positiontup or []]
    return compiled.string, values


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


@contextmanager
def _guarded(
    conn: Connection, backend: str, limits: Limits, deadline: float | None
) -> Iterator[Any]:
    """A raw cursor in a read-only transaction with the database's own statement timeout."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    millis = max(int(limits.timeout_seconds * 1000), 1)
    if backend == "postgresql":
        conn.execute(text("SET TRANSACTION READ ONLY"))
        conn.execute(text(f"SET LOCAL statement_timeout = {millis}"))
        cursor = raw.cursor(name="broadsheet_report")  # server-side: rows arrive in batches
    elif backend in ("mysql", "mariadb"):
        import pymysql.cursors

        if getattr(conn.dialect, "is_mariadb", False):
            conn.execute(text(f"SET SESSION max_statement_time = {millis / 1000:.3f}"))
        else:
            conn.execute(text(f"SET SESSION max_execution_time = {millis}"))
        conn.execute(text("SET SESSION TRANSACTION READ ONLY"))
        cursor = raw.cursor(pymysql.cursors.SSCursor)
    else:
        cursor = raw.cursor()
    watchdog = _watchdog(raw, backend, limits.timeout_seconds)
    try:
        yield cursor
    finally:
        if watchdog is not None:
            watchdog.cancel()
        try:
            cursor.close()
        finally:
            if backend in ("mysql", "mariadb"):
                conn.execute(text("SET SESSION TRANSACTION READ WRITE"))
            conn.rollback()


def _interrupter(raw: Any, backend: str) -> Callable[[], None] | None:
    """How to stop a running statement from another thread, where the driver can."""
    if backend == "postgresql":
        return getattr(raw, "cancel_safe", None) or raw.cancel  # type: ignore[no-any-return]
    if backend == "sqlite":
        return raw.interrupt  # type: ignore[no-any-return]
    if backend == "duckdb":
        return getattr(raw, "interrupt", None) or raw.c.interrupt  # type: ignore[no-any-return]
    return None


def _watchdog(raw: Any, backend: str, seconds: float) -> threading.Timer | None:
    """Interrupt engines that have no statement timeout of their own (SQLite, DuckDB)."""
    interrupt = _interrupter(raw, backend) if backend in ("sqlite", "duckdb") else None
    if interrupt is None:
        return None
    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    return timer


def _says_timeout(exc: BaseException) -> bool:
    words = str(getattr(exc, "orig", None) or exc).lower()
    return "statement timeout" in words or "max_statement_time" in words or "interrupted" in words


def _check_time(deadline: float, limits: Limits) -> None:
    if time.monotonic() >= deadline:
        raise _timeout(limits)


def _timeout(limits: Limits) -> QueryTimeout:
    return QueryTimeout(
        f"the query ran longer than {limits.timeout_seconds:g} s, the data source's "
        "statement timeout"
    )
