"""Benchmark: export a stored 1,000,000-row result in every format, beside baselines.

    .venv/bin/python bench/exports.py [--rows 1000000] [--excel-baseline-rows 100000]

The result is a Parquet file like the ones generation stores (six columns: integer, float,
text, date, boolean, integer). Every measurement runs in a fresh process, so peak memory
(max RSS) is that variant's alone; each figure is the median of ``--repeat`` runs. Baselines,
measured in the same run:

- CSV: a bare ``pyarrow.csv.write_csv`` of the same table (the floor), ``polars.write_csv``
  and ``pandas.to_csv``;
- Excel: ``pandas.to_excel`` (openpyxl), at ``--excel-baseline-rows`` rows because it is so
  slow, compared with Broadsheet at the same size; Broadsheet also at the full size;
- PDF: 1,000 rows with three charts (line, bar, pie) against the 2 s target.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def make_result(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = pa.array(range(rows), pa.int64())
    table = pa.table(
        {
            "id": ids,
            "amount": pc.divide(pc.cast(pc.multiply(ids, 37), pa.float64()), 7.0),
            "name": pc.binary_join_element_wise(
                "customer-", pc.cast(pc.bit_wise_and(ids, 1023), pa.string()), ""
            ),
            "day": pc.cast(pc.add(pc.bit_wise_and(ids, 2047), 18262), pa.int32()).cast(pa.date32()),
            "flag": pc.equal(pc.bit_wise_and(ids, 3), 0),
            "qty": pc.bit_wise_and(ids, 255),
        }
    )
    pq.write_table(table, path, row_group_size=50_000, compression="zstd")


def context(path: Path, rows: int, charts: bool) -> Any:
    import pyarrow.parquet as pq

    from broadsheet.charts import specs
    from broadsheet.exports.base import ExportContext

    visualizations = []
    if charts:
        table = pq.read_table(path)
        for viz in (
            {
                "id": "trend",
                "type": "line",
                "title": "Amount by day",
                "dataMapping": {"x": "day", "y": "amount"},
            },
            {
                "id": "by-qty",
                "type": "bar",
                "title": "Amount by quantity",
                "dataMapping": {"x": "qty", "y": "amount"},
            },
            {
                "id": "flags",
                "type": "pie",
                "title": "Flags",
                "dataMapping": {"category": "flag", "value": "amount"},
            },
        ):
            visualizations.append({**viz, "data": specs.build(viz, table)})
    types = {
        "id": "integer",
        "amount": "number",
        "name": "string",
        "day": "date",
        "flag": "boolean",
        "qty": "integer",
    }
    return ExportContext(
        result_id="00000000-0000-0000-0000-000000000001",
        report={
            "id": "r",
            "name": "Benchmark",
            "description": "Exports benchmark",
            "category": "bench",
            "version": 1,
        },
        generated_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        timezone="UTC",
        parameters={},
        columns=[{"name": n, "type": t} for n, t in types.items()],
        row_count=rows,
        summary={},
        visualizations=visualizations,
    )


def run_variant(variant: str, source: Path, rows: int, out: Path) -> float:
    import pyarrow.parquet as pq

    if variant.startswith("broadsheet-"):
        from broadsheet.exports.base import ParquetSource, TableSource
        from broadsheet.exports.registry import EXPORTERS

        fmt = variant.removeprefix("broadsheet-")
        exporter = EXPORTERS[fmt]
        stored = pq.ParquetFile(source)
        if rows < stored.metadata.num_rows:  # the first row groups only, not the whole file
            groups = range(-(-rows // stored.metadata.row_group(0).num_rows))
            rows_in: Any = TableSource(stored.read_row_groups(list(groups)).slice(0, rows))
        else:
            rows_in = ParquetSource(source)
        ctx = context(source, rows, charts=fmt in ("pdf", "excel"))
        started = time.perf_counter()
        with out.open("wb") as handle:
            exporter.write(ctx, rows_in, handle, lambda _n: None)
        return time.perf_counter() - started
    table = pq.read_table(source).slice(0, rows)
    started = time.perf_counter()
    if variant == "pyarrow-csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, out)
    elif variant == "polars-csv":
        import polars as pl

        pl.from_arrow(table).write_csv(out)  # type: ignore[union-attr]
    elif variant == "pandas-csv":
        table.to_pandas().to_csv(out, index=False)
    elif variant == "pandas-excel":
        table.to_pandas().to_excel(out, index=False)
    else:
        raise SystemExit(f"unknown variant {variant}")
    return time.perf_counter() - started


def measure(variant: str, source: Path, rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                variant,
                "--source",
                str(source),
                "--rows",
                str(rows),
                "--out",
                str(Path(folder, "out.bin")),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--excel-baseline-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="Runs per variant (the median).")
    parser.add_argument("--child")
    parser.add_argument("--source", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        # A small warm-up run first, for every variant alike: the figures are throughput, not
        # the one-off cost of a process's first call into each library.
        run_variant(args.child, args.source, min(args.rows, 1000), args.out)
        seconds = run_variant(args.child, args.source, args.rows, args.out)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "peak_mb": peak, "bytes": args.out.stat().st_size}))
        return
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder, "result.parquet")
        make_result(source, args.rows)
        small = args.excel_baseline_rows
        plan = [
            ("pyarrow-csv", args.rows),
            ("broadsheet-csv", args.rows),
            ("polars-csv", args.rows),
            ("pandas-csv", args.rows),
            ("broadsheet-excel", args.rows),
            ("broadsheet-excel", small),
            ("pandas-excel", small),
            ("broadsheet-pdf", 1000),
            ("broadsheet-json", args.rows),
            ("broadsheet-ndjson", args.rows),
            ("broadsheet-parquet", args.rows),
        ]
        runs: dict[tuple[str, int], list[dict[str, float]]] = {key: [] for key in plan}
        for _ in range(args.repeat):  # round after round, so drift hits every variant alike
            for variant, rows in plan:
                runs[(variant, rows)].append(measure(variant, source, rows))
        results = {
            key: {k: statistics.median(r[k] for r in measured) for k in measured[0]}
            for key, measured in runs.items()
        }
    print(f"{'variant':<20}{'rows':>10}{'seconds':>10}{'peak MB':>10}{'MB out':>9}")
    for (variant, rows), figures in results.items():
        print(
            f"{variant:<20}{rows:>10,}{figures['seconds']:>10.2f}{figures['peak_mb']:>10.0f}"
            f"{figures['bytes'] / 2**20:>9.1f}"
        )
    csv_s = results[("broadsheet-csv", args.rows)]["seconds"]
    floor = results[("pyarrow-csv", args.rows)]["seconds"]
    pandas_csv = results[("pandas-csv", args.rows)]["seconds"]
    print(f"CSV vs pyarrow floor: {csv_s / floor:.2f}x (target <= 1.5x)")
    print(f"CSV vs pandas.to_csv: {pandas_csv / csv_s:.1f}x faster (target >= 10x)")
    excel_small = results[("broadsheet-excel", small)]["seconds"]
    print(
        f"Excel vs pandas.to_excel at {small:,} rows: "
        f"{results[('pandas-excel', small)]['seconds'] / excel_small:.1f}x faster (target >= 10x)"
    )
    print(
        f"Excel peak memory at {args.rows:,} rows: "
        f"{results[('broadsheet-excel', args.rows)]['peak_mb']:.0f} MB (target < 400 MB)"
    )
    pdf_s = results[("broadsheet-pdf", 1000)]["seconds"]
    print(f"PDF, 1,000 rows and 3 charts: {pdf_s:.2f} s (target < 2 s)")


if __name__ == "__main__":
    main()
