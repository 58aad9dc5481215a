"""Run one report query against a data source and stream its rows as Arrow batches.

Limits are the source's: a statement timeout and a row limit (the query fails past it: a
report that silently drops rows is worse than one that says it is too big). Both a timeout
and a cancel stop a statement the same way, through an ``Interrupter`` that knows how to stop
each driver from another thread (PostgreSQL's cancel, MySQL's ``KILL QUERY``, SQLite's and
DuckDB's interrupt) and remembers why it fired. The database's own timeout is set as well,
where it has one. Parameters are always bound, never formatted into the SQL. Rows go from the
DB-API cursor (server-side where the driver has one: PostgreSQL's named cursor fetches only
the rows asked for, PyMySQL's SSCursor reads unbuffered) straight into Arrow, in batches sized
by bytes from the first fetch on (a few rows first, then about ``TARGET_BATCH_BYTES``). Each
batch is gathered from fetches of at most ``MAX_FETCH_ROWS`` rows, measured one by one, so
memory stays near one batch whatever the result's size or the width of its rows, even when
rows widen part-way through.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dt_time
from operator import itemgetter
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from broadsheet.datasources import sqlguard
from broadsheet.datasources.arrow import BatchBuilder, MixedTypes, hinted_type

log = logging.getLogger(__name__)
# Batches are sized by bytes from the first fetch on. A batch is gathered from fetches (a
# ``fetchmany`` each) whose bytes are measured as they come, and closed once it holds about
# TARGET_BATCH_BYTES, or its most rows: TYPING_ROWS for the first (whose values settle the
# types where the driver gives none), then GROWTH times more a batch up to MAX_BATCH_ROWS.
# The first fetch is FIRST_BATCH_ROWS rows; each later one is sized from the bytes a row just
# measured (the fetch's mean, or its last row if wider) toward TARGET_BATCH_BYTES and no more
# than the batch has room for, growing at most GROWTH times a fetch and never past
# MAX_FETCH_ROWS. So however narrow the rows have been, one fetch holds at most MAX_FETCH_ROWS
# rows: rows that turn W bytes wide all at once cost MAX_FETCH_ROWS x W in that fetch (256 x
# 200 kB = 51 MB; the driver may hold its own copy of them too, PostgreSQL's result until the
# next fetch), not a batch's row count of them; the next fetch is sized from W. A batch that
# came out well past the target that way is built into Arrow a target's worth at a time, each
# slice of the driver's rows let go as it is built.
#
# Where a fetch costs a network round trip (a PostgreSQL server-side cursor), 256 rows a fetch
# would make a million narrow rows 3,900 round trips: 20 s at 5 ms each. So while fetches of
# narrow rows (at most NARROW_ROW_BYTES) take longer than SLOW_FETCH_SECONDS, the cap doubles
# up to MAX_SLOW_FETCH_ROWS: a far source keeps its speed, and its worst case for rows that
# widen at once is MAX_SLOW_FETCH_ROWS x W. A near source never takes that long, and keeps 256.
FIRST_BATCH_ROWS = 4
MAX_FETCH_ROWS = 256
MAX_SLOW_FETCH_ROWS = 4_096
SLOW_FETCH_SECONDS = 0.002
NARROW_ROW_BYTES = 512
MAX_BATCH_ROWS = 50_000
TARGET_BATCH_BYTES = 8 * 2**20
GROWTH = 8
TYPING_ROWS = 5_000
TIMEOUT, CANCELLED, SHUTDOWN = "timeout", "cancelled", "shutdown"
DATABASE_TIMEOUT_GRACE_MS = 500


class QueryFailed(Exception):
    """The query did not produce a result; the message is for the person who wrote it."""


class QueryTimeout(QueryFailed):
    pass


class RowLimitExceeded(QueryFailed):
    pass


class QueryCancelled(QueryFailed):
    def __init__(self, reason: str) -> None:
        super().__init__("the job was cancelled" if reason == CANCELLED else "the run was stopped")
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float
    row_limit: int


class Interrupter:
    """Stops whatever statement is running, from any thread, and remembers why.

    Once fired it stays fired, and it keeps stopping the armed statement every
    ``NAG_SECONDS`` until that statement's connection is disarmed: a cancel that reaches the
    database between two statements (or before the first one starts) would otherwise be
    lost. A statement armed after the firing is stopped at once.
    """

    NAG_SECONDS = 0.5

    def __init__(self) -> None:
        self.reason: str | None = None
        self._stop: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._nagging = False

    def arm(self, stop: Callable[[], None] | None) -> None:
        with self._lock:
            self._stop = stop
        if self.reason is not None:
            self._nag()

    def disarm(self) -> None:
        with self._lock:
            self._stop = None

    def fire(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
        self._nag()

    def _nag(self) -> None:
        with self._lock:
            if self._nagging or self._stop is None:
                return
            self._nagging = True
        threading.Thread(target=self._keep_stopping, name="interrupter", daemon=True).start()

    def _keep_stopping(self) -> None:
        try:
            while True:
                with self._lock:
                    stop = self._stop
                if stop is None:
                    return
                try:
                    stop()
                except Exception:  # the statement may have ended and its connection closed
                    log.debug("interrupting a statement failed", exc_info=True)
                time.sleep(self.NAG_SECONDS)
        finally:
            with self._lock:
                self._nagging = False
            if self._stop is not None and self.reason is not None:
                self._nag()  # armed again while we were leaving


@dataclass
class Progress:
    """Shared with whoever watches the run: rows so far (all queries) and the interrupter."""

    rows: int = 0
    interrupter: Interrupter = field(default_factory=Interrupter)


def stream(
    engine: Engine,
    sql: str,
    params: dict[str, Any],
    limits: Limits,
    *,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield the result in batches; raises a QueryFailed subclass with a readable message.

    ``deadline`` (a ``time.monotonic()`` value) bounds a whole run of several queries; each
    query is also bounded by the source's own timeout.
    """
    backend = engine.dialect.name
    try:
        sqlguard.check_read_only(sql, backend)
    except sqlguard.UnsafeQuery as exc:  # checked when saved; checked again here
        raise QueryFailed(str(exc)) from None
    progress = progress or Progress()
    interrupter = progress.interrupter
    if interrupter.reason is not None:
        raise _stopped(interrupter.reason, limits)
    ends = time.monotonic() + limits.timeout_seconds
    ends = min(ends, deadline) if deadline is not None else ends
    timer = threading.Timer(max(ends - time.monotonic(), 0), interrupter.fire, (TIMEOUT,))
    timer.daemon = True
    try:
        with engine.connect() as conn, _guarded(conn, backend, ends) as cursor:
            interrupter.arm(_stopper(engine, conn, backend))
            timer.start()
            statement, args = _compile(conn, sql, params)
            cursor.execute(statement, args)
            names = _unique([d[0] for d in cursor.description])
            hints = [
                hinted_type(backend, d, unsigned=u)
                for d, u in zip(cursor.description, _unsigned(cursor, backend), strict=True)
            ]
            builder = BatchBuilder(names, hints)
            yield from _batches(cursor, builder, limits, progress)
    except MixedTypes as exc:
        raise QueryFailed(str(exc)) from None
    except (engine.dialect.loaded_dbapi.Error, DBAPIError, sqlite3.Error) as exc:
        if interrupter.reason is not None:
            raise _stopped(interrupter.reason, limits) from None
        if _database_timeout(exc):
            raise _stopped(TIMEOUT, limits) from None
        raise QueryFailed(database_message(exc, engine)) from None
    except SQLAlchemyError as exc:
        raise QueryFailed(database_message(exc, engine)) from None
    finally:
        timer.cancel()
        interrupter.disarm()
        if interrupter.reason == TIMEOUT:
            interrupter.reason = None  # a timeout ends this query; the caller decides the rest


