"""Is a report query read-only? Parsed, not pattern-matched.

A report query must be exactly one SELECT (``WITH … SELECT``, ``UNION`` and ``VALUES``
included) with no data-changing part anywhere inside it: no ``DELETE … RETURNING`` in a CTE, no
``SELECT INTO``, no ``FOR UPDATE``. This is the first of three guards: the query also runs in a
read-only transaction (or on a read-only file), and sources should use read-only credentials.
"""

from __future__ import annotations

import logging
import re
from fnmatch import fnmatchcase
from itertools import pairwise

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import ParseError, TokenError

from broadsheet.kit.sqlite import DENIED_FUNCTIONS as SQLITE_DENIED_FUNCTIONS

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

_OTHER_CONNECTIONS = "it opens a connection of its own, outside the read-only transaction"
_FOREIGN_DATA = "foreign-data wrappers reach other servers and files"
_SERVER_FILES = "it reads, writes or lists files on the database server"
_LARGE_OBJECTS = "large objects are shared by the whole database and reach the server's files"
_SQL_AS_TEXT = "it runs SQL given as text, which the read-only check cannot see"
_SERVER_CONTROL = "it controls the database server or other sessions"
_SHELL = "it runs programs on the database server"
_FILES_OR_URLS = "it reads files or URLs that the database server can reach"
_ENVIRONMENT = "it reads the server's environment, where credentials live"
_NATIVE_CODE = "it loads native code"
_SECRETS = "it reveals stored credentials"
# Per backend: a function's own name (lower case; ``*`` for any characters) → why it is refused.
REFUSED_FUNCTIONS: dict[str, dict[str, str]] = {
    "postgresql": {
        "dblink*": _OTHER_CONNECTIONS,
        "postgres_fdw_*": _FOREIGN_DATA,
        "*_fdw_handler": _FOREIGN_DATA,
        "*_fdw_validator": _FOREIGN_DATA,
        "pg_read_file": _SERVER_FILES,
        "pg_read_binary_file": _SERVER_FILES,
        "pg_stat_file": _SERVER_FILES,
        "pg_ls_*": _SERVER_FILES,  # pg_ls_dir, pg_ls_logdir, pg_ls_waldir, pg_ls_tmpdir, …
        "pg_current_logfile": _SERVER_FILES,
        "pg_file_*": _SERVER_FILES,  # adminpack: pg_file_write, pg_file_rename, …
        "pg_logdir_ls": _SERVER_FILES,
        "lo_*": _LARGE_OBJECTS,  # lo_import, lo_export, lo_get, lo_put, lo_from_bytea, …
        "loread": _LARGE_OBJECTS,
        "lowrite": _LARGE_OBJECTS,
        "query_to_xml*": _SQL_AS_TEXT,
        "ts_stat": _SQL_AS_TEXT,
        "ts_rewrite": _SQL_AS_TEXT,
        "pg_terminate_backend": _SERVER_CONTROL,
        "pg_cancel_backend": _SERVER_CONTROL,
        "pg_reload_conf": _SERVER_CONTROL,
        "pg_rotate_logfile": _SERVER_CONTROL,
        "pg_promote": _SERVER_CONTROL,
    },
    "mysql": {
        "load_file": _SERVER_FILES,
        "sys_exec": _SHELL,  # lib_mysqludf_sys, where an administrator installed it
        "sys_eval": _SHELL,
    },
    "sqlite": SQLITE_DENIED_FUNCTIONS,  # the authorizer's table: one list for both checks
    # DuckDB sources run with external access off (connector.DUCKDB_LOCKED_DOWN); these are
    # refused first, so a report says why instead of failing with a permission error.
    "duckdb": {
        "read_*": _FILES_OR_URLS,  # read_csv(_auto), read_parquet, read_json, read_text, …
        "*_scan": _FILES_OR_URLS,  # parquet_scan, sqlite_scan, postgres_scan, delta_scan, …
        "*_attach": _FILES_OR_URLS,  # sqlite_attach, postgres_attach
        "*_query": _OTHER_CONNECTIONS,  # postgres_query, mysql_query
        "parquet_*": _FILES_OR_URLS,  # parquet_metadata, parquet_schema, …
        "glob": _FILES_OR_URLS,
        "getenv": _ENVIRONMENT,
        "load_extension": _NATIVE_CODE,
        "duckdb_secrets": _SECRETS,
        "which_secret": _SECRETS,
        "query": _SQL_AS_TEXT,
        "query_table": _SQL_AS_TEXT,
        "json_execute_serialized_sql": _SQL_AS_TEXT,
    },
}
REFUSED_FUNCTIONS["mariadb"] = REFUSED_FUNCTIONS["mysql"]
# PostgreSQL reads ``x.f`` as ``f(x)`` only for a function it can call with one argument, so
# after a dot the refused names are matched exactly: the listed names, and of the ``*``
# families only their members that take one argument (``lo_qty`` or ``dblink_id`` is a column).
ONE_ARGUMENT_MEMBERS = frozenset(
    {
        "dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_disconnect",
        "dblink_close", "dblink_get_result", "dblink_is_busy", "dblink_cancel_query",
        "dblink_error_message", "dblink_get_notify", "dblink_get_pkey",
        "postgres_fdw_disconnect",
        "pg_ls_dir", "pg_ls_tmpdir", "pg_ls_replslotdir",
        "pg_file_unlink", "pg_file_sync", "pg_file_read",
        "lo_import", "lo_get", "lo_unlink", "lo_creat", "lo_create", "lo_close", "lo_tell",
        "lo_tell64",
    }
)  # fmt: skip
# Clauses that name a file on the database server, as pairs of unquoted words: MySQL's
# INTO OUTFILE and LOAD DATA are not SQL the parser reads, so they are found in its tokens.
FILE_CLAUSES: dict[tuple[str, str], str] = {
    ("INTO", "OUTFILE"): "it writes a file on the database server",
    ("INTO", "DUMPFILE"): "it writes a file on the database server",
    ("LOAD", "DATA"): "it reads a file into a table",
    ("LOAD", "XML"): "it reads a file into a table",
}
# A DuckDB table named like a file or URL ('/etc/passwd', "data.csv", 's3://…') is read from
# there (a replacement scan): refused by name, as external access is refused by the connection.
FILE_LIKE_TABLE = re.compile(r"[/\\:]|\.[A-Za-z0-9]{1,8}$")
# A function name as people write one. Anything else (PostgreSQL's U&"pg\005fread_file",
# say) is refused rather than decoded: the parser reads escapes differently from the server.
PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")

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
    _check_file_clauses(sql, dialect)
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
    check_functions(statement, backend, sql)
    if backend == "duckdb":
        _check_file_tables(statement)


