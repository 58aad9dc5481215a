"""Wide rows cannot exhaust memory: batches are bounded by bytes from the first fetch on, and
the memory goes back after the job.

The job runs in a child process (so its peak is its own): a real PostgreSQL source through
``run_job``, the path every executor takes. ``python -m tests.jobs.test_wide_rows URL ROWS
WIDTH [NARROW]`` runs the child by hand and prints what it measured (NARROW empty rows first,
then ROWS of WIDTH; exports only when NARROW is 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from broadsheet.datasources import query
from broadsheet.datasources.arrow import BatchBuilder
from tests.conftest import service_missing

ROWS = 2_000
WIDTH = 200_000  # 2,000 rows x 200 kB: 400 MB of text
MB = 2**20
EXPORTS = ("csv", "json", "ndjson", "excel", "pdf", "parquet")


class _Cursor:
    """A DB-API cursor over given rows that remembers each fetchmany size and the widest text
    among the rows it returned."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.asked: list[int] = []
        self.widest: list[int] = []

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        self.asked.append(size)
        taken, self.rows = self.rows[:size], self.rows[size:]
        self.widest.append(max((len(r[1]) for r in taken if isinstance(r[1], str)), default=0))
        return taken


class _FarCursor(_Cursor):
    """One whose every fetch costs a round trip of ``delay`` seconds, as a far server's."""

    def __init__(self, rows: list[tuple[Any, ...]], delay: float) -> None:
        super().__init__(rows)
        self.delay = delay

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        time.sleep(self.delay)
        return super().fetchmany(size)


def test_a_far_source_of_narrow_rows_is_fetched_in_few_round_trips() -> None:
    rows: list[tuple[Any, ...]] = [(i, "abc") for i in range(200_000)]
    cursor = _FarCursor(rows, 0.005)
    builder = BatchBuilder(["i", "s"], [None, None])
    got = query._batches(cursor, builder, query.Limits(60, 10**9), query.Progress())
    assert sum(b.num_rows for b in got) == 200_000
    assert max(cursor.asked) == query.MAX_SLOW_FETCH_ROWS
    assert len(cursor.asked) < 100  # 782 fetches at 256 rows: 4 s of round trips at 5 ms


def test_a_near_source_keeps_fetches_small_and_a_far_one_shrinks_them_for_wide_rows() -> None:
    assert query.fetch_cap(256, slow=False, row_bytes=20) == 256
    assert query.fetch_cap(256, slow=True, row_bytes=20) == 512
    assert query.fetch_cap(query.MAX_SLOW_FETCH_ROWS, slow=True, row_bytes=20) == 4_096
    assert query.fetch_cap(4_096, slow=True, row_bytes=200_000) == query.MAX_FETCH_ROWS


def _batches(rows: list[tuple[Any, ...]]) -> tuple[list[pa.RecordBatch], list[int]]:
    """Batches from a near cursor: no fetch counts as slow, however loaded the machine (a
    slow fetch would let the cap grow, which the far-source test shows)."""
    cursor = _Cursor(rows)
    builder = BatchBuilder(["i", "s"], [None, None])
    near = query.SLOW_FETCH_SECONDS
    query.SLOW_FETCH_SECONDS = 3600.0
    try:
        batches = list(query._batches(cursor, builder, query.Limits(60, 10**9), query.Progress()))
    finally:
        query.SLOW_FETCH_SECONDS = near
    return batches, cursor.asked


def test_wide_rows_are_fetched_in_batches_bounded_by_bytes_from_the_first_fetch() -> None:
    row = 1_000_000  # 1 MB a row: the first fetch is a few rows, not thousands
    batches, asked = _batches([(i, "x" * row) for i in range(40)])
    assert asked[0] == query.FIRST_BATCH_ROWS <= 16
    assert sum(b.num_rows for b in batches) == 40
    assert max(b.nbytes for b in batches) <= query.TARGET_BATCH_BYTES + row


def test_narrow_rows_grow_to_full_batches_and_their_types_come_from_5000_rows() -> None:
    # Integers for 100 rows, then fractions: the first batch sees both, so a float column.
    rows: list[tuple[Any, ...]] = [(i, "a" if i % 2 else "b") for i in range(100)]
    rows += [(i + 0.5, "c") for i in range(100, 120_000)]
    batches, asked = _batches(rows)
    assert batches[0].num_rows == query.TYPING_ROWS
    assert batches[0].schema.field("i").type == pa.float64()
    assert max(asked) == query.MAX_FETCH_ROWS  # fetches grow to the cap, no further
    # and batches to full size, growing as fetches do
    assert [b.num_rows for b in batches[:3]] == [5_000, 40_000, query.MAX_BATCH_ROWS]
    assert sum(b.num_rows for b in batches) == len(rows)


