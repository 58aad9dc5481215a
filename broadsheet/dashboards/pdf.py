"""One PDF of a whole dashboard, set by Typst (``exports/pdf/dashboard.typ``) in the look of
the report PDF, whose pieces it shares: fonts, number and time display, tables, charts.

What it holds, in this order: the dashboard's name and description, when the PDF was made and
how old its data is (in the dashboard's time zone), the filters' labels and values, then every
widget in grid order (top to bottom, then left to right) under its title:

* a chart as vector graphics (vl-convert's SVG, drawn out of process), or "Not drawn: why";
* a table of the result's rows read from its stored file, up to the report PDF's row cap (the
  report's ``pdfMaxRows``, else 1,000), with "First N of M rows" when that is not all; the
  tables of one PDF share the report PDF's cell and text bounds, so fifty tables cannot take
  the typesetter past its memory;
* a metric's value, and its change from the previous result;
* a text widget's Markdown as plain headings, paragraphs and lists (``pdf_text``).

A widget without data to show — pending, refreshing without an earlier result, failed or
unavailable — is printed as such, with its error, in its place: never left out.

As in the report PDF, every name, value and text goes to Typst as data in one JSON document and
is placed as text, never read as markup.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard
from zoneinfo import ZoneInfo

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.charts.render import RenderError, to_svg
from broadsheet.dashboards.pdf_text import blocks
from broadsheet.dashboards.schemas import (
    DashboardDocument,
    WidgetStatus,
    WidgetType,
    WidgetWithData,
)
from broadsheet.db import done_with_database
from broadsheet.exports import filenames
from broadsheet.exports.base import (
    DEFAULT_PDF_MAX_ROWS,
    MAX_PDF_MAX_ROWS,
    ParquetSource,
    RowSource,
    TableSource,
    report_zone,
)
from broadsheet.exports.pdf import (
    LANDSCAPE_WIDTH_PT,
    MAX_CELL_CHARS,
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_TABLE_CHARS,
    PORTRAIT_WIDTH_PT,
    Bounds,
    TableBlock,
    Text,
    chart_width,
    clean_text,
    generated_text,
    parameter_text,
    table_block,
    template_text,
    typeset_in_child,
    value_text,
)
from broadsheet.exports.service import report_as_run
from broadsheet.kit import display, fonts
from broadsheet.kit.gc import release_memory
from broadsheet.kit.time import utc_now
from broadsheet.models.jobs import JobTrigger
from broadsheet.reports.schemas import MAIN_DATASET

if TYPE_CHECKING:
    from broadsheet.jobs.executors import Executor
    from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)

TEMPLATE = "dashboard.typ"
WAIT_SECONDS = 60.0  # how long the export waits for the widgets' jobs
EXTENSION = "pdf"
MEDIA_TYPE = "application/pdf"
# A chart is at most this tall, in points: under half a portrait page's text height, so a
# dashboard reads as a report of several charts to a page, not one a page; two thirds of a
# landscape one's, where a share of the height would shrink its labels past reading.
CHART_MAX_HEIGHT_PT = 340.0
METRIC_DECIMALS = 4
# What a metric's number is, by its aggregate.
AGGREGATES = {
    "first": "{column}, first row",
    "sum": "sum of {column}",
    "avg": "average of {column}",
    "min": "minimum of {column}",
    "max": "maximum of {column}",
    "count": "count of {column}",
}
FULL_DATA = "The full data is in the report's CSV or Excel export."

# What a widget without data to show says, by status.
NO_DATA: dict[str, tuple[str, str]] = {
    WidgetStatus.pending: ("Pending", "no result yet; a job to make one is queued or running."),
    WidgetStatus.refreshing: ("Refreshing", "no earlier result to show; a job is running."),
    WidgetStatus.failed: ("Failed", "no reason was given."),
    WidgetStatus.unavailable: ("Unavailable", "the report was deleted or is not visible."),
}


@dataclass(frozen=True)
class TableRows:
    """A table widget's rows as the PDF reads them: the result's stored file, and the report
    PDF's row cap for its report."""

    source: RowSource
    cap: int = DEFAULT_PDF_MAX_ROWS


@dataclass(frozen=True)
class DashboardPdf:
    content: bytes
    filename: str  # ASCII, as an attachment is named
    content_disposition: str  # with the name in its own script too, as exports have it


