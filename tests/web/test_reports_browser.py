"""The report, run and result pages in a real browser (Chromium through Playwright): the journey
from the list to a result and its downloads, the same without JavaScript, axe-core's WCAG
A/AA rules on each page at desktop and phone widths, and Run and Cancel by keyboard."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pdfplumber
from playwright.sync_api import Locator, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.models import Role
from broadsheet.web.result_view import cells
from tests.factories import Tenancy
from tests.web.conftest import PageLog, sign_in_page
from tests.web.helpers import add_user, tab_to
from tests.web.report_runs import last_days, report_id, running_job

WIDTHS = (1280, 375)
MONTHLY = "Monthly Performance Report"


def _accessible_at_each_width(page: Page, axe: Callable[..., None]) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        axe(page)
        # Nothing is cut off: only tables and charts scroll, inside their own boxes.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    page.set_viewport_size({"width": 1280, "height": 900})


def _cells(page: Page) -> list[list[str]]:
    rows = page.locator("#result-rows tbody tr")
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def _api_rows(page: Page, base: str, key: str, result_id: str) -> tuple[list[Any], list[Any]]:
    """The result's columns and every row, as the API answers them."""
    answer = page.request.get(
        f"{base}/api/v1/reports/results/{result_id}?pageSize=10000",
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    return answer["data"]["columns"], answer["data"]["rows"]


def _header(page: Page, column: str) -> Locator:
    """The result table's header cell of ``column``."""
    link = page.get_by_role("link", name=column, exact=True)
    return page.locator("#result-rows thead th").filter(has=link)


def test_from_the_list_to_a_result_and_its_downloads(
    live_server: str,
    signed_in: Page,
    page_log: PageLog,
    axe: Callable[..., None],
    demo_data: None,
    tenancy: Tenancy,
    tmp_path: Path,
) -> None:
    page = signed_in
    page.goto(f"{live_server}/reports")
    expect(page).to_have_title("Reports · Broadsheet")
    expect(page.get_by_role("link", name="New report")).to_be_visible()
    _accessible_at_each_width(page, axe)

    page.get_by_label("Search").fill("monthly")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/reports\?q=monthly"))
    page.get_by_role("link", name=MONTHLY).click()
    expect(page).to_have_title(f"{MONTHLY} · Broadsheet")
    expect(page.locator("pre.sql")).to_contain_text("FROM portfolio_performance")
    _accessible_at_each_width(page, axe)

    page.get_by_role("link", name="Run", exact=True).click()
    expect(page).to_have_title(f"Run {MONTHLY} · Broadsheet")
    _accessible_at_each_width(page, axe)
    start, end = last_days(120)
    expect(page.get_by_label("Start Date")).to_have_attribute("type", "date")
    page.get_by_label("Start Date").fill(start)
    page.get_by_label("End Date").fill(end)
    page.get_by_role("button", name="Run").click()
    # The status page polls, and a completed run leads on to its result by itself.
    expect(page).to_have_url(re.compile(r"/results/[0-9a-f-]{36}$"), timeout=30_000)
    expect(page).to_have_title(f"Result of {MONTHLY} · Broadsheet")
    result_id = page.url.rsplit("/", 1)[1]
    figure = page.locator("figure.chart").first
    expect(figure).to_have_attribute("data-chart-state", "ready")
    page.get_by_text("Show as table").first.click()
    expect(page.locator("details.chart-data table").first).to_be_visible()
    _accessible_at_each_width(page, axe)

    key = tenancy.key("acme", Role.viewer).key
    columns, every = _api_rows(page, live_server, key, result_id)
    assert len(every) > 100
    assert _cells(page) == cells(every[:50], columns)

    # Next swaps the rows alone (htmx), keeps the address, and takes the focus there.
    page.get_by_role("navigation", name="Pages of rows").get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    expect(page.locator("#rows-heading")).to_be_focused()
    assert _cells(page) == cells(every[50:100], columns)
    expect(page.get_by_role("link", name="Previous")).to_be_visible()

    # A column's header sorts the whole result: ascending, then descending.
    _header(page, "return").get_by_role("link").click()
    expect(_header(page, "return")).to_have_attribute("aria-sort", "ascending")
    ascending = sorted(every, key=lambda r: r["return"])
    assert _cells(page) == cells(ascending[:50], columns)
    _header(page, "return").get_by_role("link").click()
    expect(_header(page, "return")).to_have_attribute("aria-sort", "descending")
    descending = sorted(every, key=lambda r: -r["return"])
    assert _cells(page) == cells(descending[:50], columns)
    page.get_by_role("navigation", name="Pages of rows").get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"sort=return&dir=desc&page=2$"))
    assert _cells(page) == cells(descending[50:100], columns)
    _accessible_at_each_width(page, axe)

    # Each download answers as an attachment, and opens.
    saved: dict[str, Path] = {}
    for label, extension in (("CSV", "csv"), ("Excel", "xlsx"), ("PDF", "pdf"), ("JSON", "json")):
        with page.expect_download() as made:
            page.get_by_role("link", name=f"Download {label}").click()
        download = made.value
        assert download.suggested_filename.startswith("monthly-performance-report_")
        assert download.suggested_filename.endswith(f".{extension}")
        saved[extension] = tmp_path / download.suggested_filename
        download.save_as(saved[extension])
    with saved["csv"].open(newline="", encoding="utf-8") as file:
        table = list(csv.reader(file))
    assert table[0] == [c["name"] for c in columns] and len(table) == len(every) + 1
    book = openpyxl.load_workbook(saved["xlsx"], read_only=True)
    assert sum(1 for _ in book.worksheets[0].iter_rows()) >= len(every)
    with pdfplumber.open(saved["pdf"]) as pdf:
        assert MONTHLY in pdf.pages[0].extract_text()
    document = json.loads(saved["json"].read_text(encoding="utf-8"))
    assert len(document["rows"] if isinstance(document, dict) else document) == len(every)

    # The report's page now lists the result.
    page.get_by_role("link", name=MONTHLY).first.click()
    expect(page.locator(f'a[href="/results/{result_id}"]')).to_be_visible()
    page_log.assert_clean()