def test_rows_that_widen_after_narrow_ones_never_come_in_a_huge_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 6,000 empty strings, then 1,500 of 200 kB (one string object: the test stays small).
    # Before, the fetch after the first batch was 40,000 rows: 1,500 x 200 kB = 300 MB at
    # once here, and 7.4 GB on a longer result.
    wide = "x" * WIDTH
    rows: list[tuple[Any, ...]] = [(i, "") for i in range(1, 6_001)]
    rows += [(i, wide) for i in range(6_001, 7_501)]
    cursor = _Cursor(rows)
    builder = BatchBuilder(["i", "s"], [None, None])
    limits, progress = query.Limits(60, 10**9), query.Progress()
    monkeypatch.setattr(query, "SLOW_FETCH_SECONDS", 3600.0)  # a near source, however loaded
    counted = ids = full = 0
    for batch in query._batches(cursor, builder, limits, progress):  # one batch kept at a time
        # every batch, even the one where the rows widened, is about the target or less
        assert batch.nbytes <= query.TARGET_BATCH_BYTES + WIDTH + 2**16, batch.num_rows
        counted += batch.num_rows
        ids += pc.sum(batch.column("i")).as_py() or 0
        full += pc.sum(pc.equal(pc.utf8_length(batch["s"]), WIDTH)).as_py() or 0
        del batch
    assert counted == 7_500 and ids == 7_500 * 7_501 // 2 and full == 1_500
    # Each fetch's rows, at the width they turned out to have: at most MAX_FETCH_ROWS rows of
    # the widest (the one fetch where they widened: 100 MB), then about a batch's worth.
    held = [size * widest for size, widest in zip(cursor.asked, cursor.widest, strict=True)]
    assert max(held) <= query.MAX_FETCH_ROWS * WIDTH <= 100_000_000, held
    after = held[held.index(max(held)) + 1 :]
    assert after and max(after) <= query.TARGET_BATCH_BYTES + WIDTH, after


