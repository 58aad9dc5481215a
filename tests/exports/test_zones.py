"""The one conversion of times to the report's zone that the Excel, PDF and file-name code
share: an instant becomes the zone's wall time, a naive time stays as it is."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from broadsheet.exports.base import column_in_zone, in_zone, report_zone

LORD_HOWE = report_zone("Australia/Lord_Howe")  # half an hour of DST: +11:00 in summer, +10:30


def test_instants_become_the_zones_wall_time_and_naive_times_stay() -> None:
    summer, winter = (
        datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 12, 0, tzinfo=UTC),
    )
    assert in_zone(summer, LORD_HOWE).replace(tzinfo=None) == datetime(2024, 1, 1, 23, 0)
    assert in_zone(winter, LORD_HOWE).replace(tzinfo=None) == datetime(2024, 7, 1, 22, 30)
    assert in_zone(summer, LORD_HOWE).tzname() == "+11"
    naive = datetime(2024, 1, 1, 12, 0)
    assert in_zone(naive, LORD_HOWE) is naive
    zoned = pa.array([summer, None, winter], pa.timestamp("us", tz="UTC"))
    assert column_in_zone(zoned, LORD_HOWE).to_pylist() == [
        datetime(2024, 1, 1, 23, 0),
        None,
        datetime(2024, 7, 1, 22, 30),
    ]
    plain = pa.array([naive], pa.timestamp("us"))
    assert column_in_zone(plain, LORD_HOWE).equals(plain)
    assert report_zone("Not/AZone").key == "UTC"
