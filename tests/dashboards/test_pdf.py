"""One PDF of a whole dashboard: read back with pdfplumber, qpdf and pdftotext as people open
it — widgets in grid order, filters, tables from the stored rows under the row cap, metrics
with their change, widgets without data printed as such, hostile text printed literally —
and through ``GET /api/v1/dashboards/{id}/export`` on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pdfplumber
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.charts import specs
from broadsheet.dashboards import pdf
from broadsheet.dashboards.schemas import DashboardDocument
from broadsheet.exports.base import MAX_PDF_MAX_ROWS, ParquetSource, TableSource
from broadsheet.exports.pdf import MAX_CELLS
from broadsheet.kit import display
from broadsheet.models import DashboardView, ReportDefinition, ReportJob, Role
from tests.dashboards.test_definitions import MONTHLY, board, errors_of, report_id
from tests.factories import Caller, Tenancy
from tests.tools import run

MADE_AT = datetime(2025, 3, 30, 22, 30, tzinfo=UTC)  # 00:30 on the 31st in Paris (CEST)
HOSTILE = '#panic("x") $x$ *bold* ] \\ <script>alert(1)</script> #'
# Typst's markup in Markdown that means nothing to Markdown (which reads *bold* as emphasis).
TYPST = '#panic("x") $x$ ] \\ @ref <label> <script>alert(1)</script> #set page(width: 1pt)'


# A dashboard document as the data service answers it, built by hand --------------------------


def widget(
    widget_id: str,
    kind: str,
    title: str | None,
    at: tuple[int, int],
    data: dict[str, Any],
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    x, y = at
    return {
        "id": widget_id,
        "type": kind,
        "title": title,
        "source": source or {},
        "position": {"x": x, "y": y},
        "size": {"width": 3, "height": 2},
        "options": {},
        "data": data,
    }


def ready(**data: Any) -> dict[str, Any]:
    return {
        "status": "ready",
        "error": None,
        "resultId": str(uuid.uuid4()),
        "generatedAt": (MADE_AT - timedelta(minutes=5)).isoformat(),
        "parameters": {"startDate": "2025-03-01"},
        "jobId": None,
        **data,
    }


def without_data(status: str, error: str | None) -> dict[str, Any]:
    return {"status": status, "error": error, "resultId": None, "generatedAt": None}


def line_chart() -> dict[str, Any]:
    table = pa.table(
        {
            "day": [f"2025-03-{d:02d}" for d in range(1, 11)],
            "pnl": [float(d * 7 % 5) for d in range(10)],
        }
    )
    definition = {
        "id": "l",
        "type": "line",
        "title": "PnL",
        "dataMapping": {"x": "day", "y": "pnl"},
    }
    built: dict[str, Any] = specs.build(definition, table)
    return built


def trades(rows: int) -> pa.Table:
    return pa.table(
        {
            "trade_id": [f"T-{i:05d}" for i in range(rows)],
            "desk": [("Rates", "FX", "Equities")[i % 3] for i in range(rows)],
            "notional": pa.array([i * 1000 + 0.5 for i in range(rows)], pa.float64()),
        }
    )


TRADE_COLUMNS = [
    {"name": "trade_id", "type": "string"},
    {"name": "desk", "type": "string"},
    {"name": "notional", "type": "number"},
]


def document(widgets: list[dict[str, Any]], **changes: Any) -> DashboardDocument:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": "Trading Overview",
        "description": "Desks at a glance.",
        "createdAt": MADE_AT.isoformat(),
        "updatedAt": MADE_AT.isoformat(),
        "createdBy": str(uuid.uuid4()),
        "tags": [],
        "version": 1,
        "layout": {"type": "grid", "columns": 12},
        "refreshInterval": 300,
        "timezone": "Europe/Paris",
        "parameters": [
            {"name": "since", "label": "Since", "type": "date", "targets": []},
            {
                "name": "region",
                "label": "Region",
                "type": "enum",
                "options": [{"value": "south", "label": "South"}],
                "targets": [],
            },
            {"name": "desk", "label": "Desk", "type": "string", "targets": []},
        ],
        "filters": {"since": "2025-03-01", "region": "south", "desk": None},
        "lastUpdated": (MADE_AT - timedelta(minutes=5)).isoformat(),
        "widgets": widgets,
    }
    body.update(changes)
    return DashboardDocument.model_validate(body)


def render(doc: DashboardDocument, tables: dict[str, pdf.TableRows] | None = None) -> bytes:
    return pdf.render(doc, tables or {}, MADE_AT)


def text_of(content: bytes) -> str:
    """The text layer of every page as pdfplumber reads it, lines joined by newlines."""
    with pdfplumber.open(io.BytesIO(content)) as read:
        return "\n".join(page.extract_text() or "" for page in read.pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def in_order(text: str, *parts: str) -> bool:
    places = [text.find(p) for p in parts]
    return -1 not in places and places == sorted(places)


@functools.cache
def grid_board() -> bytes:
    """Widgets listed out of grid order: a chart, a table, metrics, text and ones without
    data."""
    widgets = [
        widget("notes", "text", None, (0, 9), ready(), {"markdown": "## Desk notes\n\nAll calm."}),
        widget("table", "report", "Trade Blotter", (0, 5), ready(columns=TRADE_COLUMNS)),
        widget("broken", "metric", "Positions", (6, 4), without_data("failed", "relation gone")),
        widget(
            "total",
            "metric",
            "Total Return",
            (6, 0),
            ready(
                column="return",
                aggregate="sum",
                value=125.5,
                previousValue=100.0,
                change=25.5,
                changePercent=25.5,
            ),
        ),
        widget("chart", "visualization", "Daily PnL", (0, 0), ready(**line_chart())),
        widget("later", "metric", "Open Orders", (9, 0), without_data("pending", None)),
        widget("gone", "visualization", "Old Chart", (0, 4), without_data("unavailable", None)),
        widget(
            "slow",
            "report",
            "Settlements",
            (3, 4),
            without_data("refreshing", "the source is slow"),
        ),
    ]
    return render(document(widgets), {"table": pdf.TableRows(TableSource(trades(12)))})


# The renderer -------------------------------------------------------------------------------


def test_the_header_names_the_dashboard_its_filters_and_when_in_its_zone() -> None:
    text = text_of(grid_board())
    assert text.startswith("Trading Overview\nDesks at a glance.")
    assert "Generated 2025-03-31 00:30 CEST (Europe/Paris)" in text
    assert "Data as of 2025-03-31 00:25 CEST (Europe/Paris)" in text
    assert in_order(text, "Filters", "Since 2025-03-01", "Region South (south)", "Desk not set")


def test_widgets_print_in_grid_order_top_to_bottom_then_left_to_right() -> None:
    text = text_of(grid_board())
    titles = [
        "Daily PnL",  # (0, 0)
        "Total Return",  # (6, 0)
        "Open Orders",  # (9, 0)
        "Old Chart",  # (0, 4)
        "Settlements",  # (3, 4)
        "Positions",  # (6, 4)
        "Trade Blotter",  # (0, 5)
        "Desk notes",  # (0, 9): a text widget without a title starts with its own heading
    ]
    assert in_order(text, *titles), text


def test_a_widget_without_data_is_printed_as_such_with_its_error() -> None:
    text = flat(text_of(grid_board()))
    assert "Positions Failed: relation gone" in text
    assert "Open Orders Pending: no result yet" in text
    assert "Old Chart Unavailable: the report was deleted or is not visible." in text
    assert "Settlements Refreshing: the source is slow" in text


def test_a_metric_prints_its_value_and_its_change() -> None:
    text = text_of(grid_board())
    assert in_order(text, "Total Return", "125.5\nsum of return\n", "Previous 100.0")
    assert "Previous 100.0 · change +25.5 (+25.5 %)" in text

    falling = ready(column="price", aggregate="first", value=1200, previousValue=1500)
    falling |= {"change": -300, "changePercent": -20.0}
    first = ready(column="price", aggregate="avg", value=0.125)
    first |= {"previousValue": None, "change": None, "changePercent": None}
    text = text_of(
        render(
            document(
                [
                    widget("a", "metric", "Falling", (0, 0), falling),
                    widget("b", "metric", "First Ever", (0, 1), first),
                ]
            )
        )
    )
    assert "1,200\nprice, first row\nPrevious 1,500 · change -300 (-20.0 %)" in text
    assert "0.125\naverage of price\nNo earlier result to compare with." in text


def test_a_table_shows_its_stored_rows_up_to_the_row_cap_with_how_many_of_how_many(
    tmp_path: Path,
) -> None:
    path = tmp_path / "main.parquet"
    pq.write_table(trades(2500), path, row_group_size=500)
    first_page = [{"trade_id": "T-00000", "desk": "Rates", "notional": 0.5}]
    data = ready(columns=TRADE_COLUMNS, rows=first_page, totalRows=2500, pageSize=1)
    doc = document([widget("t", "report", "Blotter", (0, 0), data)])
    text = text_of(render(doc, {"t": pdf.TableRows(ParquetSource(path), cap=40)}))
    assert "First 40 of 2,500 rows. The full data is in the report's CSV or Excel export." in text
    assert "trade_id desk notional" in text
    # Not only the first page the document carries: every row up to the cap.
    assert "T-00000 Rates 0.5" in text and "T-00039 Rates 39,000.5" in text
    assert "T-00040" not in text

    whole = text_of(render(doc, {"t": pdf.TableRows(ParquetSource(path), cap=MAX_PDF_MAX_ROWS)}))
    assert "All 2,500 rows." in whole and "T-02499 Rates 2,499,000.5" in whole


def test_a_table_whose_rows_are_not_stored_prints_the_page_its_data_carries() -> None:
    rows = [{"trade_id": f"T-{i:05d}", "desk": "FX", "notional": i + 0.5} for i in range(3)]
    data = ready(columns=TRADE_COLUMNS, rows=rows, totalRows=30, pageSize=3)
    text = text_of(render(document([widget("t", "report", "Blotter", (0, 0), data)])))
    assert "First 3 of 30 rows." in text
    assert "T-00002 FX 2.5" in text


def test_the_tables_of_one_pdf_share_the_report_pdfs_cell_bound() -> None:
    """Fifty tables of a thousand rows would take Typst past its memory: the report PDF's
    bound on one table's cells holds for all of a dashboard's together."""
    wide = pa.table({f"c{i:02d}": pa.array(range(1000), pa.int64()) for i in range(60)})
    columns = [{"name": n, "type": "integer"} for n in wide.schema.names]
    widgets = [
        widget(name, "report", name, (0, y), ready(columns=columns))
        for y, name in enumerate(("one", "two", "three"))
    ]
    tables = {name: pdf.TableRows(TableSource(wide), 1000) for name in ("one", "two", "three")}
    made = pdf.template_document(document(widgets), tables, MADE_AT)
    notes = [flat(str(w["table"]["note"])) for w in made["widgets"]]
    left = (MAX_CELLS - 60_000) // 60
    assert notes[0] == "All 1,000 rows."
    assert notes[1].startswith(f"First {left:,} of 1,000 rows (the tables of one PDF hold")
    assert notes[2].startswith("First 0 of 1,000 rows")
    cells = [len(w["table"]["groups"][0]["cells"]) for w in made["widgets"]]
    assert sum(cells) <= MAX_CELLS


def test_a_chart_is_vector_graphics_and_one_that_cannot_be_drawn_says_why() -> None:
    broken = ready(
        spec={
            "data": {"name": "table"},
            "mark": "bar",
            "encoding": {"x": {"field": "k", "type": "sideways"}},
        },
        chartData=[{"k": 1}],
    )
    doc = document(
        [
            widget("chart", "visualization", "Daily PnL", (0, 0), ready(**line_chart())),
            widget("broken", "visualization", "Sideways", (0, 1), broken),
        ]
    )
    content = render(doc)
    with pdfplumber.open(io.BytesIO(content)) as read:
        page = read.pages[0]
        assert page.images == []  # drawn, not pasted as a picture
        assert len(page.curves) + len(page.lines) + len(page.rects) > 5
        words = page.extract_text()
    assert "PnL" in words and "\nday\n" in words and "\n2.5\n" in words  # labels are text
    shown = text_of(content)
    assert re.search(r"Sideways\n(Data of .*\n)?Not drawn: \S", shown), shown


def test_hostile_names_filters_and_markdown_print_literally(tmp_path: Path) -> None:
    markdown = (
        f"# Heading {TYPST}\n\nSome *emphasis*, `#code` and [a link](https://example.com).\n\n"
        f"- item {TYPST}\n\n```\n#let x = 1\n```\n"
    )
    doc = document(
        [
            widget("t", "text", f"Title {HOSTILE}", (0, 0), ready(), {"markdown": markdown}),
            widget("m", "metric", HOSTILE, (0, 1), without_data("failed", f"error {HOSTILE}")),
        ],
        name=f"Board {HOSTILE}",
        description=f"About {HOSTILE}",
        parameters=[{"name": "desk", "label": f"Desk {HOSTILE}", "type": "string", "targets": []}],
        filters={"desk": f"value {HOSTILE}"},
    )
    content = render(doc)
    path = tmp_path / "hostile.pdf"
    path.write_bytes(content)
    for text in (flat(text_of(content)), flat(run("pdftotext", path, "-"))):
        for printed in (
            f"Board {HOSTILE}",
            f"About {HOSTILE}",
            f"Desk {HOSTILE} value {HOSTILE}",
            f"Title {HOSTILE}",
            f"Heading {TYPST}",
            "Some emphasis, #code and a link (https://example.com).",
            f"item {TYPST}",
            "#let x = 1",
            f"{HOSTILE} Failed: error {HOSTILE}",
        ):
            assert printed in text, (printed, text)


def test_the_pdf_opens_cleanly_in_qpdf_pdftotext_and_pdftoppm(tmp_path: Path) -> None:
    path = tmp_path / "board.pdf"
    path.write_bytes(grid_board())
    assert "No syntax or stream encoding errors found" in run("qpdf", "--check", path)
    assert "Trade Blotter" in run("pdftotext", "-layout", path, "-")
    run("pdftoppm", "-r", "30", "-png", path, tmp_path / "page")
    assert sorted(p.name for p in tmp_path.glob("page-*.png"))


def test_the_file_is_named_for_the_dashboard_and_the_day_in_its_zone() -> None:
    assert pdf.filename("Trading Overview", MADE_AT, "Europe/Paris") == (
        "trading-overview_2025-03-31.pdf"
    )
    assert pdf.filename("Trading Overview", MADE_AT, "UTC") == "trading-overview_2025-03-30.pdf"
    assert pdf.filename("../../etc/passwd", MADE_AT, "UTC") == "etc-passwd_2025-03-30.pdf"
    assert pdf.filename("日本語", MADE_AT, "Asia/Tokyo") == "dashboard_2025-03-31.pdf"
    header = pdf.content_disposition("Données été", MADE_AT, "Europe/Paris")
    assert header.startswith('attachment; filename="donnees-ete_2025-03-31.pdf"; filename*=')
    assert unquote(header.split("filename*=UTF-8''")[1]) == "données-été_2025-03-31.pdf"


# Through the API ---------------------------------------------------------------------------


@pytest.fixture
def acme(client: TestClient, tenancy: Tenancy) -> tuple[Caller, str]:
    tenancy.demo("acme")
    editor = tenancy.key("acme", Role.editor, name="erin")
    return editor, report_id(client, editor, MONTHLY)


def create(client: TestClient, caller: Caller, body: dict[str, Any]) -> str:
    response = client.post("/api/v1/dashboards", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def export(client: TestClient, caller: Caller, dashboard_id: str, **params: Any) -> Any:
    return client.get(
        f"/api/v1/dashboards/{dashboard_id}/export", params=params, headers=caller.headers
    )


def test_the_export_waits_for_the_widgets_and_prints_them_all(
    client: TestClient,
    acme: tuple[Caller, str],
    sessions: sessionmaker[Session],
    tenancy: Tenancy,
) -> None:
    editor, monthly = acme
    report = uuid.UUID(monthly)
    with sessions.begin() as session:  # the report PDF's row cap, which the tables keep
        session.execute(
            update(ReportDefinition).where(ReportDefinition.id == report).values(pdf_max_rows=30)
        )
    body = board(monthly, timezone="Asia/Tokyo")
    titles = {"table": "Recent Performance", "total": "Total Return"}
    for w in body["widgets"]:
        w["title"] = titles.get(w["id"], w.get("title"))
        if w["id"] == "table":  # within the demo data, which ends on 2025-12-31
            w["source"]["parameters"] = {"startDate": "2025-12-01", "endDate": "2025-12-31"}
            w["options"] = {"pageSize": 5}  # the PDF reads past the page the document carries
    dashboard_id = create(client, editor, body)
    viewer = tenancy.key("acme", Role.viewer, name="vic")

    response = export(client, viewer, dashboard_id, format="pdf", **{"p.since": "2025-01-01"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="trading-performance-dashboard_{today}.pdf"'
    )
    text = text_of(response.content)
    flat_text = flat(text)
    assert in_order(
        text,
        "Trading Performance Dashboard",
        "Real-time overview of trading performance",
        "Filters",
        "Since 2025-01-01",
        "Daily Returns",  # (0, 0)
        "Recent Performance",  # (6, 0)
        "Total Return",  # (0, 4)
        "Notes",  # (3, 4), the text widget's own heading
        "Read carefully.",
    )
    assert "Generated" in text and "JST (Asia/Tokyo)" in text
    assert "Pending" not in text and "Failed" not in text  # the export waited for every job
    assert "startDate: 2025-01-01" in flat_text  # the filter reached the chart's report

    # The table: its first rows as the result holds them, up to the report's cap of 30.
    with sessions() as session:
        made = list(session.scalars(select(ReportJob).where(ReportJob.report_id == report)))
    assert {j.trigger for j in made} == {"dashboard"} and len(made) == 3
    document = client.get(f"/api/v1/dashboards/{dashboard_id}", headers=editor.headers).json()
    table = next(w for w in document["widgets"] if w["id"] == "table")["data"]
    assert len(table["rows"]) == 5 and table["totalRows"] > 30
    assert f"First 30 of {table['totalRows']:,} rows." in flat_text
    assert "date strategy return" in flat_text
    stored = client.get(
        f"/api/v1/reports/results/{table['resultId']}",
        params={"pageSize": 31},
        headers=editor.headers,
    ).json()["data"]["rows"]
    for row in stored[:30]:
        assert f"{row['date']} {row['strategy']}" in flat_text
    assert f"{stored[30]['date']} {stored[30]['strategy']}" not in flat_text
    total = next(w for w in document["widgets"] if w["id"] == "total")["data"]
    value = display.float_text(total["value"], display.decimals([total["value"]], 4))
    assert "Total Return Data of" in flat_text
    assert f"{value} sum of return No earlier result to compare with." in flat_text


def test_the_export_counts_one_access_and_checks_its_input(
    client: TestClient, acme: tuple[Caller, str], sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    editor, monthly = acme
    dashboard_id = create(client, editor, board(monthly))

    assert errors_of(export(client, editor, dashboard_id)) == ["format"]
    assert errors_of(export(client, editor, dashboard_id, format="csv")) == ["format"]
    bad = export(client, editor, dashboard_id, format="pdf", **{"p.since": "yesterday-ish"})
    assert errors_of(bad) == ["p.since"]
    assert errors_of(export(client, editor, dashboard_id, format="pdf", **{"p.nope": "1"})) == [
        "p.nope"
    ]
    other = tenancy.key("globex", Role.admin, name="gus")
    assert export(client, other, dashboard_id, format="pdf").status_code == 404
    assert export(client, editor, str(uuid.uuid4()), format="pdf").status_code == 404
    with sessions() as session:
        before = session.get(DashboardView, uuid.UUID(dashboard_id))
        assert before is not None
        count = before.access_count

    assert export(client, editor, dashboard_id, format="pdf").status_code == 200
    with sessions() as session:
        after = session.get(DashboardView, uuid.UUID(dashboard_id))
        assert after is not None and after.access_count == count + 1
        assert after.last_accessed_at is not None