def export_pdf(
    session: Session,
    runtime: Runtime,
    executor: Executor | None,
    row: models.Dashboard,
    raw_filters: Mapping[str, str],
    *,
    locked: Mapping[str, Any] | None = None,
    requested_by: uuid.UUID | None = None,
    trigger: JobTrigger = JobTrigger.dashboard,
    reference: datetime | None = None,
) -> DashboardPdf:
    """The dashboard's PDF, its file name and the ``Content-Disposition`` an answer needs,
    its widgets' jobs waited for up to 60 s (the session is committed: see
    ``DashboardData.document``)."""
    # Imported here: the data service reaches the schedules, whose deliveries attach this PDF.
    from broadsheet.dashboards.data import DashboardData

    document = DashboardData(session, runtime, executor).document(
        row,
        raw_filters,
        locked=locked,
        wait=WAIT_SECONDS,
        requested_by=requested_by,
        trigger=trigger,
        reference=reference,
    )
    return render_document(session, runtime, row.tenant_id, document)


def render_document(
    session: Session, runtime: Runtime, tenant_id: uuid.UUID, document: DashboardDocument
) -> DashboardPdf:
    """The PDF of a dashboard read already. The tables' stored rows are found first; then the
    connection goes back to the pool before the charts are drawn and Typst runs, which can
    take seconds."""
    tables = stored_tables(session, runtime, tenant_id, document)
    done_with_database(session)
    made_at = utc_now()
    try:
        content = render(document, tables, made_at)
    finally:
        release_memory()  # the tables' rows and Typst's answer would keep the process large
    return DashboardPdf(
        content=content,
        filename=filename(document.name, made_at, document.timezone),
        content_disposition=content_disposition(document.name, made_at, document.timezone),
    )


def filename(name: str, made_at: datetime, timezone: str) -> str:
    """``<dashboard-slug>_<YYYY-MM-DD>.pdf``, the day in the dashboard's zone, ASCII only
    (``dashboard`` for a name without ASCII words), by the report exports' rules."""
    plain, _ = filenames.stem(name, made_at, timezone, stamp=filenames.DAY, fallback="dashboard")
    return f"{plain}.{EXTENSION}"


def content_disposition(name: str, made_at: datetime, timezone: str) -> str:
    """The attachment header for :func:`filename`, with the name in its own script in
    ``filename*`` when it has one, as report exports do."""
    return filenames.content_disposition(
        name, made_at, timezone, EXTENSION, stamp=filenames.DAY, fallback="dashboard"
    )


def stored_tables(
    session: Session, runtime: Runtime, tenant_id: uuid.UUID, document: DashboardDocument
) -> dict[str, TableRows]:
    """The stored rows of each table widget that has a result, by widget id, with its
    report's PDF row cap. A result whose file is gone is left out: its widget then prints the
    first page its data carries."""
    wanted: dict[uuid.UUID, list[str]] = {}
    for widget in document.widgets:
        result_id = widget.data.get("resultId")
        if widget.type is WidgetType.report and result_id and _has_data(widget):
            wanted.setdefault(uuid.UUID(str(result_id)), []).append(widget.id)
    if not wanted:
        return {}
    results = session.scalars(
        select(models.ReportResult).where(
            models.ReportResult.tenant_id == tenant_id, models.ReportResult.id.in_(wanted)
        )
    )
    tables: dict[str, TableRows] = {}
    for result in results:
        dataset = (result.data or {}).get("mainDataset") or MAIN_DATASET
        path = runtime.storage.local_path(f"{result.storage_key}{dataset}.parquet")
        try:
            source = ParquetSource(path)
        except (OSError, pa.ArrowInvalid) as exc:  # expired and swept meanwhile
            log.warning("dashboard PDF: result %s unreadable: %s", result.id, exc)
            continue
        cap = report_as_run(session, result).get("pdfMaxRows") or DEFAULT_PDF_MAX_ROWS
        for widget_id in wanted[result.id]:
            tables[widget_id] = TableRows(source, min(int(cap), MAX_PDF_MAX_ROWS))
    return tables


# The document ------------------------------------------------------------------------------


def render(
    document: DashboardDocument, tables: Mapping[str, TableRows], made_at: datetime
) -> bytes:
    """The PDF of ``document``; each table widget's rows from ``tables`` (by widget id) or,
    for one not there, the first page its data carries."""
    return typeset_in_child(template_document(document, tables, made_at), made_at, TEMPLATE)


def template_document(
    document: DashboardDocument, tables: Mapping[str, TableRows], made_at: datetime
) -> dict[str, Any]:
    """What ``dashboard.typ`` sets, as one JSON-ready document."""
    zone = report_zone(document.timezone)
    generated = generated_text(made_at, zone)
    ordered = sorted(document.widgets, key=lambda w: (w.position["y"], w.position["x"]))
    budget = _Budget()
    # Tables first: the widest decides the page's orientation, which the charts are sized to.
    laid = {
        w.id: _table(w, tables.get(w.id), zone, budget)
        for w in ordered
        if w.type is WidgetType.report and _has_data(w)
    }
    landscape = any(t["landscape"] for t in laid.values())
    page_width = LANDSCAPE_WIDTH_PT if landscape else PORTRAIT_WIDTH_PT
    widgets = [_widget(w, laid.get(w.id), zone, page_width) for w in ordered]
    facts: list[list[Text]] = [["Generated", generated]]
    if any(_has_data(w) and w.data.get("generatedAt") for w in ordered):
        facts.append(["Data as of", generated_text(document.last_updated, zone)])
    return {
        "fonts": list(fonts.FALLBACK),
        "title": template_text(clean_text(document.name)),
        "title-plain": document.name,
        "description": _optional(document.description),
        "facts": facts,
        "filters": _filters(document),
        "widgets": widgets,
        "landscape": landscape,
        "footer": template_text(clean_text(f"{document.name} · generated {generated}")),
    }


