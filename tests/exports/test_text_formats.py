"""CSV, JSON, NDJSON and Parquet against hostile values, read back by independent readers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from broadsheet.exports import csv as csv_export
from broadsheet.exports import json as json_export
from broadsheet.exports import parquet as parquet_export
from broadsheet.exports.base import Exporter, ExportOptions
from tests.exports.hostile import TEXTS, hostile_context, hostile_source, hostile_table

FORMULA_LIKE = {"=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tleading tab", "\rleading cr"}


def render(exporter: Exporter, **options: Any) -> tuple[bytes, list[int]]:
    seen: list[int] = []
    out = io.BytesIO()
    ctx = hostile_context(options=ExportOptions(**options))
    exporter.write(ctx, hostile_source(), out, seen.append)
    return out.getvalue(), seen


def test_csv_round_trips_through_the_csv_module() -> None:
    data, progress = render(csv_export.EXPORTER)
    assert progress[-1] == len(TEXTS)
    text = data.decode("utf-8")
    assert not text.startswith("\ufeff")
    # One line ending throughout: every \n outside a quoted cell is part of \r\n.
    records = list(csv.reader(io.StringIO(text, newline="")))
    header, *rows = records
    assert header == ["text", "integer", "number", "exact", "day", "at", "flag"]
    assert len(rows) == len(TEXTS)
    table = hostile_table().to_pylist()
    for row, source in zip(rows, table, strict=True):
        original = source["text"]
        if original is None:
            assert row[0] == ""
        elif original in FORMULA_LIKE:
            assert row[0] == "'" + original  # neutralised, and otherwise intact
        else:
            assert row[0] == original  # commas, quotes, CRLF, tabs, padding, "-42", CJK…
        assert row[1] == str(source["integer"])
        assert row[2] == ("" if source["number"] is None else repr(source["number"]))
        assert Decimal(row[3]) == source["exact"]
        assert row[4] == source["day"].isoformat()
        assert row[5] == source["at"].strftime("%Y-%m-%d %H:%M:%S")  # its UTC time
        assert row[6] == {True: "true", False: "false", None: ""}[source["flag"]]


def test_csv_line_endings_quotes_and_bom() -> None:
    data, _ = render(csv_export.EXPORTER, bom=True)
    assert data.startswith(b"\xef\xbb\xbf")
    body = data[3:].decode()
    lines_outside_quotes = body.replace('"crlf\r\ninside"', "").replace('"new\nline"', "")
    assert "\n" not in lines_outside_quotes.replace("\r\n", "")
    assert '"quote "" inside"' in body and '"comma, inside"' in body
    # Text is always quoted (so "" and an empty null differ); numbers, dates and times never.
    first_data_line = body.split("\r\n")[1]
    assert first_data_line == '"plain",1,,12345678901234567.89,2024-01-01,2024-03-10 06:30:00,true'
    empty_and_null = body.split("\r\n")[9:11]  # (one cell above holds a CRLF)
    assert [line.split(",")[0] for line in empty_and_null] == ['""', ""]


def test_csv_keeps_plain_numbers_and_numeric_columns_untouched() -> None:
    table = pa.table({"t": ["-42", "+7", "-1.5e3", "-2+3", ".5"], "n": [-42, 7, -1500, 1, 0]})
    out = io.BytesIO()
    ctx = hostile_context(
        table, columns=[{"name": "t", "type": "string"}, {"name": "n", "type": "integer"}]
    )
    csv_export.EXPORTER.write(ctx, hostile_source(table), out, lambda _n: None)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode(), newline="")))[1:]
    assert [r[0] for r in rows] == ["-42", "+7", "-1.5e3", "'-2+3", ".5"]
    assert [r[1] for r in rows] == ["-42", "7", "-1500", "1", "0"]


def test_json_document_is_complete_and_exact() -> None:
    data, progress = render(json_export.JSON)
    document = json.loads(data)
    assert progress[-1] == len(TEXTS)
    assert document["report"]["name"] == "Hostile Values 报告"
    assert document["resultId"] == "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
    assert document["generatedAt"] == "2024-02-01T14:00:00+00:00"
    assert document["parameters"] == {"startDate": "2024-01-01", "region": "日本"}
    assert [c["name"] for c in document["columns"]][:2] == ["text", "integer"]
    rows = document["rows"]
    assert [r["text"] for r in rows] == TEXTS  # nothing neutralised or mangled in JSON
    assert rows[0]["exact"] == "12345678901234567.89"  # a double would round it: a string
    assert rows[1]["exact"] == 0.25  # exactly representable: a number
    assert rows[0]["day"] == "2024-01-01" and rows[0]["at"] == "2024-03-10T06:30:00+00:00"
    assert rows[4]["flag"] is None and rows[0]["flag"] is True
    assert rows[5]["number"] is None and rows[1]["number"] == -5.75


def test_ndjson_is_one_row_per_line() -> None:
    data, _ = render(json_export.NDJSON)
    lines = data.decode().splitlines()
    assert len(lines) == len(TEXTS)
    parsed = [json.loads(line) for line in lines]
    assert [p["text"] for p in parsed] == TEXTS
    assert parsed[3]["text"] == "new\nline"  # escaped inside the line, not a line break


def test_json_has_null_for_nan_and_infinity_and_iso_dates() -> None:
    """Columns converted by Arrow as a whole (floats, dates) say what value by value would."""
    table = pa.table(
        {
            "x": pa.array([1.5, float("nan"), float("inf"), float("-inf"), None], pa.float64()),
            "d": pa.array([date(2024, 2, 29), None, date(1, 1, 1), date(9999, 12, 31), None]),
            "big": pa.array([2**63 - 1, -(2**63), 0, None, 1], pa.int64()),
        }
    )
    for exporter in (json_export.JSON, json_export.NDJSON):
        out = io.BytesIO()
        exporter.write(hostile_context(table), hostile_source(table), out, lambda _n: None)
        text = out.getvalue().decode()
        assert "NaN" not in text and "Infinity" not in text
        rows = (
            json.loads(text)["rows"]
            if exporter is json_export.JSON
            else [json.loads(line) for line in text.splitlines()]
        )
        assert [r["x"] for r in rows] == [1.5, None, None, None, None]
        assert [r["d"] for r in rows] == ["2024-02-29", None, "0001-01-01", "9999-12-31", None]
        # Past ±(2**53 - 1) a string: JavaScript and jq would round the number.
        assert [r["big"] for r in rows] == [str(2**63 - 1), str(-(2**63)), 0, None, 1]


def test_parquet_keeps_types_and_context() -> None:
    data, _ = render(parquet_export.EXPORTER)
    table = pq.read_table(io.BytesIO(data))
    assert table.equals(hostile_table())
    meta = json.loads(table.schema.metadata[b"broadsheet"])
    assert meta["report"]["name"] == "Hostile Values 报告"


def test_empty_result_still_has_a_header() -> None:
    empty = hostile_table().slice(0, 0)
    out = io.BytesIO()
    csv_export.EXPORTER.write(hostile_context(empty), hostile_source(empty), out, lambda _n: None)
    assert out.getvalue().decode().strip() == '"text","integer","number","exact","day","at","flag"'
    document = io.BytesIO()
    json_export.JSON.write(hostile_context(empty), hostile_source(empty), document, lambda _n: None)
    assert json.loads(document.getvalue())["rows"] == []


def test_naive_timestamps_have_no_zone_suffix() -> None:
    table = pa.table({"at": pa.array([datetime(2024, 1, 2, 3, 4, 5, 600)], pa.timestamp("us"))})
    out = io.BytesIO()
    csv_export.EXPORTER.write(hostile_context(table), hostile_source(table), out, lambda _n: None)
    assert out.getvalue().decode().split("\r\n")[1] == "2024-01-02 03:04:05.000600"
    assert date(2024, 1, 2) and UTC  # imported for readers of the expectations above


def test_csv_header_is_neutralised_too() -> None:
    table = pa.table({'=HYPERLINK("http://x")': ["a"], "plain": ["b"], "-42": ["c"]})
    out = io.BytesIO()
    ctx = hostile_context(
        table, columns=[{"name": n, "type": "string"} for n in table.column_names]
    )
    csv_export.EXPORTER.write(ctx, hostile_source(table), out, lambda _n: None)
    header = next(csv.reader(io.StringIO(out.getvalue().decode(), newline="")))
    assert header == ['\'=HYPERLINK("http://x")', "plain", "-42"]


def test_read_ahead_stops_cleanly_when_the_writer_fails(tmp_path: Any) -> None:
    from broadsheet.exports.base import ParquetSource

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"n": list(range(300_000))}), path, row_group_size=50_000)
    source = ParquetSource(path)
    seen = 0
    try:
        for _batch in source.batches(batch_rows=65_536):
            seen += 1
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    assert seen == 1  # and we are here: the reader thread did not hang the exporter
    assert sum(b.num_rows for b in source.batches()) == 300_000


def test_times_keep_their_zone_rule_whatever_the_reports_zone() -> None:
    """What the README says: CSV writes zoned timestamps as their UTC time, JSON and NDJSON in
    UTC with an offset; naive ones as they are; none in the report's zone (Lord Howe here)."""
    table = pa.table(
        {
            "at": pa.array([datetime(2024, 1, 1, 12, 0, tzinfo=UTC)], pa.timestamp("us", "UTC")),
            "wall": pa.array([datetime(2024, 1, 1, 12, 0, 30)], pa.timestamp("us")),
        }
    )
    ctx = hostile_context(table, timezone="Australia/Lord_Howe")
    written = {}
    for exporter in (csv_export.EXPORTER, json_export.JSON, json_export.NDJSON):
        out = io.BytesIO()
        exporter.write(ctx, hostile_source(table), out, lambda _n: None)
        written[exporter.name] = out.getvalue().decode()
    assert written["csv"].splitlines()[1] == "2024-01-01 12:00:00,2024-01-01 12:00:30"
    expected = {"at": "2024-01-01T12:00:00+00:00", "wall": "2024-01-01T12:00:30"}
    assert json.loads(written["json"])["rows"] == [expected]
    assert json.loads(written["ndjson"]) == expected
