"""Exports read back with the programs people open them with: LibreOffice Calc for the
workbook and the CSV, jq and DuckDB for JSON, NDJSON and CSV. Each test batches its checks so
that a few LibreOffice conversions (about five seconds each) cover them all."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa

from broadsheet.exports import csv as csv_export
from broadsheet.exports import json as json_export
from broadsheet.exports.base import ExportContext, Exporter, TableSource
from broadsheet.exports.excel import EXPORTER as EXCEL
from tests.exports.hostile import hostile_context
from tests.tools import libreoffice_csv, run

# Doubles whose 17th significant digit matters, the extremes, and negative zero.
DOUBLES = [
    1.7976931348623157e308,
    5e-324,
    0.1 + 0.2,
    -0.0,
    -1.7976931348623157e308,
    2.2250738585072014e-308,
    1 / 3,
    123456789.12345679,
]
# Excel's calendar edges: its first day, the days around its 29 February 1900 that never was,
# a day before it (text), and its last second.
TIMES = [
    datetime(1900, 1, 1),
    datetime(1900, 1, 1, 0, 0, 1),
    datetime(1900, 2, 28, 12),
    datetime(1900, 3, 1),
    datetime(1899, 12, 31, 23),
    datetime(1899, 12, 30),
    datetime(2024, 3, 10, 6, 30, 0, 250000),
    datetime(9999, 12, 31, 23, 59, 59),
]
DAYS = [date(1900, 1, 1), date(1900, 2, 28), date(1900, 3, 1), date(1899, 12, 31)]
UNSIGNED = [2**64 - 1, 0, 2**53, 2**53 + 1, 2**63, None, 1, 2]


def _write(exporter: Exporter, ctx: ExportContext, table: pa.Table, path: Path) -> Path:
    with path.open("wb") as out:
        exporter.write(ctx, TableSource(table), out, lambda _n: None)
    return path


def _parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _excel_case() -> tuple[pa.Table, ExportContext]:
    table = pa.table(
        {
            "x": pa.array(DOUBLES, pa.float64()),
            "at": pa.array(TIMES, pa.timestamp("us")),
            "day": pa.array(DAYS * 2, pa.date32()),
            "u": pa.array(UNSIGNED, pa.uint64()),
        }
    )
    # Each value of the data sheet again on the Report sheet (summary, parameters) and on
    # the Chart data sheet: the same value must read back the same wherever it is.
    summary = {
        "x": dict(zip(("min", "max", "sum", "mean"), DOUBLES[:4], strict=True)),
        "at": {"min": TIMES[0].isoformat(), "max": TIMES[2].isoformat()},
        "day": {"min": DAYS[0].isoformat(), "max": DAYS[3].isoformat()},
    }
    parameters: dict[str, Any] = {f"x{i}": value for i, value in enumerate(DOUBLES[4:], 4)}
    parameters |= {f"at{i}": value for i, value in enumerate(TIMES)}
    bars = {
        "id": "bars",
        "type": "bar",
        "title": "Bars",
        "data": {
            "spec": {
                "encoding": {
                    "x": {"field": "k", "type": "nominal"},
                    "y": {"field": "v", "type": "quantitative"},
                }
            },
            "chartData": [{"k": f"k{i}", "v": value} for i, value in enumerate(DOUBLES)],
        },
    }
    line = {
        "id": "line",
        "type": "line",
        "title": "Line",
        "data": {
            "spec": {
                "encoding": {
                    "x": {"field": "at", "type": "temporal"},
                    "y": {"field": "v", "type": "quantitative"},
                }
            },
            "chartData": [{"at": t.isoformat(), "v": i} for i, t in enumerate(TIMES)],
        },
    }
    ctx = hostile_context(
        table,
        columns=[
            {"name": "x", "type": "number"},
            {"name": "at", "type": "timestamp"},
            {"name": "day", "type": "date"},
            {"name": "u", "type": "integer"},
        ],
        summary=summary,
        parameters=parameters,
        visualizations=[bars, line],
    )
    return table, ctx


def test_the_report_and_chart_data_sheets_hold_the_data_sheets_exact_values(
    tmp_path: Path,
) -> None:
    table, ctx = _excel_case()
    path = _write(EXCEL, ctx, table, tmp_path / "book.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Data", "Report", "Charts", "Chart data"]

    # The file itself: every double spelt exactly on every sheet (openpyxl parses the text).
    data = [[cell.value for cell in row] for row in book["Data"].iter_rows(min_row=2)]
    assert [row[0] for row in data] == DOUBLES
    report = {row[0].value: row for row in book["Report"].iter_rows() if row[0].value}
    assert [report["x"][col].value for col in (3, 4, 5, 6)] == DOUBLES[:4]
    assert [report[f"x{i}"][1].value for i in range(4, 8)] == DOUBLES[4:]
    chart_rows = [[c.value for c in row] for row in book["Chart data"].iter_rows()]
    start = chart_rows.index(["k", "v", None]) + 1
    assert [row[1] for row in chart_rows[start : start + len(DOUBLES)]] == DOUBLES
    # 1900-01-01 00:00 is serial 1 on every sheet (XlsxWriter's own conversion made it 0).
    assert report["at0"][1].value == TIMES[0] == data[0][1]
    assert report["at"][3].value == TIMES[0]
    # Unsigned 64-bit integers: numbers where a double holds them, else their digits as text.
    assert [row[3] for row in data] == ["18446744073709551615", 0, 2**53, str(2**53 + 1),
                                        2**63, None, 1, 2]  # fmt: skip

    # LibreOffice reads each value on the Report and Chart data sheets as on the Data sheet.
    shown_data = _parse_csv(libreoffice_csv(path, 1, tmp_path))[1:]
    shown_report = {
        row[0]: row for row in _parse_csv(libreoffice_csv(path, 2, tmp_path)) if row and row[0]
    }
    shown_chart = _parse_csv(libreoffice_csv(path, 4, tmp_path))
    shown_doubles = [row[0] for row in shown_data]
    assert "1.7976931348623157E+308" in shown_doubles[0]  # not INF, not an error
    assert shown_report["x"][3:7] == shown_doubles[:4]
    assert [shown_report[f"x{i}"][1] for i in range(4, 8)] == shown_doubles[4:]
    bar_start = next(i for i, row in enumerate(shown_chart) if row[:2] == ["k", "v"]) + 1
    assert [row[1] for row in shown_chart[bar_start : bar_start + 8]] == shown_doubles
    shown_times = [row[1] for row in shown_data]
    assert [shown_report[f"at{i}"][1] for i in range(len(TIMES))] == shown_times
    assert shown_report["at"][3:5] == [shown_times[0], shown_times[2]]
    shown_days = [row[2] for row in shown_data[:4]]
    assert shown_report["day"][3:5] == [shown_days[0], shown_days[3]]
    line_start = next(i for i, row in enumerate(shown_chart) if row[:2] == ["at", "v"]) + 1
    assert [row[0] for row in shown_chart[line_start : line_start + 8]] == shown_times
    # From 1900-03-01 on LibreOffice shows Excel's dates as Excel does; before, outside
    # Excel's calendar, they are the same ISO text on every sheet.
    assert shown_times[3] == "1900-03-01 00:00:00"
    assert shown_times[4:6] == ["1899-12-31 23:00:00", "1899-12-30 00:00:00"]
    assert shown_times[6:] == ["2024-03-10 06:30:00", "9999-12-31 23:59:59"]
    assert shown_days[2:] == ["1900-03-01", "1899-12-31"]
    assert shown_data[0][3] == "18446744073709551615"


def test_chart_category_labels_sit_at_the_low_edge_not_on_the_zero_line() -> None:
    table, ctx = _excel_case()
    out = io.BytesIO()
    EXCEL.write(ctx, TableSource(table), out, lambda _n: None)
    package = zipfile.ZipFile(out)
    charts = sorted(n for n in package.namelist() if n.startswith("xl/charts/chart"))
    assert len(charts) == 2
    for name in charts:
        xml = package.read(name).decode()
        assert xml.count('<c:tickLblPos val="low"/>') == 2, name  # both axes
        assert "nextTo" not in xml


BIG = [2**53 + 1, -(2**53) - 1, 2**53 - 1, -(2**53 - 1), 2**63 - 1, -(2**63), None, 0]


def _json_case() -> tuple[pa.Table, ExportContext]:
    table = pa.table(
        {
            "i": pa.array(BIG, pa.int64()),
            "u": pa.array(UNSIGNED, pa.uint64()),
            "d": pa.array(BIG, pa.int64()).dictionary_encode(),
        }
    )
    ctx = hostile_context(table, columns=[{"name": n, "type": "integer"} for n in "iud"])
    return table, ctx


def _exact(value: int | None) -> int | str | None:
    """What the JSON holds: a number within ±(2**53 - 1), else the digits as a string."""
    return value if value is None or abs(value) < 2**53 else str(value)


def test_integers_past_two_to_the_53_read_back_exactly_in_jq_and_duckdb(tmp_path: Path) -> None:
    table, ctx = _json_case()
    document = _write(json_export.JSON, ctx, table, tmp_path / "rows.json")
    lines = _write(json_export.NDJSON, ctx, table, tmp_path / "rows.ndjson")
    expected = {"i": [_exact(v) for v in BIG], "u": [_exact(v) for v in UNSIGNED]}
    expected["d"] = expected["i"]
    for column, values in expected.items():
        from_document = run("jq", "-c", f"[.rows[].{column}]", document)
        from_lines = run("jq", "-c", "-s", f"map(.{column})", lines)
        # jq prints what it holds: a number past 2**53 would come back rounded.
        assert json.loads(from_document) == values == json.loads(from_lines), column
    wanted = [tuple(row.values()) for row in table.to_pylist()]
    types = "{'i': 'HUGEINT', 'u': 'UBIGINT', 'd': 'HUGEINT'}"
    with duckdb.connect() as db:
        got = db.sql(f"SELECT i, u, d FROM read_ndjson('{lines}', columns={types})").fetchall()
        assert got == wanted
        rows = db.sql(
            "SELECT r.i::HUGEINT, r.u::UBIGINT, r.d::HUGEINT FROM "
            f"(SELECT unnest(rows) AS r FROM read_json('{document}'))"
        ).fetchall()
        assert rows == wanted


def test_json_keeps_ordinary_integers_as_numbers() -> None:
    table = pa.table({"n": pa.array([0, -1, 2**53 - 1, None], pa.int64()),
                      "s": pa.array([1, 2, 3, 4], pa.int16())})  # fmt: skip
    out = io.BytesIO()
    json_export.NDJSON.write(hostile_context(table), TableSource(table), out, lambda _n: None)
    assert out.getvalue() == (
        b'{"n":0,"s":1}\n{"n":-1,"s":2}\n{"n":9007199254740991,"s":3}\n{"n":null,"s":4}\n'
    )


def test_csv_timestamps_read_as_date_times_in_libreoffice_and_duckdb(tmp_path: Path) -> None:
    table = pa.table(
        {
            "code": pa.array(["00123", "00456", "x", "y"]),
            "at": pa.array(
                [
                    datetime(2026, 11, 30, 14, 5, tzinfo=UTC),
                    None,
                    datetime(1999, 1, 2, 3, 4, 5, tzinfo=UTC),
                    datetime(2000, 2, 29, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "wall": pa.array(
                [
                    datetime(2026, 11, 30, 14, 5, 0, 250000),
                    datetime(2026, 1, 1),
                    None,
                    datetime(2026, 1, 1, 0, 0, 0, 600),
                ],
                pa.timestamp("us"),
            ),
            "day": pa.array([date(2026, 11, 30)] * 4),
            "u": pa.array([2**64 - 1, 0, 2**53 + 1, None], pa.uint64()),
        }
    )
    ctx = hostile_context(table, timezone="America/New_York")  # CSV times are UTC's anyway
    path = _write(csv_export.EXPORTER, ctx, table, tmp_path / "rows.csv")
    lines = path.read_text().splitlines()
    assert lines[1] == (
        '"00123",2026-11-30 14:05:00,2026-11-30 14:05:00.250000,2026-11-30,18446744073709551615'
    )
    # LibreOffice with "quoted field as text" (so 00123 stays text) and special numbers on.
    out = tmp_path / "lo"
    run(
        "soffice",
        f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
        "--headless",
        "--infilter=CSV:44,34,76,1,,0,true,true",
        "--convert-to",
        "xlsx",
        "--outdir",
        out,
        path,
        timeout=180,
    )
    sheet = openpyxl.load_workbook(out / "rows.xlsx").active
    cells = list(sheet.iter_rows(min_row=2))
    assert [row[0].value for row in cells] == ["00123", "00456", "x", "y"]
    assert [row[1].value for row in cells] == [
        datetime(2026, 11, 30, 14, 5),
        None,
        datetime(1999, 1, 2, 3, 4, 5),
        datetime(2000, 2, 29),
    ]
    assert [row[2].value for row in cells] == [
        datetime(2026, 11, 30, 14, 5, 0, 250000), datetime(2026, 1, 1), None,
        datetime(2026, 1, 1, 0, 0, 0, 1000),  # LibreOffice keeps milliseconds
    ]  # fmt: skip
    assert all(row[3].value == datetime(2026, 11, 30) for row in cells)
    with duckdb.connect() as db:
        query = 'SELECT "at", wall, "day", u FROM read_csv($path)'
        relation = db.sql(query, params={"path": str(path)})
        assert [str(kind) for kind in relation.types] == [
            "TIMESTAMP", "TIMESTAMP", "DATE", "HUGEINT"  # every digit of 2**64 - 1
        ]  # fmt: skip
        naive = [
            tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row.values())
            for row in table.select(["at", "wall", "day", "u"]).to_pylist()
        ]
        assert relation.fetchall() == naive