def _batches(
    cursor: Any, builder: BatchBuilder, limits: Limits, progress: Progress
) -> Iterator[pa.RecordBatch]:
    """Fetch and convert batch by batch, sizing fetches and batches by bytes so wide rows stay
    small, even rows that widen part-way through. An empty result still yields one (empty)
    batch, so the file has the query's columns."""
    fetch = FIRST_BATCH_ROWS  # the next fetch's size, before the batch's room is counted
    ask = fetch
    seen = 0
    gathered: list[Any] = []  # the batch's rows so far
    gathered_bytes = 0
    full = TYPING_ROWS  # the batch's most rows
    measure: Callable[[list[Any]], int] = _python_bytes  # until the types are settled
    cap = MAX_FETCH_ROWS  # grows while fetches are slow and rows narrow (see above)
    while True:
        started = time.monotonic()
        rows = cursor.fetchmany(ask)
        slow = time.monotonic() - started > SLOW_FETCH_SECONDS
        count = len(rows)
        seen += count
        progress.rows += count
        _still_allowed(seen, limits, progress)
        size = measure(rows)
        # bytes a row: the fetch's mean, or its last row if wider (rows widening part-way)
        row_bytes = max(size / count, measure(rows[-1:]), 1) if count else 1
        gathered += rows
        del rows
        gathered_bytes += size
        if count:
            cap = fetch_cap(cap, slow, row_bytes)
            fetch = next_fetch(fetch, row_bytes, cap)
            room = TARGET_BATCH_BYTES - gathered_bytes
            if room > 0 and len(gathered) < full:
                ask = max(1, min(fetch, full - len(gathered), int(room / row_bytes) + 1))
                continue
        elif not gathered and builder.schema is not None:
            return
        yield from _built(builder, gathered, gathered_bytes)  # empties ``gathered``
        if not count:
            return
        full = min(full * GROWTH, MAX_BATCH_ROWS)  # 5,000, 40,000, then 50,000 rows at most
        gathered_bytes = 0
        ask = fetch
        if measure is _python_bytes:
            measure = _measurer(builder.settle(()))


