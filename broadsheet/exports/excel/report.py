"""The "Report" sheet: what the data is — the report, the parameters it ran with, when, how
many rows — and the per-column summary, so a workbook passed around still says where its
numbers came from. Written after the data, so it can also say what Excel forced us to change.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from broadsheet.exports.base import ExportContext, in_zone, report_zone
from broadsheet.exports.excel import book as excel_book
from broadsheet.exports.excel.book import Styles, write_text, write_value
from broadsheet.exports.excel.data import DataSheets

REPORT_SHEET = "Report"
SUMMARY_HEADERS = ("Column", "Count", "Nulls", "Min", "Max", "Sum", "Mean")
_STATS = ("count", "nulls", "min", "max", "sum", "mean")


def write_report(
    book: Any, styles: Styles, ctx: ExportContext, data: DataSheets, taken: set[str]
) -> str:
    """Add the Report sheet; returns its name."""
    name = excel_book.sheet_name(REPORT_SHEET, taken)
    sheet = book.add_worksheet(name)
    sheet.set_column(0, 0, 36)
    sheet.set_column(1, len(SUMMARY_HEADERS) - 1, 20)
    write_text(sheet, 0, 0, ctx.report_name, styles.title)
    row = _facts(sheet, 2, styles, ctx, data)
    row = _parameters(sheet, row + 1, styles, ctx)
    row = _summary(sheet, row + 1, styles, ctx)
    _notes(sheet, row + 1, styles, ctx, data)
    return name


def _facts(sheet: Any, row: int, styles: Styles, ctx: ExportContext, data: DataSheets) -> int:
    zone = report_zone(ctx.timezone)
    facts: list[tuple[str, Any]] = [
        ("Report", ctx.report_name),
        ("Description", ctx.report.get("description") or ""),
        ("Category", ctx.report.get("category")),
        ("Report version", ctx.report.get("version")),
        ("Result ID", ctx.result_id),
        (f"Generated at ({ctx.timezone})", in_zone(ctx.generated_at, zone).replace(tzinfo=None)),
        ("Time zone", ctx.timezone),
        ("Rows", ctx.row_count),
        ("Data sheets", ", ".join(data.names)),
    ]
    for label, value in facts:
        if value is None:
            continue
        write_text(sheet, row, 0, label, styles.header)
        write_value(sheet, row, 1, value, styles)
        row += 1
    return row


def _parameters(sheet: Any, row: int, styles: Styles, ctx: ExportContext) -> int:
    write_text(sheet, row, 0, "Parameters", styles.title)
    row += 1
    if not ctx.parameters:
        write_text(sheet, row, 0, "(none)")
        return row + 1
    for name, value in ctx.parameters.items():
        write_text(sheet, row, 0, str(name), styles.header)
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False, default=str)
        write_value(sheet, row, 1, value, styles)
        row += 1
    return row


def _summary(sheet: Any, row: int, styles: Styles, ctx: ExportContext) -> int:
    write_text(sheet, row, 0, "Summary", styles.title)
    row += 1
    if not ctx.summary:
        write_text(sheet, row, 0, "(none)")
        return row + 1
    for col, heading in enumerate(SUMMARY_HEADERS):
        write_text(sheet, row, col, heading, styles.header)
    row += 1
    types = {column["name"]: column.get("type", "") for column in ctx.columns}
    ordered = [c["name"] for c in ctx.columns if c["name"] in ctx.summary]
    ordered += [name for name in ctx.summary if name not in types]
    zone = report_zone(ctx.timezone)
    for name in dict.fromkeys(ordered):
        stats = ctx.summary.get(name) or {}
        write_text(sheet, row, 0, name)
        for col, stat in enumerate(_STATS, start=1):
            value = stats.get(stat)
            if stat in ("min", "max"):
                value = _temporal(value, types.get(name, ""), zone)
            write_value(sheet, row, col, value, styles)
        row += 1
    return row


def _temporal(value: Any, type_name: str, zone: ZoneInfo) -> Any:
    """A summary's ISO date or timestamp as a date cell; an aware one in the report's zone
    like the data sheet shows it."""
    if not isinstance(value, str) or type_name not in ("date", "timestamp"):
        return value
    try:
        if type_name == "date":
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return in_zone(moment, zone).replace(tzinfo=None)


def _notes(sheet: Any, row: int, styles: Styles, ctx: ExportContext, data: DataSheets) -> None:
    notes = [
        f"Times are shown in {ctx.timezone}: Excel has no time zones, so a timestamp with a "
        "zone is written as the local time there, and its column header names the zone.",
    ]
    changes = data.changes
    if changes.truncated:
        notes.append(
            f"{changes.truncated} text cell(s) were longer than Excel's "
            f"{excel_book.MAX_CELL_CHARS:,} characters: they were cut and end with "
            f"“{excel_book.TRUNCATION_MARKER}”."
        )
    if changes.as_text:
        notes.append(
            f"{changes.as_text} value(s) were written as text because an Excel cell cannot "
            "hold them exactly: numbers a double cannot represent (they keep all their "
            "digits), dates outside 1900 to 9999, NaN and infinities."
        )
    if data.columns_left_out:
        notes.append(
            f"{data.columns_left_out} column(s) past Excel's {excel_book.MAX_COLUMNS:,} "
            "were left out; the CSV export has them."
        )
    write_text(sheet, row, 0, "Notes", styles.title)
    for offset, note in enumerate(notes, start=1):
        write_text(sheet, row + offset, 0, note)
