"""chartData stays bounded for a million-row result, and what is kept is still true: sums
are the sums, extremes stay extreme, each series keeps its first and last point."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadsheet.charts import build
from broadsheet.charts.frames import stride_positions

N = 1_000_000
MAX_POINTS = 2000


def _labels(prefix: str, numbers: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(numbers, pa.string()), "")


@pytest.fixture(scope="module")
def big() -> pa.Table:
    """A million rows built with vectorised Arrow calls only (fast, no numpy)."""
    i = pa.array(range(N), pa.int64())
    value = pc.divide(pc.cast(pc.subtract(pc.bit_wise_and(i, 1023), 300), pa.float64()), 10.0)
    return pa.table(
        {
            "i": i,
            "day": pc.cast(pc.cast(pc.add(pc.divide(i, 500), 19000), pa.int32()), pa.date32()),
            "at": pc.cast(pc.multiply(i, 60_000_000), pa.timestamp("us", tz="UTC")),
            "sector": _labels("s", pc.divide(pc.multiply(i, 7), N)),  # 7 runs
            "book": _labels("b", pc.bit_wise_and(i, 3)),  # cycles every 4 rows
            "ticker": _labels("t", pc.bit_wise_and(pc.multiply(i, 2654435761), 16383)),
            "value": value,
            "high": pc.add(value, 1.0),
            "low": pc.subtract(value, 1.0),
        }
    )


def chart(viz_type: str, mapping: dict[str, str], table: pa.Table, **options: Any) -> Any:
    viz = {"type": viz_type, "dataMapping": mapping, "options": options}
    return build(viz, table, max_points=MAX_POINTS)["chartData"]


def test_bar_sums_are_arrow_sums(big: pa.Table) -> None:
    rows = chart("bar", {"x": "sector", "y": "value", "series": "book"}, big)
    assert len(rows) == 7 * 4
    for row in rows[:: len(rows) // 5]:
        mask = pc.and_(
            pc.equal(big.column("sector"), row["sector"]), pc.equal(big.column("book"), row["book"])
        )
        expected = pc.sum(big.column("value").filter(mask)).as_py()
        assert row["value"] == pytest.approx(expected)
    total = pc.sum(big.column("value")).as_py()
    assert sum(row["value"] for row in rows) == pytest.approx(total)


def test_bar_keeps_the_largest_categories(big: pa.Table) -> None:
    rows = chart("bar", {"x": "ticker", "y": "high"}, big)
    assert len(rows) == MAX_POINTS
    kept = {row["ticker"] for row in rows}
    totals = big.group_by("ticker").aggregate([("high", "sum")])
    dropped = totals.filter(pc.invert(pc.is_in(totals.column("ticker"), pa.array(sorted(kept)))))
    smallest_kept = min(abs(row["high"]) for row in rows)
    assert pc.max(pc.abs(dropped.column("high_sum"))).as_py() <= smallest_kept


def test_line_keeps_each_series_under_the_budget_with_its_ends(big: pa.Table) -> None:
    started = time.perf_counter()
    rows = chart("line", {"x": "at", "y": "value", "series": "book"}, big)
    assert time.perf_counter() - started < 3
    books: dict[str, list[str]] = {}
    for row in rows:
        books.setdefault(row["book"], []).append(row["at"])
    assert sorted(books) == ["b0", "b1", "b2", "b3"]
    for times in books.values():
        assert len(times) <= MAX_POINTS
        assert times == sorted(times)
        assert times[0].startswith("1970-01-01T00:0")  # the first row of every book
    assert rows[-1]["at"] == "1971-11-26T10:39:00+00:00"  # row N - 1, a minute per row
    assert len(chart("line", {"x": "day", "y": "value"}, big)) == MAX_POINTS


def test_scatter_is_a_deterministic_sample_of_every_group(big: pa.Table) -> None:
    mapping = {"x": "value", "y": "high", "color": "book"}
    rows = chart("scatter", mapping, big)
    assert len(rows) == MAX_POINTS
    assert rows == chart("scatter", mapping, big)
    assert {row["book"] for row in rows} == {"b0", "b1", "b2", "b3"}
    default = build({"type": "scatter", "dataMapping": mapping}, big)["chartData"]
    assert len(default) == 5000


def test_candlestick_merges_runs_keeping_extremes(big: pa.Table) -> None:
    mapping = {"x": "day", "open": "value", "high": "high", "low": "low", "close": "value"}
    rows = chart("candlestick", mapping, big)
    assert len(rows) <= MAX_POINTS
    assert max(row["high"] for row in rows) == pc.max(big.column("high")).as_py()
    assert min(row["low"] for row in rows) == pc.min(big.column("low")).as_py()
    assert rows[0]["day"] == "2022-01-08"
    assert rows[0]["value"] == big.column("value")[0].as_py()


def test_pie_and_heatmap_are_bounded(big: pa.Table) -> None:
    slices = chart("pie", {"category": "ticker", "value": "high"}, big)
    assert len(slices) == 20
    assert slices[-1]["ticker"] == "Other"
    assert sum(s["high"] for s in slices) == pytest.approx(pc.sum(big.column("high")).as_py())
    cells = chart("heatmap", {"x": "ticker", "y": "book", "value": "value"}, big)
    assert 0 < len(cells) <= MAX_POINTS


def test_a_table_shows_its_first_rows(big: pa.Table) -> None:
    rows = build({"type": "table", "dataMapping": {"columns": ["i", "day"]}}, big)["chartData"]
    assert [row["i"] for row in rows] == [f"{i:,}" for i in range(25)]  # as the PDF prints them
    many = build({"type": "table", "options": {"maxRows": 50_000}}, big)["chartData"]
    assert len(many) == 25
    few = build({"type": "table", "options": {"maxRows": 7}}, big)["chartData"]
    assert len(few) == 7


@given(st.integers(0, 100_000), st.integers(2, 5000))
def test_stride_positions_are_even_and_keep_both_ends(count: int, budget: int) -> None:
    positions = stride_positions(count, budget)
    assert len(positions) == min(count, budget)
    assert positions == sorted(set(positions))
    if count:
        assert (positions[0], positions[-1]) == (0, count - 1)