def _still_allowed(seen: int, limits: Limits, progress: Progress) -> None:
    """Raises when the rows so far pass the source's row limit, or the run was stopped."""
    if seen > limits.row_limit:
        raise RowLimitExceeded(
            f"the query returned more than {limits.row_limit:,} rows, the data "
            "source's row limit; narrow the query or raise the limit"
        )
    if progress.interrupter.reason is not None:
        raise _stopped(progress.interrupter.reason, limits)


def fetch_cap(cap: int, slow: bool, row_bytes: float) -> int:
    """The most rows the next fetch may ask for: doubled after a slow fetch of narrow rows,
    back to ``MAX_FETCH_ROWS`` once rows are wide."""
    if row_bytes > NARROW_ROW_BYTES:
        return MAX_FETCH_ROWS
    return min(cap * 2, MAX_SLOW_FETCH_ROWS) if slow else cap


def next_fetch(last: int, row_bytes: float, cap: int = MAX_FETCH_ROWS) -> int:
    """How many rows to fetch next, after a fetch sized ``last`` of ``row_bytes`` a row."""
    fitting = int(TARGET_BATCH_BYTES / max(row_bytes, 1))
    return max(1, min(fitting, last * GROWTH, cap))


def _built(builder: BatchBuilder, rows: list[Any], nbytes: int) -> Iterator[pa.RecordBatch]:
    """The gathered rows as batches, emptying ``rows``: one batch, or, for rows that came out
    far wider than the target, slices of about TARGET_BATCH_BYTES, each slice's driver rows
    let go before the next is built, so the driver's rows and Arrow's copy are not both
    whole."""
    if nbytes <= 2 * TARGET_BATCH_BYTES or len(rows) <= 1:
        batch = builder.build(rows)
        rows.clear()  # the driver's rows go before the batch is written: one copy at a time
        yield batch
        return
    builder.settle(rows)  # the types from all of them, as one batch would have them
    while rows:
        taken, size = 0, 0
        while taken < len(rows) and size < TARGET_BATCH_BYTES:
            size += _python_bytes(rows[taken : taken + 1])
            taken += 1
        part = rows[:taken]
        del rows[:taken]
        batch = builder.build(part)
        del part
        yield batch
        del batch  # written by now: not kept while the next slice is built


