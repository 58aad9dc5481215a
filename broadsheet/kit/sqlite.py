"""SQL functions no SQLite connection of Broadsheet's may call.

``fts3_tokenizer`` takes a tokenizer's address as a blob and hands one back: with two
arguments a report query on a file holding an FTS3/FTS4 table can make SQLite jump to any
address (the process dies), and with one it reveals where the library lies in memory.
``load_extension`` would load native code. An authorizer refuses them when a statement is
prepared, so a report using one is refused when it is saved, and never runs.

The sqlite3 shell's file functions (``readfile``, ``writefile``, ``edit``, ``fsdir``) are not
in the library Python links, but an extension or a future build could bring them: they are
denied here too, so a view in a tenant's file that calls one fails as well.
"""

from __future__ import annotations

import sqlite3
from typing import Any

# Name (lower case) → why it is denied; report queries are refused by the same table
# (broadsheet.datasources.sqlguard) before they reach a connection.
DENIED_FUNCTIONS: dict[str, str] = {
    "fts3_tokenizer": "it takes and reveals memory addresses",
    "load_extension": "it loads native code",
    "readfile": "it reads files on the server",
    "writefile": "it writes files on the server",
    "edit": "it runs an editor on the server",
    "fsdir": "it lists folders on the server",
}


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    # For a function call SQLite gives its name (lower case) as the second argument.
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def deny_dangerous_functions(dbapi_conn: Any, _record: Any = None) -> None:
    """A ``connect`` event listener (or a call on a new connection) that installs the check."""
    dbapi_conn.set_authorizer(_authorize)
