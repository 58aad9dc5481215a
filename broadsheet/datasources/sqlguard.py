"""Is a report query read-only? Parsed, not pattern-matched.

A report query must be exactly one SELECT (``WITH … SELECT``, ``UNION`` and ``VALUES``
included) with no data-changing part anywhere inside it: no ``DELETE … RETURNING`` in a CTE, no
``SELECT INTO``, no ``FOR UPDATE``. This is the first of three guards: the query also runs in a
read-only transaction (or on a read-only file), and sources should use read-only credentials.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

READ_ONLY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values)
WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Into,
    exp.Lock,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
)
MYSQL_EXECUTABLE_COMMENTS = ("/*!", "/*+", "/*M!")
DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}

# sqlglot logs (rather than raises) when it falls back to an opaque Command; we reject those.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class UnsafeQuery(ValueError):
    """The query is not a single read-only statement; the message says what was found."""


def check_read_only(sql: str, backend: str) -> None:
    dialect = DIALECTS.get(backend, backend)
    if backend in ("mysql", "mariadb") and any(m in sql for m in MYSQL_EXECUTABLE_COMMENTS):
        # MySQL runs what is inside /*! … */ and obeys /*+ … */ hints: text the parser below
        # sees as a comment, so it could hide INTO OUTFILE or lift the statement timeout.
        raise UnsafeQuery("MySQL executable comments (/*! */) and optimizer hints are not allowed")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc)
        raise UnsafeQuery(f"the query could not be parsed: {first}") from None
    except TokenError:  # an unterminated string or quoted name, say
        raise UnsafeQuery(
            "the query could not be read: a quote, string or comment is not closed"
        ) from None
    if len(statements) != 1:
        raise UnsafeQuery(f"a report query is one statement; found {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, READ_ONLY_ROOTS):
        kind = statement.key.upper()
        raise UnsafeQuery(f"only SELECT queries are allowed; this is {kind}")
    for node in statement.find_all(*WRITES):
        raise UnsafeQuery(f"only read-only queries are allowed; found {_describe(node)}")


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Into):
        return "SELECT … INTO"
    if isinstance(node, exp.Lock):
        return "a locking clause (FOR UPDATE/SHARE)"
    return node.key.upper()
