"""Benchmark: generate a 1,000,000-row report, against the floor of the bare query.

    .venv/bin/python bench/generate.py [--rows 1000000] [--repeat 3]

Both variants run in fresh processes on the same SQLite file (six columns: integer, date,
text, real, integer, boolean) and write the same typed Parquet file:

- floor: the sqlite3 driver with the same type converters, ``fetchmany`` batches straight
  into ``pyarrow.parquet.ParquetWriter`` — the least any generator must do;
- broadsheet: ``run_job`` on a report over that file (parameters, read-only guard, streaming,
  summaries, a line chart of the whole result, the result row and statistics).

It prints the median time and peak memory (max RSS) of each, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = (
    "CREATE TABLE facts (id INTEGER PRIMARY KEY, day DATE, name TEXT, amount REAL,"
    " qty INTEGER, flag BOOLEAN)"
)
QUERY = "SELECT id, day, name, amount, qty, flag FROM facts WHERE id > :minimum"


def make_source(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(SCHEMA)
    conn.execute(
        "INSERT INTO facts WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
        f" WHERE i < {rows}) SELECT i, date('2020-01-01', '+' || (i % 2000) || ' days'),"
        " 'customer-' || (i % 997), (i % 100000) / 7.0, i % 250, i % 3 = 0 FROM n"
    )
    conn.commit()
    conn.close()


def floor(source: Path, out: Path) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import broadsheet.datasources.connector  # noqa: F401  (registers the same converters)

    started = time.perf_counter()
    conn = sqlite3.connect(source, detect_types=sqlite3.PARSE_DECLTYPES)
    cursor = conn.execute(QUERY.replace(":minimum", "?"), (0,))
    names = [d[0] for d in cursor.description]
    writer = None
    while rows := cursor.fetchmany(50_000):
        columns = list(zip(*rows, strict=True))
        batch = pa.RecordBatch.from_arrays([pa.array(c) for c in columns], names=names)
        writer = writer or pq.ParquetWriter(out, batch.schema, compression="zstd")
        writer.write_batch(batch)
    assert writer is not None
    writer.close()
    return time.perf_counter() - started


def broadsheet(source: Path, work: Path) -> float:
    from broadsheet import migrate
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

    work = Path(tempfile.mkdtemp(dir=work))  # a fresh metadata database for every run
    settings = Settings(
        data_dir=work, secret_key="bench", demo=False, file_source_dirs=[source.parent]
    )
    migrate.upgrade(settings.resolved_database_url)
    runtime = Runtime.build(settings)
    with session_scope(runtime.sessions) as session:
        caller = auth.system_principal(session, "bench", "bench")
        DataSourceService(session, settings).create(
            caller, DataSourceWrite(name="bench", url=f"sqlite:///{source}")
        )
        body = {
            "name": "Million Rows",
            "category": "bench",
            "dataSource": "bench",
            "query": QUERY,
            "parameters": [{"name": "minimum", "label": "Minimum", "type": "number"}],
            "visualizations": [
                {"id": "trend", "type": "line", "dataMapping": {"x": "day", "y": "amount"}}
            ],
        }
        report = ReportService(session, settings).create(
            caller, ReportDefinitionWrite.model_validate(body)
        )
        job = JobService(session, settings).submit(caller, report.id, {"minimum": 0})
    freeze_startup_objects()  # as serve, the worker and `broadsheet run` do after start-up
    started = time.perf_counter()
    status = run_job(job.id, runtime)
    elapsed = time.perf_counter() - started
    assert status == "completed", status
    return elapsed


def child(kind: str, source: Path, work: Path) -> None:
    seconds = floor(source, work / "floor.parquet") if kind == "floor" else broadsheet(source, work)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def measure(kind: str, source: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=source.parent) as work:
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--source", str(source), "--work", work],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["floor", "broadsheet"])
    parser.add_argument("--source", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.work)
        return
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder, "facts.db")
        make_source(source, args.rows)
        runs: dict[str, list[dict[str, float]]] = {"floor": [], "broadsheet": []}
        for _ in range(args.repeat):
            for kind in runs:  # alternate, so drift in machine speed hits both alike
                runs[kind].append(measure(kind, source))
    seconds = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    memory = {k: statistics.median(r["peak_mb"] for r in v) for k, v in runs.items()}
    print(
        f"{args.rows:,} rows x 6 columns, median of {args.repeat} runs (cpu count {os.cpu_count()})"
    )
    print(f"{'variant':<12}{'seconds':>10}{'peak MB':>10}")
    for kind in runs:
        print(f"{kind:<12}{seconds[kind]:>10.2f}{memory[kind]:>10.0f}")
    print(
        f"ratio broadsheet/floor: {seconds['broadsheet'] / seconds['floor']:.2f}x (target <= 1.5x)"
    )
    print(f"peak memory target: broadsheet < 300 MB -> {memory['broadsheet']:.0f} MB")


if __name__ == "__main__":
    main()
