"""The workbook every Excel export starts from, its cell styles, and safe ways to write text.

Excel's limits live here (rows per sheet, characters per cell, sheet names) so that the data,
report and chart sheets all apply them the same way. Everything is written with XlsxWriter
in ``constant_memory`` mode: rows go to a temporary file as they are written, so a sheet of
a million rows costs no memory, and the file's ZIP is written to the export stream on close.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

import xlsxwriter  # type: ignore[import-untyped, unused-ignore]

from broadsheet.exports.excel import numbers

# Rows per sheet, header included. Tests lower it to see the data continue on "Data (2)".
MAX_SHEET_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_CELL_CHARS = 32_767
TRUNCATION_MARKER = "… [truncated]"
MAX_SHEET_NAME = 31
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
TIME_FORMAT = "hh:mm:ss"

_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")
_EDGES = re.compile(r"^['\s]+|['\s]+$")
# Excel keeps this name for its own change-history sheet and refuses it for any other.
_RESERVED_SHEET_NAMES = frozenset({"history"})


def new_workbook(out: BinaryIO, tmpdir: Path | None = None) -> Any:
    """A workbook that writes ``out`` when closed, keeping its temporary files in ``tmpdir``
    (else the system's temp folder).

    Text never turns into anything else: these options make even ``write()`` keep a string
    that looks like a formula, a number or a URL as the string it is (we call
    ``write_string`` anyway). ZIP64 is allowed so a sheet over 4 GB of XML still closes.
    """
    return xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "use_zip64": True,
            "tmpdir": str(tmpdir) if tmpdir else None,
        },
    )


@dataclass(frozen=True)
class Styles:
    """The few cell formats the workbook uses, created once per workbook."""

    header: Any
    title: Any
    date: Any
    datetime: Any
    time: Any

    @classmethod
    def of(cls, book: Any) -> Styles:
        return cls(
            header=book.add_format({"bold": True}),
            title=book.add_format({"bold": True, "font_size": 14}),
            date=book.add_format({"num_format": DATE_FORMAT}),
            datetime=book.add_format({"num_format": DATETIME_FORMAT}),
            time=book.add_format({"num_format": TIME_FORMAT}),
        )


def sheet_name(wanted: str, taken: set[str]) -> str:
    """``wanted`` as a name Excel accepts, not yet in ``taken`` (which it is added to).

    Excel refuses names over 31 characters, with any of ``[]:*?/\\``, starting or ending
    with an apostrophe, blank, or equal to "History"; it compares names case-insensitively.
    A clash gets " (2)", " (3)"… with the stem shortened so the suffix still fits.
    """
    cleaned = _trimmed(_INVALID_SHEET_CHARS.sub("_", wanted))
    if not cleaned or cleaned.lower() in _RESERVED_SHEET_NAMES:
        cleaned = f"{cleaned or 'Sheet'}_"
    lowered = {name.lower() for name in taken}
    candidate = _trimmed(utf16_prefix(cleaned, MAX_SHEET_NAME))
    number = 1
    while candidate.lower() in lowered:
        number += 1
        suffix = f" ({number})"
        candidate = _trimmed(utf16_prefix(cleaned, MAX_SHEET_NAME - len(suffix))) + suffix
    taken.add(candidate)
    return candidate


def _trimmed(name: str) -> str:
    """Without apostrophes or spaces at either end."""
    return _EDGES.sub("", name)


def clip(text: str) -> str:
    """``text`` cut to Excel's 32,767 characters per cell, ending with the marker if cut.

    Excel counts UTF-16 units (an emoji is two), so that is what is counted here too.
    """
    if len(text) <= MAX_CELL_CHARS // 2 or utf16_len(text) <= MAX_CELL_CHARS:
        return text
    return utf16_prefix(text, MAX_CELL_CHARS - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_prefix(text: str, units: int) -> str:
    """The longest start of ``text`` of at most ``units`` UTF-16 units; never half an emoji."""
    return text.encode("utf-16-le", "surrogatepass")[: 2 * units].decode("utf-16-le", "ignore")


def write_text(sheet: Any, row: int, col: int, text: str, style: Any = None) -> None:
    """Write ``text`` as a text cell, exactly (but clipped to Excel's limit).

    ``write_string`` never makes a formula, but XlsxWriter writes a string that starts with
    ``<r>`` and ends with ``</r>`` as raw rich-text XML (that is how it stores its own rich
    strings), which would break the file or inject markup. Such a string is written as a
    rich string of three plain runs instead: XlsxWriter escapes each, and Excel shows the
    runs joined, i.e. the original text.
    """
    text = clip(text)
    if text.startswith("<r>") and text.endswith("</r>"):
        runs = (text[:1], text[1:2], text[2:])
        if style is None:
            sheet.write_rich_string(row, col, *runs)
        else:
            sheet.write_rich_string(row, col, *runs, style)
        return
    sheet.write_string(row, col, text, style)


def write_value(sheet: Any, row: int, col: int, value: Any, styles: Styles) -> None:
    """One Python value as the typed cell it is: numbers, booleans, dates and times as such,
    everything else as text (lists and dicts as their ``str``). ``None`` leaves the cell
    empty. Numbers, dates and times are written as the data sheets write them (``numbers``):
    doubles exactly, dates as the same serial numbers, and as the same text where a cell
    cannot hold them (non-finite floats, integers a double cannot hold, dates before 1900)."""
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int | float) and _is_excel_number(value):
        sheet.write_number(row, col, Exact(value))
    elif isinstance(value, date | time) and getattr(value, "tzinfo", None) is None:
        serial = numbers.serial(value)
        if isinstance(serial, str):
            write_text(sheet, row, col, serial)
            return
        style = (
            styles.datetime
            if isinstance(value, datetime)
            else styles.date
            if isinstance(value, date)
            else styles.time
        )
        sheet.write_number(row, col, Exact(serial), style)
    elif isinstance(value, date | datetime | time):
        write_text(sheet, row, col, value.isoformat())
    else:
        write_text(sheet, row, col, _as_text(value))


class Exact(float):
    """A double that XlsxWriter writes in its shortest round-trip form, as the data sheets
    do (``numbers.number_text``). XlsxWriter spells a number cell ``f"{number:.16G}"``,
    which rounds the seventeenth digit away (``1.7976931348623157e308`` became
    ``1.797693134862316E+308``, past the largest double); formatting this float gives its
    exact text whatever the format. ``tests/exports/test_excel_exact.py`` reads the cells
    back with LibreOffice, so an XlsxWriter that spells numbers another way fails there."""

    text: str

    def __new__(cls, value: float) -> Exact:
        number = super().__new__(cls, value)
        number.text = numbers.number_text(float(value))
        return number

    def __format__(self, spec: str) -> str:
        return self.text


def _is_excel_number(value: int | float) -> bool:
    """Whether a double holds ``value`` exactly (an int past 2**53 may not) and it is finite."""
    if isinstance(value, int):
        try:
            return float(value) == value
        except OverflowError:
            return False
    return value == value and value not in (float("inf"), float("-inf"))


def _as_text(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return str(value)
