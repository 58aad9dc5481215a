"""Filters the list endpoints share: a tag among a row's tags, and a phrase in its text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Text, exists, func, or_, select, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def has_tag(session: Session, column: Any, tag: str) -> ColumnElement[bool]:
    """Rows whose ``column`` (a tags list: TEXT[] on PostgreSQL, JSON on SQLite) holds ``tag``."""
    if session.get_bind().dialect.name == "postgresql":
        # TEXT[] containment, served by the GIN index.
        return type_coerce(column, postgresql.ARRAY(Text())).contains([tag])
    each = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def contains_text(phrase: str, *columns: Any) -> ColumnElement[bool]:
    """Rows where any of ``columns`` holds ``phrase``, case-insensitively and literally (``%``
    and ``_`` in the phrase are themselves, not wildcards)."""
    escaped = phrase.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))
