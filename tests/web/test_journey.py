"""One person's whole day with Broadsheet in a real browser, in one session and in order:
sign in → build a report with a parameter and two charts → preview → save → run → page and
sort the result → download each export and open it → schedule it (the form's preview is the
API's) → run now → each recipient's status from a real SMTP server → a dashboard of its
charts with a filter (a change re-requests only the widget it targets, counted on the
network) → its PDF → an embed link before and after it expires → sign out.

Each step also has its own, closer tests beside this one (test_builder, test_reports_browser,
test_schedule_browser, test_dashboard_pages); this one shows the steps hand over to each other:
what one page makes is what the next one reads."""

from __future__ import annotations

import csv
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pdfplumber
import pytest
from playwright.sync_api import Page, Request, expect
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.dashboards import embed
from broadsheet.deliveries import service as deliveries
from broadsheet.kit.time import utc_now
from broadsheet.models import Role
from broadsheet.runtime import Runtime
from broadsheet.web.result_view import cells
from tests.deliveries.test_email import Inbox, Serve, serve  # noqa: F401
from tests.factories import Tenancy
from tests.schedules.test_ticker import settle
from tests.web.conftest import PageLog, sign_in_page
from tests.web.helpers import add_user, htmx_idle, mailing_to
from tests.web.test_builder import SQL

Axe = Callable[..., None]
READY = 60_000  # ms: a widget's first data waits for its report to run


def shown_rows(page: Page) -> list[list[str]]:
    return [r.locator("td").all_inner_texts() for r in page.locator("#result-rows tbody tr").all()]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def settings(settings: Settings, serve: Serve, inbox: Inbox) -> Settings:  # noqa: F811
    """The tests' settings, with email going to a real SMTP server on this machine."""
    return mailing_to(settings, serve(inbox))