def _has_data(widget: WidgetWithData) -> bool:
    """Whether the widget shows data: ready, or refreshing with an earlier result."""
    status = widget.data.get("status")
    if widget.type is WidgetType.text:
        return status != WidgetStatus.failed
    if status == WidgetStatus.ready:
        return True
    return status == WidgetStatus.refreshing and widget.data.get("resultId") is not None


def _filters(document: DashboardDocument) -> list[list[Text]]:
    """Each filter's label and the value used (an option's label beside its value)."""
    shown: list[list[Text]] = []
    named = {f.name for f in document.parameters}
    for definition in document.parameters:
        value = document.filters.get(definition.name)
        text = "not set" if value is None or value == "" else parameter_text(value)
        labels = {o.get("value"): o.get("label") for o in definition.options or []}
        label = labels.get(str(value)) if value is not None else None
        if label and label != text:
            text = f"{clean_text(label)} ({text})"
        shown.append([template_text(clean_text(definition.label)), template_text(text)])
    for name, value in document.filters.items():  # a value of no definition: by its name
        if name not in named:
            shown.append([template_text(clean_text(name)), template_text(parameter_text(value))])
    return shown


def _widget(
    widget: WidgetWithData,
    table: dict[str, Any] | None,
    zone: ZoneInfo,
    page_width: float,
) -> dict[str, Any]:
    data = widget.data
    made: dict[str, Any] = {
        "kind": widget.type.value,
        "title": _optional(widget.title) or (None if widget.type is WidgetType.text else widget.id),
        "about": None,
        "status": None,
    }
    if not _has_data(widget):
        label, otherwise = NO_DATA.get(str(data.get("status")), NO_DATA[WidgetStatus.failed])
        error = data.get("error") or otherwise
        made["status"] = {"label": label, "message": template_text(clean_text(str(error)))}
        return made
    if widget.type is not WidgetType.text:  # text has no result, nor parameters
        made["about"] = _about(widget, zone)
    match widget.type:
        case WidgetType.visualization:
            made["chart"] = _chart(widget, page_width)
        case WidgetType.report:
            made["table"] = table
        case WidgetType.metric:
            made["metric"] = _metric(data)
        case WidgetType.text:
            made["blocks"] = blocks(str(widget.source.get("markdown") or ""))
    return made


def _about(widget: WidgetWithData, zone: ZoneInfo) -> Text | None:
    """The muted line under a widget's title: when its result was made (and that a newer one
    is being made), and the parameters it was made with."""
    data = widget.data
    parts: list[str] = []
    stamp = data.get("generatedAt")
    if stamp:
        at = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
        parts.append(f"Data of {generated_text(at, zone)}")
    if data.get("status") == WidgetStatus.refreshing:
        parts.append("a newer result is being made")
    parameters = data.get("parameters") or {}
    if isinstance(parameters, dict):
        parts.extend(f"{name}: {parameter_text(value)}" for name, value in parameters.items())
    return template_text(clean_text(" · ".join(parts))) if parts else None


def _chart(widget: WidgetWithData, page_width: float) -> dict[str, Any]:
    spec = widget.data.get("spec")
    if not isinstance(spec, dict):
        return {"error": template_text("Not drawn: the widget has no chart data.")}
    try:
        svg = to_svg(spec, list(widget.data.get("chartData") or []))
    except RenderError as exc:
        why = str(exc).removeprefix("the chart could not be drawn: ")
        return {"error": template_text(clean_text(f"Not drawn: {why}"))}
    width = chart_width(svg, page_width, CHART_MAX_HEIGHT_PT)
    return {"svg": svg, "width": width, "alt": clean_text(widget.title or widget.id)}


