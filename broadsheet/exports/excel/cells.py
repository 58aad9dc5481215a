"""Arrow columns → the XML of Excel cells, a whole batch at a time, in Arrow compute kernels.

Writing cells one call at a time costs ~6 µs each in Python (38 s for 1,000,000 rows of six
columns), so the data sheets are encoded here instead: every kernel runs over a whole column,
and a batch becomes one buffer of ``<row>`` elements that ``rows`` appends to the sheet.
Python touches single values only in rare cases: text with control characters or over
Excel's limit, and types Arrow cannot cast to text.

What each Arrow type becomes, and why:

- text: an inline string (``t="inlineStr"``), so it is never a formula or a number, whatever
  it starts with (``=1+2``, ``+SUM(A1)``, ``-2+3``, ``@cmd``) and is not altered (no quote
  added). ``&<>`` are XML-escaped, CR as ``&#13;`` (a raw CR would be read back as LF),
  other control characters and U+FFFE/U+FFFF in Excel's ``_xHHHH_`` form (XML 1.0 cannot
  carry them) and a literal ``_xHHHH_`` as ``_x005F_xHHHH_`` so Excel does not decode it.
  Over Excel's 32,767 characters (UTF-16 units) it is cut to end with ``TRUNCATION_MARKER``.
- integers and decimals: numbers, when a double holds the value exactly; otherwise (a
  ``decimal(20,2)`` like 12345678901234567.89, an integer past 2**53 that is not a double)
  text with the exact digits, as the JSON API does, rather than a silently rounded number.
- floats: numbers in their shortest round-trip form; NaN and ±∞, which a cell cannot hold,
  as the texts ``NaN``, ``Infinity``, ``-Infinity``.
- dates, timestamps, times: Excel serial numbers with a display format. Timestamps with a
  zone are converted to the report's zone and written as that local time (Excel has no
  zones); naive ones are written as they are. Dates outside Excel's calendar (before
  1900-01-01, after 9999-12-31) as ISO text.

Numbers, serials and that text come from ``numbers``, which the Report and Chart data sheets
use too (``book.write_value``), so a value reads back the same on every sheet.
- booleans: booleans. Nulls: no cell at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from xlsxwriter.utility import xl_col_to_name  # type: ignore[import-untyped, unused-ignore]

from broadsheet.exports.base import column_in_zone, report_zone
from broadsheet.exports.excel import book as excel_book
from broadsheet.exports.excel.numbers import (
    day_fractions,
    number_texts,
    outside,
    serials,
    temporal_texts,
)
from broadsheet.exports.excel.text import LS, as_text, escaped

Kind = Literal["text", "integer", "number", "decimal", "boolean", "date", "timestamp", "time"]

_EDGE_SPACE = r"^\s|\s$"
# Integers a double holds exactly, whatever their digits, lie within ±2**53.
_EXACT_INT64 = pa.scalar(2**53, pa.int64())
_EXACT_INT64_LOW = pa.scalar(-(2**53), pa.int64())
_EXACT_UINT64 = pa.scalar(2**53, pa.uint64())


@dataclass(frozen=True)
class Column:
    """How one result column is written: its header text and kind of cell."""

    header: str
    kind: Kind
    zone: str | None = None  # set for timestamps with a zone: shown in this one


@dataclass
class Changes:
    """Values that could not be written as they were, counted for the Report sheet."""

    truncated: int = 0  # text cut to Excel's limit
    as_text: int = 0  # numbers, dates and times written as text (see the module docstring)


def plan(schema: pa.Schema, zone: str) -> list[Column]:
    """One ``Column`` per field, in order. Aware timestamps say their zone in the header."""
    columns = []
    for item in schema:
        kind = kind_of(item.type)
        shown_in = zone if kind == "timestamp" and _value_type(item.type).tz else None
        header = f"{item.name} ({zone})" if shown_in else item.name
        columns.append(Column(header=header, kind=kind, zone=shown_in))
    return columns


def kind_of(arrow_type: pa.DataType) -> Kind:
    kind = _value_type(arrow_type)
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "number"
    if pa.types.is_decimal(kind):
        return "decimal"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_time(kind):
        return "time"
    return "text"


def _value_type(arrow_type: pa.DataType) -> pa.DataType:
    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


@dataclass
class RowEncoder:
    """Encodes batches of one result into ``<row>`` elements. ``styles`` maps "date",
    "datetime" and "time" to the workbook's format indexes for those cells."""

    columns: list[Column]
    styles: dict[str, int]
    changes: Changes = field(default_factory=Changes)

    def encode(self, batch: pa.RecordBatch, first_row: int) -> pa.Array:
        """The rows of ``batch`` as XML strings, one per row, numbered from ``first_row``
        (Excel's 1-based row number)."""
        rows = pc.cast(pa.arange(first_row, first_row + batch.num_rows), LS)
        cells = [
            self._cells(column, batch.column(index), f'<c r="{xl_col_to_name(index)}', rows)
            for index, column in enumerate(self.columns)
        ]
        return pc.binary_join_element_wise(
            _lit('<row r="'), rows, _lit('">'), *cells, _lit("</row>"), _lit("")
        )

    def _cells(self, column: Column, values: pa.Array, start: str, rows: pa.Array) -> pa.Array:
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        encode = {
            "text": self._text,
            "boolean": self._boolean,
            "integer": self._integer,
            "decimal": self._decimal,
            "number": self._number,
            "date": self._date,
            "timestamp": self._timestamp,
            "time": self._time,
        }[column.kind]
        cells = encode(values, _Cells(start, rows, self), column)
        return pc.fill_null(cells, _lit("")) if cells.null_count else cells

    def _text(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        return cells.text(as_text(values))

    def _boolean(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        bits = pc.if_else(values, _lit("1"), _lit("0"))
        return cells.join('" t="b"><v>', bits, "</v></c>")

    def _integer(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        digits = pc.cast(values, LS)
        if values.type.bit_width < 64:
            return cells.number_or_text(digits, digits, None)
        signed = pa.types.is_signed_integer(values.type)
        big = pc.greater(values, _EXACT_INT64 if signed else _EXACT_UINT64)
        if signed:
            big = pc.or_(big, pc.less(values, _EXACT_INT64_LOW))
        if not pc.any(big).as_py():
            return cells.number_or_text(digits, digits, None)
        as_float = pc.cast(values, pa.float64(), safe=False)
        back = pc.cast(as_float, values.type, safe=False)
        return cells.number_or_text(digits, digits, pc.and_(big, pc.not_equal(back, values)))

    def _decimal(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        # Through text both ways: Arrow's direct decimal↔double casts are inexact at large
        # scales (0.1 at scale 20 is not the double 0.1), text parsing is exact.
        as_float = pc.cast(pc.cast(values, LS), pa.float64())
        try:
            back = pc.cast(pc.cast(as_float, LS), values.type, safe=False)
            inexact = pc.fill_null(pc.not_equal(back, values), True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            inexact = pc.is_valid(values)
        return cells.number_or_text(number_texts(as_float), pc.cast(values, LS), inexact)

    def _number(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        values = pc.cast(values, pa.float64())
        finite = pc.is_finite(values)
        names = pc.if_else(
            pc.is_nan(values),
            _lit("NaN"),
            pc.if_else(pc.greater(values, 0.0), _lit("Infinity"), _lit("-Infinity")),
        )
        return cells.number_or_text(number_texts(values), names, pc.invert(finite))

    def _date(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        return cells.serial(values, self.styles["date"])

    def _timestamp(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        values = column_in_zone(values, report_zone(column.zone or "UTC"))
        return cells.serial(values, self.styles["datetime"])

    def _time(self, values: pa.Array, cells: _Cells, column: Column) -> pa.Array:
        style = f'" s="{self.styles["time"]}"><v>'
        return cells.join(style, number_texts(day_fractions(values)), "</v></c>")


@dataclass(frozen=True)
class _Cells:
    """Builds the cells of one column: ``<c r="B17" ...>...</c>`` for each row."""

    start: str  # '<c r="B'
    rows: pa.Array
    encoder: RowEncoder

    def join(self, middle: str | pa.Array, value: pa.Array, end: str) -> pa.Array:
        opening = _lit(middle) if isinstance(middle, str) else middle
        parts = [_lit(self.start), self.rows, opening, value, _lit(end), _lit("")]
        return pc.binary_join_element_wise(*parts)

    def number_or_text(
        self, numbers: pa.Array, texts: pa.Array, as_text: pa.Array | None
    ) -> pa.Array:
        """Number cells, except text cells where ``as_text`` is true."""
        cells = self.join('"><v>', numbers, "</v></c>")
        return cells if as_text is None else self._unless(cells, texts, as_text)

    def serial(self, values: pa.Array, style: int) -> pa.Array:
        """Date or time cells of dates or naive timestamps; text outside Excel's calendar."""
        serial = serials(values)
        cells = self.join(f'" s="{style}"><v>', number_texts(serial), "</v></c>")
        out = outside(serial)
        if not pc.any(out).as_py():
            return cells
        return self._unless(cells, temporal_texts(values), out)

    def text(self, values: pa.Array) -> pa.Array:
        values = self._clipped(values)
        preserve = pc.match_substring_regex(values, _EDGE_SPACE)
        opening = pc.if_else(
            preserve,
            _lit('" t="inlineStr"><is><t xml:space="preserve">'),
            _lit('" t="inlineStr"><is><t>'),
        )
        return self.join(opening, escaped(values), "</t></is></c>")

    def _unless(self, cells: pa.Array, texts: pa.Array, as_text: pa.Array) -> pa.Array:
        as_text = pc.fill_null(as_text, False)
        count = pc.sum(as_text).as_py() or 0
        if not count:
            return cells
        self.encoder.changes.as_text += count
        return pc.if_else(as_text, self.text(texts), cells)

    def _clipped(self, values: pa.Array) -> pa.Array:
        """Values over Excel's limit cut, with the marker. A value can only be over it if
        its UTF-8 is (a UTF-16 unit is at least one byte), so only those reach Python."""
        limit = excel_book.MAX_CELL_CHARS
        long = pc.fill_null(pc.greater(pc.binary_length(values), limit), False)
        if not pc.any(long).as_py():
            return values
        before = pc.filter(values, long).to_pylist()
        after = [excel_book.clip(text) for text in before]
        self.encoder.changes.truncated += sum(a != b for a, b in zip(after, before, strict=True))
        return pc.replace_with_mask(values, long, pa.array(after, LS))


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, LS)
