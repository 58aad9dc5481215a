"""One value's serial number and double text (the Report and Chart data sheets, a cell at a
time) are the data sheets' vectorised ones: serials bit for bit, across Excel's calendar and
past its ends, and doubles that read back as the very same double."""

from __future__ import annotations

import struct
from datetime import date, datetime, time

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from broadsheet.exports.excel import numbers


def _vectorised(value: date | datetime | time) -> float | str:
    if isinstance(value, datetime):
        array = pa.array([value], pa.timestamp("us"))
    elif isinstance(value, date):
        array = pa.array([value], pa.date32())
    else:
        return float(numbers.day_fractions(pa.array([value], pa.time64("us")))[0].as_py())
    serial = numbers.serials(array)
    if numbers.outside(serial)[0].as_py():
        return str(numbers.temporal_texts(array)[0].as_py())
    return float(serial[0].as_py())


EDGES: list[date | datetime | time] = [
    datetime(1900, 1, 1),
    datetime(1900, 2, 28, 12),
    datetime(1900, 3, 1),
    datetime(1899, 12, 31, 23, 59, 59),
    datetime(1899, 12, 31, 23, 59, 59, 500_000),
    datetime(9999, 12, 31, 23, 59, 59, 999_999),
    datetime(2255, 6, 5, 23, 47, 16, 854_775),
    datetime(2024, 3, 10, 6, 30, 0, 250_000),
    datetime(1, 1, 1),
    date(1900, 1, 1),
    date(1900, 2, 28),
    date(1900, 3, 1),
    date(1899, 12, 31),
    date(9999, 12, 31),
    date(1, 1, 1),
    time(0, 0),
    time(23, 59, 59, 999_999),
    time(12, 0, 0, 1),
]


def test_edges_match_the_data_sheets() -> None:
    for value in EDGES:
        assert repr(numbers.serial(value)) == repr(_vectorised(value)), value


@settings(max_examples=400, deadline=None)
@given(st.datetimes() | st.dates() | st.times())
def test_any_value_matches_the_data_sheets(value: date | datetime | time) -> None:
    assert repr(numbers.serial(value)) == repr(_vectorised(value))


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_one_double_is_written_as_exactly_that_double(value: float) -> None:
    text = numbers.number_text(value)
    assert struct.pack("<d", float(text)) == struct.pack("<d", value), text  # -0 too
    vectorised = numbers.number_texts(pa.array([value], pa.float64()))[0].as_py()
    assert float(text) == float(vectorised)
