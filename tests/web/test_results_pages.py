"""The result page (TestClient, on SQLite and PostgreSQL): its summary, pages of 50 rows, sorting
over the whole result (checked against the API's rows), the charts' files, the downloads as
attachments that open, other tenants' ids; and the sorting itself on a many-row-group file."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pdfplumber
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.models import Role
from broadsheet.results import sorting
from broadsheet.storage.local import LocalStorage
from broadsheet.web.result_view import cells
from tests.factories import Caller, Tenancy
from tests.web.helpers import assert_not_found, create_report, page_client, sign_in_as
from tests.web.report_runs import last_days, report_id, run_to_result

_CELLS = re.compile(r"<tr>\s*((?:<td[^>]*>[^<]*</td>)+)\s*</tr>")
_CELL = re.compile(r"<td[^>]*>([^<]*)</td>")


# Results are read by viewers: the pages' client signs in as one, and the API that checks
# them is called with a viewer's key.
@pytest.fixture
def web(web: TestClient, sessions: sessionmaker[Session]) -> TestClient:
    sign_in_as(web, sessions, Role.viewer)
    return web


@pytest.fixture
def api(tenancy: Tenancy) -> Caller:
    return tenancy.key("acme", Role.viewer)


@pytest.fixture
def monthly(web: TestClient, sessions: sessionmaker[Session]) -> str:
    """A result of the Monthly Performance Report over 90 days: a few hundred rows."""
    start, end = last_days(90)
    rid = report_id(sessions, "Monthly Performance Report")
    return run_to_result(web, rid, {"startDate": start, "endDate": end})


def _rows(page_html: str) -> list[list[str]]:
    table = page_html[page_html.index('class="table table--compact result-table"') :]
    return [_CELL.findall(row) for row in _CELLS.findall(table)]


def _api_rows(
    client: TestClient, caller: Caller, result_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The result's columns and every row, as the API answers them."""
    answer = client.get(
        f"/api/v1/reports/results/{result_id}", params={"pageSize": 10000}, headers=caller.headers
    ).json()
    return answer["data"]["columns"], answer["data"]["rows"]