def _status(field: str) -> int:
    """A ``VmRSS``/``VmHWM`` figure of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak() -> bool:
    """Start VmHWM again from the current RSS (Linux: ``5`` to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(url: str, rows: int, width: int, narrow: int = 0) -> dict[str, Any]:
    import pyarrow.parquet as pq

    # The local server is a near source: on a loaded machine a fetch may still take over
    # SLOW_FETCH_SECONDS, which would let the fetch cap grow as for a far one.
    query.SLOW_FETCH_SECONDS = 3600.0

    from broadsheet import migrate, models
    from broadsheet.auth import service as auth
    from broadsheet.config import Settings
    from broadsheet.datasources.schemas import DataSourceWrite
    from broadsheet.datasources.service import DataSourceService
    from broadsheet.db import session_scope
    from broadsheet.jobs.runner import run_job
    from broadsheet.jobs.service import JobService
    from broadsheet.kit.gc import freeze_startup_objects
    from broadsheet.reports.schemas import ReportDefinitionWrite
    from broadsheet.reports.service import ReportService
    from broadsheet.runtime import Runtime

    folder = Path(tempfile.mkdtemp(prefix="broadsheet-wide-"))
    settings = Settings(data_dir=folder, secret_key="wide-rows", demo=False)
    migrate.upgrade(settings.resolved_database_url)
    runtime = Runtime.build(settings)

    def report(name: str, count: int) -> Any:
        body = {
            "name": name,
            "category": "memory",
            "dataSource": "pg",
            "query": f"SELECT i, CASE WHEN i > {narrow} THEN repeat('x', {width}) ELSE ''"
            f" END AS s FROM generate_series(1, {count}) AS g(i)",
        }
        report = ReportService(session, settings).create(
            caller, ReportDefinitionWrite.model_validate(body)
        )
        return JobService(session, settings).submit(caller, report.id, {}).id

    with session_scope(runtime.sessions) as session:
        caller = auth.system_principal(session, "wide", "wide")
        DataSourceService(session, settings).create(caller, DataSourceWrite(name="pg", url=url))
        warm, wide = report("Warm-up", 3), report("Wide", narrow + rows)
    freeze_startup_objects()
    assert run_job(warm, runtime) == "completed"  # every library and connection loaded
    baseline = _status("VmRSS")
    exact_peak = _reset_peak()
    status = run_job(wide, runtime)
    peak = _status("VmHWM")
    after = _status("VmRSS")
    with session_scope(runtime.sessions) as session:
        job = session.get(models.ReportJob, wide)
        assert job is not None
        error, result_id = job.error, job.result_id
        row = session.get(models.ReportResult, result_id) if result_id else None
        row_count = row.row_count if row else None
        tenant_id = row.tenant_id if row else None
    after_exports = None
    export_peaks: dict[str, int] = {}
    if result_id is not None and tenant_id is not None and not narrow:
        from broadsheet.exports.service import ExportService

        for fmt in EXPORTS:  # in this thread, as a request's would be
            _reset_peak()
            with session_scope(runtime.sessions) as session:
                ExportService(session, runtime.storage).export(tenant_id, result_id, fmt)
            export_peaks[fmt] = _status("VmHWM")
        after_exports = _status("VmRSS")
    checked: dict[str, Any] = {}
    if row is not None:
        parquet = pq.ParquetFile(runtime.storage.local_path(f"results/{result_id}/main.parquet"))
        ids = 0
        good = empty = 0
        groups = parquet.num_row_groups
        for index in range(groups):  # a row group at a time: the checks stay small too
            group = parquet.read_row_group(index)
            ids += pc.sum(group["i"]).as_py() or 0
            lengths = pc.utf8_length(group["s"])
            good += pc.sum(pc.equal(lengths, width)).as_py() or 0
            empty += pc.sum(pc.equal(lengths, 0)).as_py() or 0
        first = parquet.read_row_group(0).column("s")[0].as_py()
        checked = {
            "rows": parquet.metadata.num_rows,
            "id_sum": ids,
            "full_width": good,
            "empty": empty,
            "first_ok": first == ("" if narrow else "x" * width),
            "row_groups": groups,
        }
    return {
        "status": status,
        "error": error,
        "row_count": row_count,
        "baseline": baseline,
        "peak": peak if exact_peak else None,
        "ru_maxrss": _maxrss(),
        "after": after,
        "after_exports": after_exports,
        "export_peaks": export_peaks if exact_peak else {},
        **checked,
    }


def _maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(url: str, rows: int = ROWS, width: int = WIDTH, narrow: int = 0) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.jobs.test_wide_rows",
            *(url, str(rows), str(width), str(narrow)),
        ],
        cwd=Path(__file__).resolve().parents[2],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def test_wide_rows_stay_within_a_bounded_memory_and_give_it_back() -> None:
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    figures = measure(url)
    assert figures["status"] == "completed", figures
    # The whole result, exactly: every row, every value full width.
    assert figures["row_count"] == figures["rows"] == ROWS, figures
    assert figures["id_sum"] == ROWS * (ROWS + 1) // 2, figures
    assert figures["full_width"] == ROWS and figures["first_ok"], figures
    assert figures["row_groups"] > 1, figures  # row groups are bounded by bytes too
    data = ROWS * WIDTH  # 400 MB
    peak = figures["peak"] if figures["peak"] is not None else figures["ru_maxrss"]
    grew = peak - figures["baseline"]
    assert grew < 150 * MB < data / 2, f"peak grew {grew / MB:.0f} MB: {figures}"
    kept = figures["after"] - figures["baseline"]
    assert kept < 40 * MB, f"RSS after the job is {kept / MB:.0f} MB above: {figures}"
    # Exporting the wide result reads it a row group at a time (before: a 65,536-row batch,
    # the whole 400 MB at once, 0.8 to 1.9 GB at peak), and gives the memory back after.
    for fmt, export_peak in figures["export_peaks"].items():
        grew = export_peak - figures["baseline"]
        assert grew < 250 * MB, f"exporting {fmt} grew {grew / MB:.0f} MB: {figures}"
    kept = figures["after_exports"] - figures["baseline"]
    assert kept < 60 * MB, f"RSS after the exports is {kept / MB:.0f} MB above: {figures}"


def test_rows_that_widen_after_narrow_ones_stay_within_a_bounded_memory() -> None:
    # 6,000 empty strings, then 1,500 rows of 200 kB (300 MB): before, the fetch after the
    # first batch asked for 40,000 rows and took all 300 MB at once (7.4 GB on a longer one).
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    narrow, rows = 6_000, 1_500
    figures = measure(url, rows, WIDTH, narrow)
    assert figures["status"] == "completed", figures
    total = narrow + rows
    assert figures["row_count"] == figures["rows"] == total, figures
    assert figures["id_sum"] == total * (total + 1) // 2, figures
    assert figures["full_width"] == rows and figures["empty"] == narrow, figures
    assert figures["first_ok"], figures
    peak = figures["peak"] if figures["peak"] is not None else figures["ru_maxrss"]
    grew = peak - figures["baseline"]
    # One fetch of MAX_FETCH_ROWS rows that all turned wide (100 MB of text, held by the
    # driver's result and by its Python strings at once), then batches of about 8 MB.
    assert grew < 200 * MB < rows * WIDTH, f"peak grew {grew / MB:.0f} MB: {figures}"
    kept = figures["after"] - figures["baseline"]
    assert kept < 40 * MB, f"RSS after the job is {kept / MB:.0f} MB above: {figures}"


if __name__ == "__main__":
    narrow = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), narrow)))


def test_long_decimals_are_measured_by_their_digits() -> None:
    from decimal import Decimal

    row = (1, Decimal("9" * 20_000))
    assert query._python_bytes([row]) >= 20_000
