"""Which columns a visualization's ``dataMapping`` names, and whether the data has them.

The mapping is checked strictly, unknown keys included: a misspelt key ("serie") would otherwise
be ignored and the chart would quietly lose its colours. ``required_columns`` needs only the
definition, so a report is checked when it is saved; ``check_columns`` runs again once the
query's columns are known, because a query can change without its charts being edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TABLE = "table"
_MAX_LISTED_COLUMNS = 30


class MappingError(ValueError):
    """A visualization's mapping does not fit its type or its data; ``field`` says where, in the
    shape of the API's validation errors (``dataMapping.y``, ``options.aggregate``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class _Roles:
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> canonical key

    def allowed(self) -> str:
        keys = ", ".join((*self.required, *self.optional))
        if not self.aliases:
            return keys
        return f"{keys} (or {', '.join(self.aliases)} for {', '.join(self.aliases.values())})"


_ROLES: dict[str, _Roles] = {
    "bar": _Roles(("x", "y"), ("series",)),
    "line": _Roles(("x", "y"), ("series",)),
    "pie": _Roles(("category", "value"), aliases={"x": "category", "y": "value"}),
    "scatter": _Roles(("x", "y"), ("color", "size"), aliases={"series": "color"}),
    "heatmap": _Roles(("x", "y", "value")),
    "candlestick": _Roles(("x", "open", "high", "low", "close")),
}

VISUALIZATION_TYPES: frozenset[str] = frozenset({TABLE, *_ROLES})


@dataclass(frozen=True)
class MappedColumn:
    """One column a mapping names: ``key`` is the canonical role (``category`` even when the
    definition wrote the alias ``x``), ``field`` the path to report errors against."""

    key: str
    field: str
    column: str


def mapped_columns(viz_type: str, data_mapping: Any) -> list[MappedColumn]:
    """Every column the mapping names, in role order (a table: in the order listed), checked."""
    if not isinstance(viz_type, str) or viz_type not in VISUALIZATION_TYPES:
        raise MappingError(
            "type",
            f"unknown visualization type {viz_type!r}; types are: "
            + ", ".join(sorted(VISUALIZATION_TYPES)),
        )
    if not isinstance(data_mapping, dict):
        raise MappingError("dataMapping", "dataMapping must be an object of role: column name")
    if viz_type == TABLE:
        return _table_columns(data_mapping)
    return _chart_columns(viz_type, _ROLES[viz_type], data_mapping)


def _table_columns(data_mapping: dict[str, Any]) -> list[MappedColumn]:
    for key in data_mapping:
        if key != "columns":
            raise MappingError(
                f"dataMapping.{key}", f"unknown key {key!r} for a table; the only key is columns"
            )
    columns = data_mapping.get("columns")
    if columns is None:
        return []
    if not isinstance(columns, list):
        raise MappingError("dataMapping.columns", "columns must be a list of column names")
    if not columns:
        raise MappingError(
            "dataMapping.columns", "list at least one column, or leave columns out for all"
        )
    mapped = []
    for index, column in enumerate(columns):
        path = f"dataMapping.columns[{index}]"
        mapped.append(MappedColumn("columns", path, _column_name(column, path)))
    return mapped


def _chart_columns(
    viz_type: str, roles: _Roles, data_mapping: dict[str, Any]
) -> list[MappedColumn]:
    known = (*roles.required, *roles.optional)
    for key in data_mapping:
        if key not in known and key not in roles.aliases:
            raise MappingError(
                f"dataMapping.{key}",
                f"unknown key {key!r} for a {viz_type} chart; allowed keys are: {roles.allowed()}",
            )
    written: dict[str, str] = {}  # canonical key -> the key the definition used
    for key in data_mapping:
        canonical = roles.aliases.get(key, key)
        if canonical in written:
            raise MappingError(
                f"dataMapping.{key}",
                f"{key!r} and {written[canonical]!r} name the same role; keep one of them",
            )
        written[canonical] = key
    mapped = []
    for key in known:
        if key not in written:
            if key in roles.required:
                also = [a for a, c in roles.aliases.items() if c == key]
                alias = f" (or {also[0]})" if also else ""
                raise MappingError(
                    f"dataMapping.{key}",
                    f"a {viz_type} chart needs dataMapping.{key}{alias}: a column name",
                )
            continue
        path = f"dataMapping.{written[key]}"
        mapped.append(MappedColumn(key, path, _column_name(data_mapping[written[key]], path)))
    return mapped


def _column_name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(path, f"{path} must be a column name (a non-empty string)")
    return value


def required_columns(viz_type: str, data_mapping: dict[str, Any]) -> list[str]:
    """The column names the mapping uses, first use first, each once; ``[]`` for a table that
    lists no columns, meaning all of them. Raises ``MappingError`` for a mapping that does not
    fit the type."""
    return list(dict.fromkeys(m.column for m in mapped_columns(viz_type, data_mapping)))


def viz_columns(viz: dict[str, Any]) -> list[MappedColumn]:
    """``mapped_columns`` of a whole definition (a table may leave out its dataMapping)."""
    viz_type = viz.get("type")
    if not isinstance(viz_type, str):
        viz_type = repr(viz_type)
    data_mapping = viz.get("dataMapping")
    if data_mapping is None and viz_type == TABLE:
        data_mapping = {}
    elif data_mapping is None and viz_type in _ROLES:
        raise MappingError(
            "dataMapping",
            f"a {viz_type} chart needs a dataMapping with {', '.join(_ROLES[viz_type].required)}",
        )
    return mapped_columns(viz_type, data_mapping)


def check_columns(viz: dict[str, Any], available: list[str]) -> None:
    """Raise ``MappingError`` for the first mapped column the query's result does not have."""
    for mapped in viz_columns(viz):
        if mapped.column not in available:
            raise MappingError(
                mapped.field,
                f"no column {mapped.column!r} in the query's result; columns are: "
                + _listing(available),
            )


def _listing(columns: list[str]) -> str:
    if not columns:
        return "(none)"
    shown = ", ".join(columns[:_MAX_LISTED_COLUMNS])
    more = len(columns) - _MAX_LISTED_COLUMNS
    return f"{shown} and {more} more" if more > 0 else shown
