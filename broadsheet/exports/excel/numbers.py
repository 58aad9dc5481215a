"""The numbers in a workbook's cells: how a double is spelt, and the serial number of a date,
time or timestamp. One set of functions for every sheet, vectorised for the data sheets
(``cells``) and used a value at a time for the Report and Chart data sheets (``book``), so a
value reads back the same wherever it is shown.

- A double is written in its shortest round-trip form (Arrow's cast to text, with Excel's
  capital E): ``0.30000000000000004``, ``1.7976931348623157E+308``, ``5E-324``, ``-0``. It
  reads back as the same double; XlsxWriter's own ``.16G`` would round the seventeenth digit
  away (the largest double became ``1.797693134862316E+308``, out of range: INF).
- A date or naive timestamp is Excel's serial number: days since 1899-12-30, less one before
  1900-03-01, as Excel counts a 29 February 1900 that never was. So 1900-01-01 00:00 is 1,
  1900-02-28 is 59 and 1900-03-01 is 61. Values outside Excel's calendar (before 1900-01-01,
  from 10000-01-01 on) have no serial and are written as text: ``temporal_texts``.
- A time of day is its fraction of a day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.compute as pc

LS = pa.large_string()
EPOCH_SERIAL = 25_569  # Excel's serial number of 1970-01-01 (day 0 is 1899-12-30)
# Excel counts a 29 February 1900 that never was: serials below 61 (1900-03-01) are one less.
LEAP_BUG_SERIAL = 61
FIRST_SERIAL, END_SERIAL = 1, 2_958_466  # 1900-01-01 and 10000-01-01
UNITS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def number_texts(values: pa.Array) -> pa.Array:
    """Shortest round-trip text of doubles, with Excel's capital E (``1E+20``)."""
    return pc.ascii_upper(pc.cast(values, LS))


def number_text(value: float) -> str:
    """One double's shortest round-trip text, as :func:`number_texts` but laid out by Python
    (``1E-05`` where Arrow writes ``0.00001``: the same digits, the same double). Through
    Arrow one value cost about 20 µs, paid per cell of the Report and Chart data sheets."""
    text = repr(float(value)).upper()
    return text.removesuffix(".0") if "E" not in text else text


def serials(values: pa.Array) -> pa.Array:
    """Excel serial numbers (float64) of dates or naive timestamps; see :func:`outside`."""
    if pa.types.is_timestamp(values.type):
        unit = values.type.unit
        ticks = pc.cast(values.cast(pa.timestamp(unit)), pa.int64())
        # Unsafe: microseconds past 2255 are more than a double holds exactly, and the
        # serial keeps what Excel can (about 50 µs in 9999) whatever the cast drops.
        days = pc.divide(pc.cast(ticks, pa.float64(), safe=False), float(UNITS_PER_DAY[unit]))
    else:
        days = pc.cast(pc.cast(pc.cast(values, pa.date32()), pa.int32()), pa.float64())
    serial = pc.add(days, float(EPOCH_SERIAL))
    return pc.if_else(pc.less(serial, float(LEAP_BUG_SERIAL)), pc.subtract(serial, 1.0), serial)


def outside(serial: pa.Array) -> pa.Array:
    """Which serials fall outside Excel's calendar (1900-01-01 to 9999-12-31)."""
    return pc.or_(pc.less(serial, float(FIRST_SERIAL)), pc.greater_equal(serial, float(END_SERIAL)))


def temporal_texts(values: pa.Array) -> pa.Array:
    """Dates, times or timestamps as ISO text for a text cell: ``1899-12-31``,
    ``1899-12-31 23:59:59``, fractions of a second only when there are any."""
    text = pc.cast(values, LS)
    if pa.types.is_date(values.type):
        return text
    return pc.replace_substring_regex(text, pattern=r"\.0+$", replacement="")


def day_fractions(values: pa.Array) -> pa.Array:
    """Times of day as fractions of a day (float64)."""
    plain = pa.int32() if pa.types.is_time32(values.type) else pa.int64()
    ticks = pc.cast(values.view(plain), pa.int64())
    return pc.divide(pc.cast(ticks, pa.float64()), float(UNITS_PER_DAY[values.type.unit]))


def serial(value: date | datetime | time) -> float | str:
    """:func:`serials` (or :func:`day_fractions`) of one naive value: its serial number, or
    its text from :func:`temporal_texts` when Excel's calendar has no day for it.

    The same arithmetic as the vectorised functions, in Python: through Arrow one value cost
    about 75 µs, which the Report and Chart data sheets paid per cell. A test holds the two
    equal, bit for bit."""
    if isinstance(value, datetime):
        ticks = (value - _EPOCH) // _MICROSECOND  # exact integer microseconds
        days = float(ticks) / UNITS_PER_DAY["us"]  # as Arrow: int64 to double, then divide
    elif isinstance(value, date):
        days = float((value - _EPOCH.date()).days)
    else:
        ticks = ((value.hour * 60 + value.minute) * 60 + value.second) * 10**6
        return float(ticks + value.microsecond) / UNITS_PER_DAY["us"]
    number = days + EPOCH_SERIAL
    if number < LEAP_BUG_SERIAL:
        number -= 1.0
    if number < FIRST_SERIAL or number >= END_SERIAL:
        kind = pa.timestamp("us") if isinstance(value, datetime) else pa.date32()
        return str(temporal_texts(pa.array([value], kind))[0].as_py())
    return number


_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