def _check_file_clauses(sql: str, dialect: str) -> None:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except TokenError:
        return  # the parser says what is not closed
    words = [
        t.text.upper() if t.token_type not in (TokenType.STRING, TokenType.IDENTIFIER) else ""
        for t in tokens
    ]
    for pair in pairwise(words):
        why = FILE_CLAUSES.get(pair)
        if why:
            raise UnsafeQuery(f"{' '.join(pair)} is not allowed in a report query: {why}")


def _check_file_tables(statement: exp.Expression) -> None:
    for table in statement.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier) and FILE_LIKE_TABLE.search(table.name):
            raise UnsafeQuery(
                f"the table {table.name!r} names a file or URL, which a report query may not "
                f"read: {_FILES_OR_URLS}"
            )


def check_functions(statement: exp.Expression, backend: str, sql: str) -> None:
    """Refuse a call of any function ``REFUSED_FUNCTIONS`` lists for this backend.

    PostgreSQL also calls ``f(x)`` when it reads ``x.f`` and ``x`` has no column ``f``
    (attribute notation: ``('/etc/hostname'::text).pg_read_file``, ``t.pg_read_file`` where
    ``t`` is a function in FROM), which the parser sees as a column or a field, not a call.
    So there a name after a dot is matched too, exactly, against the functions that can be
    called so (``ONE_ARGUMENT_MEMBERS`` and the listed names). A bare name (``pg_read_file``
    alone) is only ever a column to PostgreSQL, so it is not: a real column of such a name is
    refused when qualified and can be selected unqualified."""
    refused = REFUSED_FUNCTIONS.get(backend, {})
    for call in statement.find_all(exp.Func):
        name = _function_name(call)
        if isinstance(call, exp.Anonymous) and not PLAIN_NAME.fullmatch(name):
            raise UnsafeQuery(f"write the function name {name!r} plainly, without escapes")
        _check_name(name, refused, "")
    if backend != "postgresql":
        return
    if _has_unicode_identifier(sql):
        raise UnsafeQuery('write names plainly, without escapes: U&"…" is not allowed')
    exact = {name: why for name, why in refused.items() if "*" not in name}
    for field in _fields_after_a_dot(statement):
        if field in exact or field in ONE_ARGUMENT_MEMBERS:
            _check_name(field, refused, ATTRIBUTE_NOTATION.format(name=field))


# Why a name after a dot is refused: PostgreSQL's attribute notation, see check_functions.
ATTRIBUTE_NOTATION = (
    "; PostgreSQL calls a function written as x.{name} too, so a column of that name must be "
    "written without its table (or renamed in a subquery)"
)


def _check_name(name: str, refused: dict[str, str], note: str) -> None:
    for pattern, why in refused.items():
        if fnmatchcase(name, pattern):
            raise UnsafeQuery(f"{name}() is not authorized in a report query: {why}{note}")


def _fields_after_a_dot(statement: exp.Expression) -> list[str]:
    """Every name written after a dot: the column of ``t.c`` (``s.t.c``, …) and the field of
    ``(x).f``, lower case and unquoted, as the function check compares them."""
    found: list[str] = []
    for column in statement.find_all(exp.Column):
        if column.args.get("table") is not None and isinstance(column.this, exp.Identifier):
            found.append(column.this.name.lower())
    for dot in statement.find_all(exp.Dot):
        if isinstance(dot.expression, exp.Identifier):
            found.append(dot.expression.name.lower())
    return found


def _has_unicode_identifier(sql: str) -> bool:
    """``U&"…"``: a quoted name with Unicode escapes, which the parser reads as ``U & "…"``
    (so ``t.U&"pg\\005fread_file"`` would hide ``t.pg_read_file``)."""
    try:
        tokens = sqlglot.tokenize(sql, read="postgres")
    except TokenError:
        return False  # not reached: the statement was parsed already
    for u, amp, name in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            u.token_type == TokenType.VAR
            and u.text.lower() == "u"
            and amp.token_type == TokenType.AMP
            and name.token_type == TokenType.IDENTIFIER
            and u.end + 1 == amp.start
            and amp.end + 1 == name.start
        ):
            return True
    return False


def _function_name(call: exp.Func) -> str:
    """The function's own name in lower case: a schema (``pg_catalog.``) is a separate node
    above it, and quotes are gone once parsed (``"pg_read_file"`` is ``pg_read_file``)."""
    if isinstance(call, exp.Anonymous):
        return call.name.lower()
    return call.sql_name().lower()  # one sqlglot knows, such as COUNT or LEFT


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Into):
        return "SELECT … INTO"
    if isinstance(node, exp.Lock):
        return "a locking clause (FOR UPDATE/SHARE)"
    return node.key.upper()