def test_the_result_page_summarises_and_pages_the_rows(
    web: TestClient, api: Caller, monthly: str
) -> None:
    columns, every = _api_rows(web, api, monthly)
    assert len(every) > 100
    page = web.get(f"/results/{monthly}")
    assert page.status_code == 200
    text = page.text
    assert "<title>Result of Monthly Performance Report · Broadsheet</title>" in text
    assert re.search(rf"<dt>Rows</dt><dd>{len(every):,}</dd>", text)
    assert re.search(r"<dt>Execution time</dt><dd>[\d,]+ ms</dd>", text)
    start, end = last_days(90)
    assert f"<li>Start Date: {start}</li>" in text and f"<li>End Date: {end}</li>" in text
    for label in ("Download CSV", "Download Excel", "Download PDF", "Download JSON"):
        assert f">{label}</a>" in text
    # The chart: the server's drawing inside charts.js's markup, with its text alternatives.
    assert f'data-vega-spec-url="/results/{monthly}/charts/perf-chart.json"' in text
    assert re.search(
        rf'<img src="/results/{monthly}/charts/perf-chart.svg" alt="A line chart of return over '
        r'date, one line per strategy \([\d,]+ points\)\."',
        text,
    )
    assert "<summary>Show as table" in text
    # 50 rows a page, in the query's order, as the API has them.
    assert _rows(text) == cells(every[:50], columns)
    assert f'href="/results/{monthly}?page=2" rel="next">Next</a>' in text
    second = web.get(f"/results/{monthly}", params={"page": 2}).text
    assert _rows(second) == cells(every[50:100], columns)
    assert f'href="/results/{monthly}?page=1" rel="prev">Previous</a>' in second
    last = -(-len(every) // 50)
    for asked in (last, last + 1, 10**12):
        past = web.get(f"/results/{monthly}", params={"page": asked})
        assert past.status_code == 200
        assert _rows(past.text) == cells(every[(last - 1) * 50 :], columns)
        assert f"Page {last} of {last}" in past.text


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_a_column_sorts_the_whole_result(
    web: TestClient, api: Caller, monthly: str, direction: str
) -> None:
    columns, every = _api_rows(web, api, monthly)
    page = web.get(f"/results/{monthly}").text
    # Each header is a link that sorts by its column (ascending first).
    assert f'<a class="sort-link" href="/results/{monthly}?sort=return&amp;dir=asc">return' in page
    # Stable: equal values keep the query's order, either way.
    sign = 1 if direction == "asc" else -1
    expected = sorted(every, key=lambda r: sign * r["return"])
    pages = -(-len(every) // 50)
    for number in range(1, pages + 1):
        answer = web.get(
            f"/results/{monthly}", params={"sort": "return", "dir": direction, "page": number}
        )
        assert answer.status_code == 200
        assert _rows(answer.text) == cells(expected[(number - 1) * 50 : number * 50], columns)
    sorted_page = web.get(f"/results/{monthly}", params={"sort": "return", "dir": direction}).text
    word = "ascending" if direction == "asc" else "descending"
    assert f'aria-sort="{word}"' in sorted_page and f"sorted by return ({word})" in sorted_page
    then = "desc" if direction == "asc" else "asc"
    assert f'href="/results/{monthly}?sort=return&amp;dir={then}">return' in sorted_page
    # Paging keeps the order.
    assert f"/results/{monthly}?sort=return&amp;dir={direction}&amp;page=2" in sorted_page


def test_odd_addresses_never_fail(web: TestClient, monthly: str) -> None:
    for params in (
        {"sort": "no such column"},
        {"sort": "<script>", "dir": "sideways"},
        {"dataset": "nope", "page": "-3"},
        {"sort": "return", "dir": "desc", "page": "abc"},
    ):
        answer = web.get(f"/results/{monthly}", params=params)
        assert answer.status_code == 200, params
        assert "<script>" not in answer.text.split("<main", 1)[1]


def test_htmx_swaps_the_rows_alone(web: TestClient, monthly: str) -> None:
    answer = web.get(
        f"/results/{monthly}",
        params={"page": 2, "sort": "date"},
        headers={"HX-Request": "true", "HX-Target": "result-rows", "HX-Boosted": "true"},
    )
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section id="result-rows"')
    assert "<html" not in answer.text and "Download CSV" not in answer.text
    assert 'id="rows-heading" tabindex="-1" autofocus' in answer.text
    assert "autofocus" not in web.get(f"/results/{monthly}").text


def test_the_chart_files(web: TestClient, monthly: str) -> None:
    svg = web.get(f"/results/{monthly}/charts/perf-chart.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<svg")
    spec = web.get(f"/results/{monthly}/charts/perf-chart.json")
    assert spec.status_code == 200
    payload = spec.json()
    assert payload["spec"]["mark"] and len(payload["chartData"]) > 10
    for missing in ("nope.svg", "perf-chart.gif", "perf-chart", "nope.json"):
        assert web.get(f"/results/{monthly}/charts/{missing}").status_code == 404, missing


def test_each_download_is_an_attachment_that_opens(
    web: TestClient, api: Caller, monthly: str
) -> None:
    columns, every = _api_rows(web, api, monthly)
    files: dict[str, bytes] = {}
    for fmt, extension in (("csv", "csv"), ("excel", "xlsx"), ("pdf", "pdf"), ("json", "json")):
        answer = web.get(f"/results/{monthly}/download/{fmt}")
        assert answer.status_code == 200, fmt
        disposition = answer.headers["content-disposition"]
        stem = r"monthly-performance-report_\d{4}-\d\d-\d\d_\d{4}"
        assert re.fullmatch(rf'attachment; filename="{stem}\.{extension}"', disposition)
        files[fmt] = answer.content
    table = list(csv.reader(io.StringIO(files["csv"].decode("utf-8"))))
    assert table[0] == [c["name"] for c in columns] and len(table) == len(every) + 1
    sheet = openpyxl.load_workbook(io.BytesIO(files["excel"]), read_only=True).worksheets[0]
    assert sum(1 for _ in sheet.iter_rows()) >= len(every)
    with pdfplumber.open(io.BytesIO(files["pdf"])) as pdf:
        assert "Monthly Performance Report" in pdf.pages[0].extract_text()
    document = json.loads(files["json"])
    assert len(document["rows"] if isinstance(document, dict) else document) == len(every)
    assert web.get(f"/results/{monthly}/download/exe").status_code == 404


def test_another_tenants_result_is_the_404_page(
    web: TestClient,
    sessions: sessionmaker[Session],
    settings: Settings,
    tenancy: Tenancy,
    monthly: str,
) -> None:
    tenancy.demo("globex")
    with page_client(settings) as other:
        sign_in_as(other, sessions, Role.admin, tenant="globex")
        assert_not_found(
            other,
            [
                f"/results/{monthly}",
                f"/results/{monthly}/charts/perf-chart.svg",
                f"/results/{monthly}/charts/perf-chart.json",
                f"/results/{monthly}/download/csv",
                f"/results/{uuid.uuid4()}",
                "/results/not-an-id",
            ],
        )


def test_other_datasets_and_empty_results(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    rid = create_report(
        sessions,
        settings,
        name="Two datasets",
        query="SELECT strategy, date FROM portfolio_performance WHERE date <= :endDate",
        datasets={"tickers": "SELECT DISTINCT ticker FROM prices ORDER BY ticker"},
        parameters=[{"name": "endDate", "label": "End Date", "type": "date"}],
        visualizations=[],
        layout=None,
    )
    empty = run_to_result(web, rid, {"endDate": "1999-01-01"})
    page = web.get(f"/results/{empty}").text
    assert "The query returned no rows." in page and "<dt>Rows</dt><dd>0</dd>" in page
    assert '<nav class="datasets" aria-label="Datasets">' in page
    tickers = web.get(f"/results/{empty}", params={"dataset": "tickers"}).text
    assert '<span aria-current="page">tickers</span>' in tickers
    assert _rows(tickers)[0] == ["ACME"]
    assert f'href="/results/{empty}?dataset=tickers&amp;sort=ticker&amp;dir=asc"' in tickers
    desc = web.get(
        f"/results/{empty}", params={"dataset": "tickers", "sort": "ticker", "dir": "desc"}
    )
    assert _rows(desc.text)[-1] == ["ACME"]


def test_cells_print_as_the_pdf_does() -> None:
    declared = [
        {"name": "n", "type": "integer"},
        {"name": "x", "type": "number"},
        {"name": "t", "type": "timestamp"},
        {"name": "b", "type": "boolean"},
        {"name": "s", "type": "string"},
        {"name": "d", "type": "decimal"},
    ]
    rows: list[dict[str, Any]] = [
        {
            "n": 1234567,
            "x": 0.5,
            "t": "2025-01-02T03:04:00+00:00",
            "b": True,
            "s": "<a>",
            "d": "1.10",
        },
        {"n": None, "x": 19.99, "t": "2025-01-02T03:04:05+00:00", "b": False, "s": "", "d": None},
        {"n": -3, "x": None, "t": None, "b": None, "s": None, "d": "-2.00"},
    ]
    assert cells(rows, declared) == [
        ["1,234,567", "0.50", "2025-01-02 03:04:00 UTC", "Yes", "<a>", "1.10"],
        ["", "19.99", "2025-01-02 03:04:05 UTC", "No", "", ""],
        ["-3", "", "", "", "", "-2.00"],
    ]


# --- sorting over a whole file ------------------------------------------------------------------


def test_sorting_is_stable_nulls_last_across_row_groups(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    values = [3, None, 1, 2.5, None, 1, 3, float("nan"), -4, 1]
    strings = ["b", None, "a", "c", "a", None, "B", "a", "", "b"]
    table = pa.table(
        {
            "id": list(range(len(values))),
            "value": pa.array(values, type=pa.float64()),
            "text": pa.array(strings, type=pa.string()),
        }
    )
    source = tmp_path / "main.parquet"
    pq.write_table(table, source, row_group_size=3)  # four row groups
    storage.put_file("results/r1/main.parquet", source)

    def ids(column: str, direction: str, offset: int = 0, limit: int = 100) -> list[int]:
        rows = sorting.sorted_page(storage, "results/r1/", "main", column, direction, offset, limit)
        return [row["id"] for row in rows]

    # Numbers ascending, NaN after the numbers, nulls last; ties in file order.
    assert ids("value", "asc") == [8, 2, 5, 9, 3, 0, 6, 7, 1, 4]
    # Descending: ties still in file order, NaN and nulls still last.
    assert ids("value", "desc") == [0, 6, 3, 2, 5, 9, 8, 7, 1, 4]
    assert ids("text", "asc") == [8, 6, 2, 4, 7, 0, 9, 3, 1, 5]
    assert ids("text", "desc") == [3, 0, 9, 2, 4, 7, 6, 8, 1, 5]
    # Pages of the order, across row group edges.
    assert ids("value", "asc", 2, 3) == [5, 9, 3]
    assert ids("value", "asc", 9, 5) == [4]
    assert ids("value", "asc", 20, 5) == []
    # The order is kept beside the result, once per column and direction.
    kept = sorted(p.name for p in (tmp_path / "storage/results/r1/sorted/main").iterdir())
    assert kept == ["1-asc.parquet", "1-desc.parquet", "2-asc.parquet", "2-desc.parquet"]
    with pytest.raises(sorting.CannotSort):
        ids("nope", "asc")
    assert sorting.sortable(sorting.MAX_SORT_ROWS) and not sorting.sortable(
        sorting.MAX_SORT_ROWS + 1
    )
