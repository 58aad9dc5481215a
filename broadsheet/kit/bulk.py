"""Many rows in one statement.

On PostgreSQL the rows travel as one JSON document and come back out of
``json_populate_recordset`` as rows of the table's own type: one short statement and one
parameter, however many rows. (An ``executemany`` sends a statement per row; a multi-row
``VALUES`` a placeholder per value, which the driver then parses; arrays per column are
escaped element by element in Python. Each of these cost more than the database's own work
for a thousand rows.) On SQLite, where a statement costs no round trip, it is a plain
``executemany``.

Rows are dicts named for the table's columns. Values go to PostgreSQL as JSON, so they
must be what the column stores: aware datetimes, UUIDs, str enums, JSON-able dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session

Rows = Sequence[Mapping[str, Any]]
Fields = Mapping[str, ColumnElement[Any]]


def _table(model: type[DeclarativeBase]) -> Table:
    return cast(Table, model.__table__)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _records(session: Session, table: Table, rows: Rows) -> Fields:
    """The rows as a PostgreSQL set of ``table``'s row type, by column name."""
    row_type = session.get_bind().dialect.identifier_preparer.format_table(table)
    document = orjson.dumps(list(rows), default=str).decode()
    source = (
        func.json_populate_recordset(
            literal_column(f"NULL::{row_type}"),
            sql_cast(bindparam("rows", document, type_=Text), postgresql.JSON),
        )
        .table_valued(*rows[0])
        .alias("rows")
    )
    return {name: source.c[name] for name in rows[0]}


def insert_rows(
    session: Session,
    model: type[DeclarativeBase],
    rows: Rows,
    *,
    same: Mapping[str, Any] | None = None,
    skip_conflicts_on: Sequence[str] = (),
    returning: InstrumentedAttribute[Any] | None = None,
) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys), each with the values in ``same`` too.

    A primary key left out is made as the model's default would (``gen_random_uuid()`` on
    PostgreSQL). With ``skip_conflicts_on``, a row that would break that unique constraint is
    not inserted; with ``returning``, that column of each row inserted is returned.
    """
    if not rows:
        return []
    table = _table(model)
    same = same or {}
    if _postgres(session):
        columns = dict(_records(session, table, rows))
        columns.update(
            {name: bindparam(None, value, type_=table.c[name].type) for name, value in same.items()}
        )
        (primary,) = table.primary_key.columns
        if primary.name not in columns:
            columns[primary.name] = func.gen_random_uuid()
        stmt: Any = postgresql.insert(table).from_select(list(columns), select(*columns.values()))
        params: Any = None
    else:
        stmt, params = sqlite.insert(table), [{**row, **same} for row in rows]
    if skip_conflicts_on:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    if returning is None:
        session.execute(stmt, params)
        return []
    return list(session.execute(stmt.returning(returning), params).scalars())


def update_rows(
    session: Session,
    model: type[DeclarativeBase],
    rows: Rows,
    values: Callable[[Fields], Mapping[str, Any]],
) -> None:
    """Update the row of ``model`` with each row's primary key, setting what ``values``
    makes of the row's fields.

    ``values`` gets column expressions, so it can say more than "set to": for instance
    ``coalesce(fields["last"], Model.last)`` keeps the value a row leaves as None.
    """
    if not rows:
        return
    table = _table(model)
    (primary,) = table.primary_key.columns
    if _postgres(session):
        fields = _records(session, table, rows)
        session.execute(
            update(table).where(primary == fields[primary.name]).values(**values(fields))
        )
        return
    # Named apart from the columns: a bind named for a column it sets is refused.
    fields = {name: bindparam(f"row_{name}", type_=table.c[name].type) for name in rows[0]}
    session.execute(
        update(table).where(primary == fields[primary.name]).values(**values(fields)),
        [{f"row_{name}": value for name, value in row.items()} for row in rows],
    )