def test_a_whole_journey_from_sign_in_to_sign_out(
    live_server: str,
    page: Page,
    page_log: PageLog,
    axe: Axe,
    tenancy: Tenancy,
    settings: Settings,
    sessions: sessionmaker[Session],
    engine: Engine,
    inbox: Inbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenancy.demo("acme")
    api = tenancy.key("acme", Role.viewer)

    def api_get(path: str, **params: str | float | bool) -> Any:
        answer = page.request.get(f"{live_server}{path}", params=params, headers=api.headers)
        assert answer.ok, answer.text()
        return answer.json()

    # --- sign in ------------------------------------------------------------------------------
    user = add_user(sessions, tenant="acme", role=Role.editor)
    page.goto(f"{live_server}/")
    expect(page).to_have_url(re.compile(r"/login"))
    sign_in_page(page, live_server, user)
    expect(page).to_have_title("Reports · Broadsheet")

    # --- build a report with a parameter and two charts, preview it, save it -----------------
    page.get_by_role("link", name="New report").click()
    expect(page).to_have_title("New report · Broadsheet")
    page.get_by_label("Name", exact=True).fill("Strategy returns")
    page.locator("#category").fill("performance")
    editor = page.locator(".builder-workspace__editor .cm-content")
    expect(page.locator("textarea#query")).to_have_attribute("data-sql-editor-schema", "loaded")
    editor.fill(SQL)
    expect(page.locator("textarea#query")).to_have_value(SQL)
    page.get_by_role("button", name="Add parameter strategy").click()
    htmx_idle(page)
    expect(page.locator("#parameters-0-name")).to_have_value("strategy")
    page.locator("#parameters-0-defaultValue").fill("Momentum")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview tbody tr")).to_have_count(100)

    for index, (kind, title, y) in enumerate(
        [("line", "Return over time", "return"), ("bar", "Benchmark by day", "benchmark_return")]
    ):
        page.locator("#add-chart").click()
        htmx_idle(page)
        chart = f"#visualizations-{index}"
        page.locator(f"{chart}-type").select_option(kind)
        htmx_idle(page)
        page.locator(f"{chart}-title").fill(title)
        page.locator(f"{chart}-dataMapping-x").select_option("date")
        htmx_idle(page)
        page.locator(f"{chart}-dataMapping-y").select_option(y)
        htmx_idle(page)
        expect(page.locator(f"{chart}-drawing img")).to_have_attribute(
            "alt", re.compile(f"{title} — {y}")
        )
    axe(page)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{live_server}/reports/[0-9a-f-]{{36}}$"))
    report_id = page.url.rsplit("/", 1)[1]
    saved = api_get(f"/api/v1/reports/{report_id}")
    assert saved["query"] == SQL
    assert [p["name"] for p in saved["parameters"]] == ["strategy"]
    assert [v["id"] for v in saved["visualizations"]] == ["chart-1", "chart-2"]

    # --- run it; page and sort the result -----------------------------------------------------
    page.get_by_role("link", name="Run", exact=True).click()
    expect(page.get_by_label("Strategy")).to_have_value("Momentum")  # the default, shown
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/results/[0-9a-f-]{36}$"), timeout=30_000)
    result_id = page.url.rsplit("/", 1)[1]
    whole = api_get(f"/api/v1/reports/results/{result_id}", pageSize="10000")["data"]
    columns, every = whole["columns"], whole["rows"]
    assert len(every) > 100 and {r["strategy"] for r in every} == {"Momentum"}
    assert shown_rows(page) == cells(every[:50], columns)
    page.get_by_role("navigation", name="Pages of rows").get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    htmx_idle(page)  # the swap settled: the sort links below are the new page's
    assert shown_rows(page) == cells(every[50:100], columns)
    header = page.locator("#result-rows thead th").filter(
        has=page.get_by_role("link", name="return", exact=True)
    )
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    ascending = sorted(every, key=lambda r: r["return"])
    assert shown_rows(page) == cells(ascending[:50], columns)
    axe(page)

    # --- download each export and open it -----------------------------------------------------
    files: dict[str, Path] = {}
    for label, extension in (("CSV", "csv"), ("Excel", "xlsx"), ("PDF", "pdf"), ("JSON", "json")):
        with page.expect_download() as made:
            page.get_by_role("link", name=f"Download {label}").click()
        assert made.value.suggested_filename.endswith(f".{extension}")
        files[extension] = tmp_path / made.value.suggested_filename
        made.value.save_as(files[extension])
    with files["csv"].open(newline="", encoding="utf-8") as file:
        assert len(list(csv.reader(file))) == len(every) + 1
    book = openpyxl.load_workbook(files["xlsx"], read_only=True)
    assert sum(1 for _ in book.worksheets[0].iter_rows()) >= len(every)
    with pdfplumber.open(files["pdf"]) as pdf:
        assert "Strategy returns" in (pdf.pages[0].extract_text() or "")
    document = json.loads(files["json"].read_text(encoding="utf-8"))
    assert len(document["rows"] if isinstance(document, dict) else document) == len(every)

    # --- schedule it: the preview is the API's; run now; each recipient's status ---------------
    page.get_by_role("link", name="Schedules", exact=True).click()
    page.get_by_role("link", name="New schedule").click()
    page.get_by_label("Name", exact=True).fill("Returns to the desk")
    page.get_by_label("What it sends").select_option(label="Strategy returns")
    page.get_by_label("Cadence").select_option("daily")
    page.get_by_label("Time", exact=True).fill("07:15")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    expected = api_get("/api/v1/schedules/preview", schedule="15 7 * * *", timezone="Europe/Berlin")
    first_utc = expected["fires"][0]["utc"]
    expect(page.locator(".fires__utc").first).to_have_attribute("datetime", first_utc)
    shown = [t.get_attribute("datetime") for t in page.locator(".fires__utc").all()]
    assert shown == [f["utc"] for f in expected["fires"]]
    page.locator("#recipients-0-address").fill("desk@example.com")
    page.get_by_role("button", name="Add recipient").click()
    page.locator("#recipients-1-address").fill("risk@example.com")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("The schedule is saved.")
    page.get_by_role("button", name="Run now").click()
    expect(page).to_have_url(re.compile(r"/executions/[0-9a-f-]{36}"))
    execution_id = uuid.UUID(page.url.split("/executions/")[1].split("?")[0])
    runtime = Runtime.build(settings, engine)
    assert settle(runtime, sessions, execution_id) == "completed"
    deadline = time.monotonic() + 30
    while deliveries.advance(runtime) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)  # the deliveries are planned as the execution completes
    for address in ("desk@example.com", "risk@example.com"):
        expect(page.get_by_role("row").filter(has_text=address)).to_contain_text(
            "sent", timeout=15_000
        )
    assert sorted(r for m in inbox.received for r in m.rcpt_tos) == [
        "desk@example.com",
        "risk@example.com",
    ]

    # --- a dashboard of its two charts, with a filter on the first ----------------------------
    page.get_by_role("link", name="Dashboards", exact=True).click()
    page.get_by_role("link", name="New dashboard").first.click()
    page.get_by_label("Name").fill("Desk board")
    page.get_by_role("button", name="Create dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboards/[0-9a-f-]{36}/edit"))
    dashboard_id = page.url.split("/dashboards/")[1].split("/")[0]
    adding = page.get_by_role("region", name="Add widget")
    for chart, title in (("chart-1", "Returns"), ("chart-2", "Benchmark")):
        adding.get_by_label("Type", exact=True).select_option("visualization")
        adding.get_by_label("Title", exact=True).fill(title)
        adding.get_by_label("Chart", exact=True).select_option(f"{report_id}/{chart}")
        adding.get_by_label("Parameter values").fill("strategy=Momentum")
        adding.get_by_role("button", name="Add widget").click()
        expect(page.locator("[data-notice]")).to_have_text("Widget added.")
    filtering = page.get_by_role("form", name="Add filter")
    filtering.get_by_label("Label", exact=True).fill("Strategy")
    filtering.get_by_label("Name", exact=True).fill("strategy")
    filtering.get_by_label("Type", exact=True).select_option("string")
    filtering.get_by_label("Default value").fill("Momentum")
    filtering.get_by_label("Returns", exact=True).select_option("strategy")
    filtering.get_by_role("button", name="Add filter").click()
    expect(page.locator("[data-notice]")).to_have_text("Filter added.")
    axe(page)
    page.get_by_role("link", name="Done editing").click()
    expect(page).to_have_url(f"{live_server}/dashboards/{dashboard_id}")
    widgets = page.locator('.widget[data-state="ready"]')
    expect(widgets).to_have_count(2, timeout=READY)

    asked: list[str] = []

    def on_request(request: Request) -> None:
        found = re.search(rf"/dashboards/{dashboard_id}/widgets/([^/?]+)", request.url)
        if found:
            asked.append(found.group(1))

    page.on("request", on_request)
    strategy = page.get_by_label("Strategy", exact=True)
    strategy.fill("Fixed Income")
    with page.expect_response(re.compile(rf"/dashboards/{dashboard_id}/widgets/"), timeout=READY):
        strategy.press("Enter")
    expect(widgets).to_have_count(2, timeout=READY)
    targeted = {str(w["id"]) for w in api_get(f"/api/v1/dashboards/{dashboard_id}")["widgets"]
                if w["title"] == "Returns"}  # fmt: skip
    assert set(asked) == targeted, asked
    assert re.search(r"p\.strategy=Fixed(\+|%20)Income", page.url), page.url
    axe(page)

    with page.expect_download(timeout=READY) as made:
        page.get_by_role("link", name="Download PDF").click()
    with pdfplumber.open(made.value.path()) as pdf:
        text = "\n".join(p.extract_text() or "" for p in pdf.pages)
    assert "Desk board" in text and "Returns" in text and "Benchmark" in text

    # --- an embed link, before and after it expires -------------------------------------------
    page.get_by_text("Embed", exact=True).click()
    page.get_by_label("The link works for").select_option(label="10 minutes")
    page.get_by_role("button", name="Create embed link").click()
    link = page.get_by_label("Link to the embedded dashboard").input_value()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Desk board")
    eleven_minutes_on = utc_now() + timedelta(minutes=11)
    monkeypatch.setattr(embed, "utc_now", lambda: eleven_minutes_on)
    answer = page.goto(link)
    assert answer is not None and answer.status == 401
    expect(page.locator("body")).to_contain_text("expired")
    monkeypatch.undo()
    expired = [m for m in page_log.console_errors if "(Unauthorized)" in m and "/embed/" in m]
    assert len(expired) == 1  # the browser's note of the 401 just asserted, and nothing else
    page_log.console_errors.remove(expired[0])

    # --- sign out -----------------------------------------------------------------------------
    page.goto(f"{live_server}/reports")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"{live_server}/reports/{report_id}")
    expect(page).to_have_url(re.compile(r"/login"))
    page_log.assert_clean()