def test_running_and_reading_a_result_without_javascript(
    live_server: str, no_script: Page, demo_data: None, sessions: sessionmaker[Session]
) -> None:
    user = add_user(sessions, tenant="acme", role=Role.viewer)
    page = sign_in_page(no_script, live_server, user)
    rid = report_id(sessions, MONTHLY)
    page.goto(f"{live_server}/reports/{rid}/run")
    start, end = last_days(120)
    page.get_by_label("Start Date").fill(start)
    page.get_by_label("End Date").fill(end)
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(rf"/reports/{rid}/run\?job=[0-9a-f-]{{36}}$"))
    status = page.get_by_role("status")
    expect(status).to_contain_text(re.compile(r"Status: (queued|processing|completed)"))
    for _ in range(100):  # as a person would: Refresh until it has finished
        if "completed" in status.inner_text():
            break
        page.get_by_role("link", name="Refresh").click()
        page.wait_for_timeout(200)
    expect(status).to_contain_text("Status: completed")
    page.get_by_role("link", name="See the result").click()
    expect(page).to_have_url(re.compile(r"/results/[0-9a-f-]{36}$"))
    # The chart is the server's drawing, its data a table under "Show as table".
    expect(page.locator("figure.chart [data-chart-static] img").first).to_be_visible()
    page.get_by_text("Show as table").first.click()
    expect(page.locator("details.chart-data table").first).to_be_visible()
    first = page.locator("#result-rows tbody tr").first.inner_text()
    page.get_by_role("navigation", name="Pages of rows").get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    assert page.locator("#result-rows tbody tr").first.inner_text() != first
    _header(page, "date").get_by_role("link").click()
    expect(_header(page, "date")).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"\?sort=date&dir=asc$"))


def test_a_failed_run_form_and_a_running_job_are_accessible(
    live_server: str,
    signed_in: Page,
    axe: Callable[..., None],
    demo_data: None,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> None:
    page = signed_in
    rid = report_id(sessions, MONTHLY)
    page.goto(f"{live_server}/reports/{rid}/run")
    page.get_by_label("End Date").fill("")
    page.get_by_role("button", name="Run").click()
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Start Date is required.")
    expect(page).to_have_title(f"Error: Run {MONTHLY} · Broadsheet")
    _accessible_at_each_width(page, axe)
    summary.get_by_role("link", name="Start Date is required.").click()
    expect(page.get_by_label("Start Date")).to_be_focused()

    start, end = last_days(30)
    job = running_job(sessions, settings, rid, {"startDate": start, "endDate": end})
    page.goto(f"{live_server}/reports/{rid}/run?job={job}")
    expect(page.get_by_role("status")).to_contain_text("Status: processing")
    _accessible_at_each_width(page, axe)


def test_run_and_cancel_by_keyboard(
    live_server: str,
    signed_in: Page,
    demo_data: None,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> None:
    page = signed_in
    rid = report_id(sessions, MONTHLY)
    page.goto(f"{live_server}/reports/{rid}")
    run_link = page.get_by_role("link", name="Run", exact=True)
    tab_to(page, run_link)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/reports/{rid}/run")
    start, end = last_days(30)
    page.get_by_label("Start Date").fill(start)
    run_button = page.get_by_role("button", name="Run")
    tab_to(page, run_button)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/reports/{rid}/run\?job=|/results/"))

    job = running_job(sessions, settings, rid, {"startDate": start, "endDate": end})
    page.goto(f"{live_server}/reports/{rid}/run?job={job}")
    cancel = page.get_by_role("button", name="Cancel")
    tab_to(page, cancel)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Status: cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.get_by_role("link", name="Run again")).to_be_visible()