def _metric(data: Mapping[str, Any]) -> dict[str, Any]:
    value, previous, change = data.get("value"), data.get("previousValue"), data.get("change")
    numbers = [v for v in (value, previous, change) if _is_number(v)]
    places = display.decimals([float(v) for v in numbers], METRIC_DECIMALS)
    how = AGGREGATES.get(str(data.get("aggregate") or "first"), AGGREGATES["first"])
    what = how.format(column=data.get("column") or "the column")
    if previous is None or change is None:
        versus = "No earlier result to compare with."
    else:
        versus = (
            f"Previous {_number(previous, places)} · change {_number(change, places, sign=True)}"
        )
        percent = data.get("changePercent")
        if _is_number(percent):
            versus += f" ({'+' if percent > 0 else ''}{display.float_text(float(percent), 1)} %)"
    return {
        "value": template_text(_number(value, places) if value is not None else "No value"),
        "what": template_text(clean_text(what)),
        "change": template_text(clean_text(versus)),
    }


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any, places: int, *, sign: bool = False) -> str:
    """A metric's number as the report PDF prints numbers (thousands separators, the same
    decimals for value, previous value and change); anything else as text."""
    if not _is_number(value):
        return value_text(value)
    shown = f"{value:,}" if isinstance(value, int) else display.float_text(float(value), places)
    return f"+{shown}" if sign and value > 0 else shown


# Tables ------------------------------------------------------------------------------------


class _Budget:
    """The report PDF's bounds on one table (cells, characters of text), shared by all the
    tables of a dashboard: Typst's memory grows with what it sets, whichever table it is in."""

    def __init__(self) -> None:
        self.cells = MAX_CELLS
        self.chars = MAX_TABLE_CHARS

    def spend(self, rows: int, columns: int, chars: int) -> None:
        self.cells = max(0, self.cells - rows * columns)
        self.chars = max(0, self.chars - chars)


def _table(
    widget: WidgetWithData, stored: TableRows | None, zone: ZoneInfo, budget: _Budget
) -> dict[str, Any]:
    """A table widget's rows, read within the report PDF's cap and what the budget has left."""
    data = widget.data
    columns_meta = [c for c in data.get("columns") or [] if isinstance(c, dict)]
    if stored is not None:
        source, cap = stored.source, stored.cap
    else:
        source, cap = _first_page(data), DEFAULT_PDF_MAX_ROWS
    total_rows = source.row_count if stored is not None else int(data.get("totalRows") or 0)
    total_columns = len(source.schema.names)
    columns = min(total_columns, MAX_COLUMNS)
    by_budget = budget.cells // max(columns, 1) < cap
    rows = min(cap, budget.cells // max(columns, 1))
    bounds = Bounds(rows, columns, total_columns, by_cells=by_budget)
    # Text is cut in Arrow well past MAX_CELL_CHARS, as the report PDF does.
    head = source.head(rows, text_chars=4 * MAX_CELL_CHARS)
    if head.num_rows > rows:
        head = head.slice(0, rows)
    if head.num_columns > columns:
        head = head.select(range(columns))
    block = table_block(columns_meta, head, bounds, zone, text_budget=budget.chars)
    budget.spend(block.shown, columns, block.chars)
    return {
        "note": template_text(_table_note(block, max(total_rows, block.shown), zone)),
        "groups": block.groups,
        "landscape": block.layouts[0].landscape,
    }


def _table_note(block: TableBlock, total: int, zone: ZoneInfo) -> str:
    shown, bounds = block.shown, block.bounds
    if total == 0:
        return "The result has no rows."
    if shown < total:
        note = f"First {shown:,} of {total:,} rows"
        if bounds.text_chars is not None or (bounds.by_cells and shown == bounds.rows):
            note += (
                f" (the tables of one PDF hold at most {MAX_CELLS:,} cells and "
                f"{MAX_TABLE_CHARS:,} characters of text together)"
            )
        note += f". {FULL_DATA}"
    else:
        note = f"All {total:,} rows." if total > 1 else "1 row."
    if bounds.columns < bounds.total_columns:
        note += f" Columns 1\u2013{bounds.columns:,} of {bounds.total_columns:,} shown."
    return f"{note} Times are in {zone.key}." if block.has_times and shown else note


def _first_page(data: Mapping[str, Any]) -> RowSource:
    """The rows a table widget's data carries (its first page), for a result whose file
    cannot be read; values as JSON has them."""
    names = [str(c.get("name")) for c in data.get("columns") or [] if isinstance(c, dict)]
    rows = [r for r in data.get("rows") or [] if isinstance(r, dict)]
    try:
        table = (
            pa.Table.from_pylist(rows)
            if rows
            else pa.table({n: pa.array([], pa.string()) for n in names})
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        table = pa.Table.from_pylist([{k: value_text(v) for k, v in r.items()} for r in rows])
    return TableSource(table)


def _optional(value: str | None) -> Text | None:
    return template_text(clean_text(value)) if value else None


__all__ = [
    "DashboardPdf",
    "TableRows",
    "content_disposition",
    "export_pdf",
    "filename",
    "render",
    "render_document",
    "stored_tables",
    "template_document",
]