def _measurer(schema: pa.Schema) -> Callable[[list[Any]], int]:
    """Once the types are settled, a quicker measure than ``_python_bytes``: fixed-width
    columns by their width, text and binary ones by the length of each value's text."""
    fixed = 0
    variable: list[int] = []  # text, binary, anything without a fixed width
    for index, column in enumerate(schema):
        try:
            fixed += max(column.type.bit_width // 8, 1)
        except ValueError:  # not a fixed-width type
            variable.append(index)

    def measure(rows: list[Any]) -> int:
        total = fixed * len(rows)
        for index in variable:
            total += sum(map(len, map(str, map(itemgetter(index), rows))))
        return total

    return measure


# Not Decimal: a NUMERIC may hold thousands of digits, so it is measured by its text.
_FIXED_WIDTH = (int, float, date, dt_time, type(None))


def _python_bytes(rows: list[Any]) -> int:
    """About what the rows will take in Arrow, before Arrow has measured anything: text and
    bytes by their length, numbers (but decimals) and dates 8 each, anything else (decimals,
    JSON documents, arrays) by the length of the text it becomes."""
    total = 0
    for row in rows:
        for value in row:
            if isinstance(value, str | bytes | bytearray):
                total += len(value)
            elif isinstance(value, _FIXED_WIDTH):
                total += 8
            else:
                total += len(str(value))
    return total


def describe(engine: Engine, sql: str, samples: dict[str, Any], timeout: float) -> list[str]:
    """The column names the query returns, without reading rows: it runs wrapped in
    ``SELECT * FROM (…) LIMIT 0`` with a sample value of the right type for each parameter
    (typed values, so PostgreSQL can resolve operators such as ``:a - :b``).

    ``LIMIT 0`` does not always spare the database the work (SQLite builds a ``MATERIALIZED``
    CTE in full first, and has no statement timeout of its own), so the check is stopped at
    ``timeout`` the way a run is: an ``Interrupter`` from another thread, with the database's
    own timeout behind it. Running past it is a ``QueryTimeout``."""
    backend = engine.dialect.name
    sqlguard.check_read_only(sql, backend)
    # Newlines, so a query ending in a -- comment does not comment out the wrapper.
    wrapped = f"SELECT * FROM (\n{sql.strip().rstrip(';')}\n) AS broadsheet_probe LIMIT 0"  # noqa: S608
    interrupter = Interrupter()
    timer = threading.Timer(timeout, interrupter.fire, (TIMEOUT,))
    timer.daemon = True
    try:
        with (
            engine.connect() as conn,
            _guarded(conn, backend, time.monotonic() + timeout) as cursor,
        ):
            interrupter.arm(_stopper(engine, conn, backend))
            timer.start()
            statement, args = _compile(conn, wrapped, samples)
            cursor.execute(statement, args)
            return [d[0] for d in cursor.description]
    except (
        engine.dialect.loaded_dbapi.Error,
        DBAPIError,
        sqlite3.Error,
        SQLAlchemyError,
        OSError,  # a driver's TLS set-up (PyMySQL's ssl_ca) fails outside its own errors
    ) as exc:
        if interrupter.reason is not None or _database_timeout(exc):
            raise QueryTimeout(
                f"the query took longer than {timeout:g} s to check; make it cheaper (a "
                "MATERIALIZED or recursive CTE is built in full even for this check)"
            ) from None
        raise QueryFailed(database_message(exc, engine)) from None
    finally:
        timer.cancel()
        interrupter.disarm()


def database_message(exc: BaseException, engine: Engine) -> str:
    """What the database said, on one line, with no URL or password in it."""
    original = getattr(exc, "orig", None) or exc
    message = " ".join(str(original).split()) or type(original).__name__
    password = engine.url.password
    if password:
        message = message.replace(str(password), "***")
    return message[:1000]


def _unsigned(cursor: Any, backend: str) -> list[bool]:
    """Which columns carry MySQL's UNSIGNED flag. The DB-API description leaves it out;
    PyMySQL keeps each column's flags on the result it is reading."""
    flags = [False] * len(cursor.description)
    if backend in ("mysql", "mariadb"):
        from pymysql.constants import FLAG

        fields = getattr(getattr(cursor, "_result", None), "fields", None) or []
        if len(fields) == len(flags):
            flags = [bool(getattr(f, "flags", 0) & FLAG.UNSIGNED) for f in fields]
    return flags


def _unique(names: list[str]) -> list[str]:
    """``a.*, b.*`` joins repeat names; a file (and a chart) needs each once: ``id``, ``id_2``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        candidate = name if count == 1 else f"{name}_{count}"
        while candidate in seen and candidate != name:
            count += 1
            candidate = f"{name}_{count}"
        seen.setdefault(candidate, 1)
        out.append(candidate)
    return out


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
def _guarded(conn: Connection, backend: str, ends: float) -> Iterator[Any]:
    """A raw cursor in a read-only transaction with the database's own statement timeout.

    On any abnormal exit the connection is thrown away rather than reused: closing a MySQL
    streaming cursor would first read the rest of a huge result.
    """
    raw = conn.connection.dbapi_connection
    assert raw is not None
    # The database's own timeout is a backstop, set a little after ours.
    millis = max(int((ends - time.monotonic()) * 1000), 1) + DATABASE_TIMEOUT_GRACE_MS
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
    try:
        yield cursor
    except BaseException:
        if backend not in ("mysql", "mariadb"):  # MySQL's close would read the rest first
            with suppress(Exception):
                cursor.close()
        conn.invalidate()
        raise
    cursor.close()
    if backend in ("mysql", "mariadb"):
        conn.execute(text("SET SESSION TRANSACTION READ WRITE"))
    conn.rollback()


def _stopper(engine: Engine, conn: Connection, backend: str) -> Callable[[], None] | None:
    """How to stop this connection's running statement from another thread."""
    raw: Any = conn.connection.dbapi_connection
    stop: Callable[[], None]
    if backend == "postgresql":
        stop = getattr(raw, "cancel_safe", None) or raw.cancel
        return stop
    if backend == "sqlite":
        stop = raw.interrupt
        return stop
    if backend == "duckdb":
        stop = getattr(raw, "interrupt", None) or raw.c.interrupt
        return stop
    if backend in ("mysql", "mariadb"):
        thread_id = raw.thread_id()

        def kill() -> None:  # MySQL stops a query only when asked on another connection
            with engine.connect() as other:
                other.exec_driver_sql(f"KILL QUERY {int(thread_id)}")

        return kill
    return None


# The databases' own "statement timeout" errors: PostgreSQL's query_canceled, MariaDB's
# max_statement_time, MySQL's max_execution_time. Ours normally fires first (the database's
# is set a little later); these cover a clock that disagrees.
_TIMEOUT_CODES = {"57014", 1969, 3024}


def _database_timeout(exc: BaseException) -> bool:
    original = getattr(exc, "orig", None) or exc
    code = getattr(original, "sqlstate", None)
    if code is None and getattr(original, "args", None):
        code = original.args[0]
    return code in _TIMEOUT_CODES


def _stopped(reason: str, limits: Limits) -> QueryFailed:
    if reason == TIMEOUT:
        return QueryTimeout(
            f"the query ran longer than {limits.timeout_seconds:g} s, the data source's "
            "statement timeout (or the job's)"
        )
    return QueryCancelled(reason)
