"""The report builder's preview: a draft's query run the way a report's run is, its first
rows kept.

The query goes through ``broadsheet.datasources.query.stream``, the function every report
run uses: checked read-only first, in a read-only transaction, stopped at the source's
statement timeout (at most ``TIMEOUT_SECONDS`` here) and row limit, its parameters bound,
never formatted in. Values are the draft's preview values, else its defaults, resolved as a
run resolves them. Reading stops once ``ROWS`` rows are in (the stream is closed, which
ends the statement), so a large result costs a batch, not a whole run.

A preview is kept a few minutes for the same tenant, source, SQL and values, so the charts
redrawn as their fields change do not run the query each time; a miss just runs it again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy.orm import Session

from broadsheet.auth.principal import Principal
from broadsheet.charts.base import is_numeric, is_temporal
from broadsheet.config import Settings
from broadsheet.datasources import connector, query
from broadsheet.datasources.service import DataSourceService
from broadsheet.db import done_with_database
from broadsheet.errors import NotFound
from broadsheet.kit.time import utc_now
from broadsheet.reports import parameters
from broadsheet.web.builder_draft import Draft

ROWS = 100
TIMEOUT_SECONDS = 30
MAX_CELL = 200  # characters of a value shown in the preview's table
KEEP_SECONDS = 300
KEEP_PREVIEWS = 64


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # number, date, boolean, text or other


@dataclass(frozen=True)
class Preview:
    """The first rows of a query, or why there are none (``error``)."""

    columns: tuple[Column, ...] = ()
    rows: tuple[tuple[str | None, ...], ...] = ()
    more: bool = False  # the query returned more than ``ROWS`` rows
    table: pa.Table | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.table is not None


def failed(message: str) -> Preview:
    return Preview(error=message)


def run(
    session: Session,
    settings: Settings,
    caller: Principal,
    draft: Draft,
    timezone: str,
    *,
    fresh: bool,
) -> Preview | None:
    """The draft's preview (None when there is nothing to run yet); a kept one unless
    ``fresh``. Never raises for anything the draft holds: errors are the preview's."""
    if not draft.query.strip() or not draft.source_id:
        return None
    missing = draft.missing()
    if missing:
        names = ", ".join(f":{n}" for n in missing)
        return failed(f"The SQL uses {names}, which is not declared: add it as a parameter.")
    try:
        values = parameters.resolve(
            [p.declared() for p in draft.parameters if p.name],
            {p.name: p.preview for p in draft.parameters if p.name and p.preview.strip()},
            reference=utc_now(),
            tz=ZoneInfo(timezone),
        )
    except parameters.ParameterErrors as exc:
        listed = "; ".join(f"{p.name}: {p.message}" for p in exc.problems)
        return failed(
            f"The preview needs other parameter values (a preview value or a default): {listed}."
        )
    key = _key(caller.tenant_id, draft, values)
    if not fresh:
        kept = _kept.get(key)
        if kept is not None:
            return kept
    preview = _query(session, settings, caller, draft, values)
    if preview.ok:
        _kept.put(key, preview)
    return preview


def _query(
    session: Session, settings: Settings, caller: Principal, draft: Draft, values: dict[str, Any]
) -> Preview:
    sources = DataSourceService(session, settings)
    try:
        source = sources.get(caller.tenant_id, uuid.UUID(draft.source_id))
        engine = sources.engine(source)
    except (ValueError, NotFound):
        return failed("Choose a data source.")
    except connector.UnsupportedSource as exc:
        return failed(f"The data source cannot be used: {exc}")
    limits = query.Limits(min(source.statement_timeout_seconds, TIMEOUT_SECONDS), source.row_limit)
    done_with_database(session)  # the source may take its time: no metadata connection held
    batches: list[pa.RecordBatch] = []
    try:
        # closing() ends the statement (and its connection) when rows are left unread.
        read = cast(Generator[pa.RecordBatch], query.stream(engine, draft.query, values, limits))
        with closing(read) as stream:
            for batch in stream:
                batches.append(batch)
                if sum(b.num_rows for b in batches) > ROWS:
                    break
    except query.QueryFailed as exc:
        return failed(str(exc))
    finally:
        engine.dispose()
    if not batches:
        return failed("The query returned no result.")
    whole = pa.Table.from_batches(batches)
    table = whole.slice(0, ROWS)
    columns = tuple(Column(f.name, kind(f.type)) for f in table.schema)
    cells = [[_cell(v) for v in table.column(i).to_pylist()] for i in range(table.num_columns)]
    rows = tuple(zip(*cells, strict=True)) if cells else ()
    return Preview(columns, rows, whole.num_rows > ROWS, table)


def kind(arrow_type: pa.DataType) -> str:
    if is_numeric(arrow_type):
        return "number"
    if is_temporal(arrow_type):
        return "date"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    return "other"


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, bytes):
        text = f"({len(value)} bytes)"
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _key(tenant_id: uuid.UUID, draft: Draft, values: dict[str, Any]) -> str:
    named = json.dumps(parameters.normalized(values), sort_keys=True, default=str)
    return json.dumps([str(tenant_id), draft.source_id, draft.query, named])


class _Kept:
    """Recent previews, newest last, each for ``KEEP_SECONDS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, Preview]] = OrderedDict()

    def get(self, key: str) -> Preview | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: str, preview: Preview) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + KEEP_SECONDS, preview)
            self._items.move_to_end(key)
            while len(self._items) > KEEP_PREVIEWS:
                self._items.popitem(last=False)


_kept = _Kept()
