"""Engines and sessions. Commit and rollback happen here, at the edge: a request or a task
gets one session, services only ``flush()``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# sqlalchemy.create_engine is looked up at each call: tracing (broadsheet.tracing) wraps it.
import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

# Registers the session events that write every audited change to the audit trail.
from broadsheet.audit import tracking as _audit_tracking  # noqa: F401
from broadsheet.kit import dburl
from broadsheet.kit.sqlite import deny_dangerous_functions


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, pool_timeout: float = 30
) -> Engine:
    """An engine with ``pool_size`` connections kept and ``max_overflow`` more opened when
    needed, waiting up to ``pool_timeout`` seconds for one (SQLAlchemy's defaults suit
    one-shot commands and tests)."""
    parsed = dburl.normalize(url)
    pool: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
    }
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            pool = {}  # an in-memory database keeps one connection of its own
        engine = sqlalchemy.create_engine(parsed, connect_args={"timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sqlalchemy.create_engine(parsed, pool_pre_ping=True, **pool)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    deny_dangerous_functions(dbapi_conn)
    # Foreign keys are off by default in SQLite; WAL lets readers run beside one writer.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


# A session's ``info`` key for what to call once it is done with the database (a request's
# turn, see broadsheet.capacity).
ON_DONE = "broadsheet.on_done_with_database"


_WROTE = "broadsheet.wrote"


def done_with_database(session: Session) -> None:
    """Before slow work that needs no metadata database — a render, a query in a tenant's
    source: end the session's transaction, so its connection goes back to the pool, and give
    back whatever was lent for it (a request's turn). The session stays usable; using it
    again takes a connection anew.

    A session that has written already is in the middle of a unit of work that must commit
    whole: it keeps its transaction (and its connection) until its owner commits.
    """
    if session.info.get(_WROTE):
        return
    session.commit()
    done = session.info.pop(ON_DONE, None)
    if done is not None:
        done()


@event.listens_for(Session, "after_flush")
def _remember_writes(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_writes(session: Session) -> None:
    session.info.pop(_WROTE, None)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit if the block succeeds, roll back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def standalone_session(url: str) -> Iterator[Session]:
    """A unit of work on an engine of its own, disposed after: for one-shot commands."""
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()
