"""Dashboards' pages: the list, a dashboard over the demo reports with its filter bar,
widgets, PDF and embed dialog, and edit mode — in Chromium (with and without JavaScript,
axe-core's WCAG A/AA rules at desktop and phone widths, keyboard editing, the network
requests a filter change makes) and through the TestClient for the server's rules (roles,
tenants, hostile text, bad input), on SQLite and PostgreSQL with the app's real executor."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pdfplumber
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Request, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.auth.service import system_principal
from broadsheet.dashboards.schemas import DashboardDefinitionWrite
from broadsheet.dashboards.service import DashboardService
from broadsheet.db import session_scope
from broadsheet.errors import ValidationFailed
from broadsheet.models import ReportJob, Role
from broadsheet.web.dashboards import arrange
from tests.dashboards.test_embed import HOSTILE_MARKDOWN, HOSTILE_NAME, PRICES, board
from tests.factories import Tenancy
from tests.web.conftest import PageLog, sign_in_page
from tests.web.helpers import add_user, csrf_token, sign_in_as

TRADING = "Trading Activity"
WIDGETS = {"price", "close", "notes", "rows", "side"}
TICKER_TARGETS = {"price", "close", "rows"}
READY_TIMEOUT = 60_000  # ms: cold widgets wait for their reports to run


# --- data ------------------------------------------------------------------------------------


def report_ids(sessions: sessionmaker[Session], tenant: str = "acme") -> dict[str, str]:
    with sessions() as session:
        rows = session.execute(
            select(models.ReportDefinition.name, models.ReportDefinition.id)
            .join(models.Tenant, models.Tenant.id == models.ReportDefinition.tenant_id)
            .where(models.Tenant.slug == tenant)
        )
        return {name: str(rid) for name, rid in rows}


def make_dashboard(sessions: sessionmaker[Session], tenant: str = "acme", **overrides: Any) -> str:
    """The embed tests' board (a price chart, a metric, hostile text, a table; filters
    Ticker and Since) plus a chart of trades that only Since changes."""
    ids = report_ids(sessions, tenant)
    body = board(ids[PRICES], **overrides)
    body["widgets"].append(
        {
            "id": "side",
            "type": "visualization",
            "title": "Buy and sell",
            "source": {
                "reportId": ids[TRADING],
                "visualizationId": "side-split",
                "parameters": {"startDate": "2025-12-01", "endDate": "2025-12-31"},
            },
            "position": {"x": 0, "y": 8},
            "size": {"width": 6, "height": 4},
        }
    )
    since = next(f for f in body["parameters"] if f["name"] == "since")
    since["targets"].append({"widgetId": "side", "parameter": "startDate"})
    return save_dashboard(sessions, tenant, body)


def save_dashboard(sessions: sessionmaker[Session], tenant: str, body: dict[str, Any]) -> str:
    with session_scope(sessions) as session:
        owner = system_principal(session, tenant, "owner")
        row = DashboardService(session).create(owner, DashboardDefinitionWrite.model_validate(body))
        return str(row.id)


@pytest.fixture
def demo(demo_data: None, sessions: sessionmaker[Session]) -> str:
    return make_dashboard(sessions)


def wait_ready(page: Page, count: int = len(WIDGETS)) -> None:
    expect(page.locator('.widget[data-state="ready"]')).to_have_count(count, timeout=READY_TIMEOUT)


def open_board(page: Page, url: str) -> Page:
    """``page`` at the dashboard ``url``, once every widget there has its data."""
    page.goto(url)
    wait_ready(page)
    return page


# --- in the browser --------------------------------------------------------------------------


def test_a_filter_change_rerequests_only_the_widgets_it_targets(
    signed_in: Page, live_server: str, demo: str, page_log: PageLog, axe: Callable[..., None]
) -> None:
    page = signed_in
    page.goto(f"{live_server}/dashboards")
    expect(page).to_have_title("Dashboards · Broadsheet")
    page.get_by_role("link", name=HOSTILE_NAME).click()
    expect(page).to_have_url(f"{live_server}/dashboards/{demo}")
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE_NAME)
    wait_ready(page)
    # Grid order in the page: by row, then column.
    order = page.locator(".dashboard-grid > .widget").evaluate_all(
        "els => els.map(e => e.dataset.widget)"
    )
    assert order == ["price", "close", "notes", "rows", "side"]
    expect(page.locator("#widget-price")).to_have_class(
        re.compile(r"\bcol-start-1\b.*\bcol-span-8\b")
    )
    expect(page.locator("#widget-rows")).to_have_class(re.compile(r"\brow-start-5\b"))
    first_close = page.locator("#widget-close .metric-value").inner_text()
    axe(page)

    asked: list[str] = []

    def on_request(request: Request) -> None:
        found = re.search(rf"/dashboards/{demo}/widgets/([^/?]+)", request.url)
        if found:
            asked.append(found.group(1))

    page.on("request", on_request)
    page.get_by_label("Ticker", exact=True).select_option(label="Bronx Ltd")
    expect(page.locator("#widget-close .metric-value")).not_to_have_text(
        first_close, timeout=READY_TIMEOUT
    )
    wait_ready(page)
    assert set(asked) == TICKER_TARGETS, asked
    assert "p.ticker=BRNX" in page.url  # the address follows the filters (a bookmark)

    asked.clear()
    page.get_by_label("Since", exact=True).fill("2025-12-10")
    expect(page.locator("#widget-rows caption")).not_to_have_text(
        "First 5 of 23 rows", timeout=READY_TIMEOUT
    )
    wait_ready(page)
    assert set(asked) == {"price", "close", "rows", "side"}, asked
    assert "notes" not in asked

    # Auto-refresh: a countdown, a pause, and at zero every widget with data asks again.
    countdown = page.locator("[data-countdown-text]")
    expect(countdown).to_have_text(re.compile(r"^[0-4]:[0-5]\d$"))
    page.get_by_role("button", name="Pause").click()
    expect(countdown).to_have_text("paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    asked.clear()
    page.evaluate("document.body.dispatchEvent(new CustomEvent('dashboard:refresh'))")
    page.wait_for_function(
        "() => !document.querySelector('.widget.htmx-request')", timeout=READY_TIMEOUT
    )
    assert set(asked) == WIDGETS - {"notes"}, asked
    page_log.assert_clean()


def test_download_pdf_and_the_embed_dialog(
    signed_in: Page, live_server: str, demo: str, page_log: PageLog
) -> None:
    page = open_board(signed_in, f"{live_server}/dashboards/{demo}?p.ticker=BRNX")
    with page.expect_download(timeout=READY_TIMEOUT) as downloading:
        page.get_by_role("link", name="Download PDF").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".pdf")
    with pdfplumber.open(download.path()) as document:
        text = "\n".join(p.extract_text() or "" for p in document.pages)
    assert "Bronx Ltd" in text or "BRNX" in text
    assert "Daily prices" in text and "First close" in text and "Buy and sell" in text

    page.get_by_text("Embed", exact=True).click()
    page.get_by_label("Ticker, at the value now shown").check()
    page.get_by_label("The link works for").select_option(label="10 minutes")
    page.get_by_role("button", name="Create embed link").click()
    url = page.get_by_label("Link to the embedded dashboard").input_value()
    assert url.startswith(f"{live_server}/embed/dashboards/")
    snippet = page.get_by_label("HTML to paste into your page").input_value()
    assert snippet.startswith(f'<iframe src="{url}"')
    page_log.assert_clean()

    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE_NAME)
    expect(page.get_by_text("Bronx Ltd")).to_be_visible()  # fixed at the value shown


def test_edit_mode_by_keyboard(
    signed_in: Page, live_server: str, demo: str, page_log: PageLog, axe: Callable[..., None]
) -> None:
    page = signed_in
    page.goto(f"{live_server}/dashboards/{demo}")
    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(f"{live_server}/dashboards/{demo}/edit")
    expect(page).to_have_title(f"{HOSTILE_NAME} (editing) · Broadsheet")

    form = page.locator("form", has=page.get_by_role("button", name="Add widget"))
    form.get_by_label("Type").select_option(label="Table")
    form.get_by_label("Title").fill("Trades table")
    form.get_by_label("Report", exact=True).select_option(label=TRADING)
    form.get_by_label("Parameter values").fill("startDate=2025-12-01\nendDate=2025-12-31")
    form.get_by_label("Column", exact=True).fill("1")
    form.get_by_label("Row", exact=True).fill("13")
    form.get_by_label("Width").fill("4")
    form.get_by_label("Height").fill("3")
    form.get_by_role("button", name="Add widget").press("Enter")
    expect(page.get_by_text("Widget added.")).to_be_visible()
    added = page.locator(".widget", has=page.get_by_role("heading", name="Trades table"))
    expect(added).to_have_class(re.compile(r"\bcol-start-1\b.*\bcol-span-4\b.*\brow-start-13\b"))
    wait_ready(page, len(WIDGETS) + 1)
    axe(page)

    tools = added.get_by_role("group", name="Arrange “Trades table”")
    tools.get_by_role("button", name="Move right").focus()
    page.keyboard.press("Enter")
    expect(added).to_have_class(re.compile(r"\bcol-start-2\b"))
    expect(tools.get_by_role("button", name="Move right")).to_be_focused()  # htmx kept it
    page.keyboard.press("Enter")
    expect(added).to_have_class(re.compile(r"\bcol-start-3\b"))
    tools.get_by_role("button", name="Wider").press("Enter")
    expect(added).to_have_class(re.compile(r"\bcol-span-5\b"))
    expect(added.locator(".widget__place")).to_have_text(
        "Column 3, row 13; 5 columns wide, 3 rows tall."
    )
    # Every place above is taken (moves step over widgets to a free place: see below).
    tools.get_by_role("button", name="Move up").press("Enter")
    expect(added.locator(".error-message")).to_contain_text("no free place above it")

    # A move the grid cannot take is refused at the widget.
    for column in (2, 1):
        tools.get_by_role("button", name="Move left").press("Enter")
        expect(added).to_have_class(re.compile(rf"\bcol-start-{column}\b"))
    tools.get_by_role("button", name="Move left").press("Enter")
    expect(added.locator(".error-message")).to_contain_text("left edge of the grid")

    tools.get_by_role("button", name="Remove").press("Enter")
    expect(page.get_by_text("Widget removed.")).to_be_visible()
    expect(page.get_by_role("heading", name="Trades table")).to_have_count(0)
    page_log.assert_clean()


def test_a_widget_moves_by_pointer(
    signed_in: Page, live_server: str, demo: str, page_log: PageLog
) -> None:
    page = open_board(signed_in, f"{live_server}/dashboards/{demo}/edit")
    widget = page.locator("#widget-side")
    handle = widget.locator("[data-drag=move]")
    handle.scroll_into_view_if_needed()
    grid = page.locator("#dashboard-grid").bounding_box()
    box = handle.bounding_box()
    assert grid and box
    column = (grid["width"] + 16) / 12
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(box["x"] + 5 + column * 3, box["y"] + 5, steps=5)
    page.mouse.up()
    expect(widget).to_have_class(re.compile(r"\bcol-start-4\b"))

    corner = widget.locator("[data-drag=resize]")
    corner.scroll_into_view_if_needed()
    box = corner.bounding_box()
    assert box
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + 10 + column, box["y"] + 10, steps=5)
    page.mouse.up()
    expect(widget).to_have_class(re.compile(r"\bcol-start-4 col-span-7\b"))
    page_log.assert_clean()


@pytest.mark.parametrize("width", [1280, 375])
def test_the_dashboard_is_accessible(
    signed_in: Page, live_server: str, demo: str, axe: Callable[..., None], width: int
) -> None:
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    open_board(page, f"{live_server}/dashboards/{demo}")
    axe(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.locator("#widget-price summary").click()  # Show as table
    expect(page.locator("#widget-price table")).to_be_visible()
    axe(page)
    page.goto(f"{live_server}/dashboards/{demo}/edit")
    axe(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto(f"{live_server}/dashboards")
    axe(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_without_javascript(
    no_script: Page, live_server: str, demo: str, sessions: sessionmaker[Session]
) -> None:
    page = sign_in_page(no_script, live_server, add_user(sessions, role=Role.editor))
    # The page reloads itself (a <noscript> refresh) until its data is made.
    open_board(page, f"{live_server}/dashboards/{demo}")
    page.get_by_label("Ticker", exact=True).select_option("BRNX")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"\?p\.ticker=BRNX&p\.since=2025-12-01$"))
    expect(page.get_by_label("Ticker", exact=True)).to_have_value("BRNX")
    wait_ready(page)
    expect(page.locator("#widget-rows")).to_contain_text("First 5 of")

    page.goto(f"{live_server}/dashboards/{demo}/edit")
    tools = page.get_by_role("group", name="Arrange “Buy and sell”")
    tools.get_by_role("button", name="Move right").click()
    expect(page).to_have_url(f"{live_server}/dashboards/{demo}/edit#widget-side")
    expect(page.locator("#widget-side")).to_have_class(re.compile(r"\bcol-start-2\b"))


# --- the server's rules ----------------------------------------------------------------------


def signed(web: TestClient, sessions: sessionmaker[Session], role: Role) -> str:
    """Sign ``web`` in as a user of ``role`` in acme; the CSRF token its pages carry."""
    sign_in_as(web, sessions, role)
    return csrf_token(web.get("/dashboards").text)


def version(sessions: sessionmaker[Session], dashboard_id: str) -> int:
    with sessions() as session:
        row = session.get(models.Dashboard, uuid.UUID(dashboard_id))
        assert row is not None
        return row.version


def widget_place(sessions: sessionmaker[Session], dashboard_id: str, widget: str) -> dict[str, Any]:
    with sessions() as session:
        row = session.get(models.Dashboard, uuid.UUID(dashboard_id))
        assert row is not None
        found = next(w for w in row.widgets or [] if w["id"] == widget)
        return {**found["position"], **found["size"]}


def test_viewers_see_no_edit_controls_and_are_refused(
    web: TestClient, sessions: sessionmaker[Session], demo: str
) -> None:
    token = signed(web, sessions, Role.viewer)
    listed = web.get("/dashboards").text
    assert "New dashboard" not in listed
    page = web.get(f"/dashboards/{demo}")
    assert page.status_code == 200
    for control in ("Edit</a>", "Embed", "Move left", "Add widget"):
        assert control not in page.text
    assert "Download PDF" in page.text
    for path in (f"/dashboards/{demo}/edit", f"/dashboards/{demo}?edit=1", "/dashboards/new"):
        refused = web.get(path)
        assert refused.status_code == 403, path
        assert "You cannot do that" in refused.text
    before = version(sessions, demo)
    posts = {
        f"/dashboards/{demo}/edit/widgets/price": {"action": "right"},
        f"/dashboards/{demo}/edit/widgets": {"type": "text", "markdown": "x"},
        f"/dashboards/{demo}/edit/filters": {"filter.name": "x", "filter.type": "string"},
        f"/dashboards/{demo}/edit/filters/since/remove": {},
        f"/dashboards/{demo}/embed": {"expiresIn": "600"},
        "/dashboards/new": {"name": "Mine"},
    }
    for path, data in posts.items():
        refused = web.post(path, data={"csrf_token": token, "version": str(before), **data})
        assert refused.status_code == 403, path
        assert refused.headers["content-type"].startswith("text/html")
    assert version(sessions, demo) == before


def test_another_tenants_dashboard_is_a_404_page(
    web: TestClient, sessions: sessionmaker[Session], tenancy: Tenancy, demo: str
) -> None:
    tenancy.demo("globex")
    theirs = make_dashboard(sessions, "globex", name="Globex board")
    token = signed(web, sessions, Role.admin)
    for path in (
        f"/dashboards/{theirs}",
        f"/dashboards/{theirs}/edit",
        f"/dashboards/{theirs}/widgets/price",
        f"/dashboards/{theirs}/pdf",
        f"/dashboards/{theirs}/charts/{uuid.uuid4()}/ohlc.svg",
        "/dashboards/not-an-id",
        f"/dashboards/{demo}/widgets/no-such-widget",
    ):
        answer = web.get(path)
        assert answer.status_code == 404, path
        assert "Page not found" in answer.text and "Globex board" not in answer.text
    moved = web.post(
        f"/dashboards/{theirs}/edit/widgets/price",
        data={"csrf_token": token, "version": "1", "action": "right"},
    )
    assert moved.status_code == 404
    assert widget_place(sessions, theirs, "price")["x"] == 0


def test_hostile_names_and_markdown_render_as_text(
    web: TestClient, sessions: sessionmaker[Session], demo: str
) -> None:
    signed(web, sessions, Role.editor)
    for path in ("/dashboards", f"/dashboards/{demo}", f"/dashboards/{demo}/edit"):
        html = web.get(path).text
        assert "<script>alert" not in html, path
        assert "Desk &lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt; &amp; co" in html
    html = web.get(f"/dashboards/{demo}").text
    assert "Prices of one ticker &lt;b&gt;this month&lt;/b&gt;" in html
    assert 'href="javascript' not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=" in html and "<h2>Notes</h2>" in html
    assert " style=" not in html  # grid places are classes: the policy allows no style=
    fragment = web.get(f"/dashboards/{demo}/widgets/notes").text
    assert fragment.lstrip().startswith("<section") and "&lt;script&gt;alert" in fragment
    assert HOSTILE_MARKDOWN not in fragment


def test_failed_and_empty_widgets_say_so(web: TestClient, sessions: sessionmaker[Session]) -> None:
    prices = report_ids(sessions)[PRICES]
    empty = {"startDate": "2030-01-01", "endDate": "2030-01-31"}
    body = {
        "name": "States",
        "widgets": [
            {
                "id": "broken",
                "type": "metric",
                "title": "Broken",
                "source": {"reportId": prices, "parameters": empty, "column": "nope"},
                "position": {"x": 0, "y": 0},
                "size": {"width": 6, "height": 2},
            },
            {
                "id": "none",
                "type": "report",
                "title": "Nothing",
                "source": {"reportId": prices, "parameters": empty},
                "position": {"x": 6, "y": 0},
                "size": {"width": 6, "height": 2},
            },
        ],
    }
    dashboard = save_dashboard(sessions, "acme", body)
    signed(web, sessions, Role.viewer)
    cold = web.get(f"/dashboards/{dashboard}").text
    assert cold.count("Loading: the data is being generated.") == 2
    assert cold.count('aria-busy="true"') == 2 and 'content="2;url=?wait=10"' in cold
    html = web.get(f"/dashboards/{dashboard}", params={"wait": "10"}).text
    assert "This widget could not be loaded: the result has no column &#39;nope&#39;" in html
    assert "No rows: the result is empty." in html
    assert "Loading:" not in html and 'http-equiv="refresh" content="300' in html


def test_a_widget_fragment_reads_only_its_widget(
    web: TestClient, sessions: sessionmaker[Session], demo: str
) -> None:
    signed(web, sessions, Role.viewer)
    answer = web.get(f"/dashboards/{demo}/widgets/close", params={"p.ticker": "BRNX"})
    assert answer.status_code == 200
    assert 'id="widget-close"' in answer.text and 'id="widget-price"' not in answer.text
    assert "hx-get" in answer.text and "every 2s" in answer.text  # pending: it polls
    with sessions() as session:
        jobs = session.scalars(select(ReportJob)).all()
    assert len(jobs) == 1 and (jobs[0].parameters or {})["ticker"] == "BRNX"
    # A refused value is said in the widget, which keeps its data.
    refused = web.get(f"/dashboards/{demo}/widgets/close", params={"p.since": "soon"})
    assert refused.status_code == 200
    assert "its default is used: Since: must be a date" in refused.text


def test_a_bad_filter_value_is_shown_at_its_field(
    web: TestClient, sessions: sessionmaker[Session], demo: str
) -> None:
    signed(web, sessions, Role.viewer)
    answer = web.get(f"/dashboards/{demo}", params={"p.since": "<b>soon</b>", "p.ticker": "BRNX"})
    assert answer.status_code == 422
    html = answer.text
    assert '<a href="#p-since">Must be a date, YYYY-MM-DD.</a>' in html
    assert 'value="&lt;b&gt;soon&lt;/b&gt;"' in html  # what was typed, kept (as text)
    assert '<option value="BRNX" selected>' in html  # the other filter still applies
    assert 'id="widget-price"' in html


def test_the_list_searches_tags_and_pages(web: TestClient, sessions: sessionmaker[Session]) -> None:
    for n in range(23):
        make_dashboard(sessions, name=f"Board {n:02}", tags=["ops"] if n % 2 else ["sales"])
    signed(web, sessions, Role.viewer)
    first = web.get("/dashboards").text
    assert "23 dashboards, page 1 of 2." in first
    past = web.get("/dashboards", params={"page": "99"}).text
    assert "page 2 of 2" in past and past.count('<th scope="row">') == 3
    assert web.get("/dashboards", params={"page": "x"}).status_code == 200
    found = web.get("/dashboards", params={"q": "Board 07"}).text
    assert "1 dashboard found." in found and "Board 07" in found and "Board 08" not in found
    tagged = web.get("/dashboards", params={"tag": "ops"}).text
    assert "11 dashboards found." in tagged
    assert web.get("/dashboards", params={"q": "x" * 5000}).status_code == 200


def test_a_new_dashboard_keeps_what_was_typed_when_refused(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    token = signed(web, sessions, Role.editor)
    refused = web.post(
        "/dashboards/new",
        data={"csrf_token": token, "name": "  ", "description": "About <i>sales</i>"},
    )
    assert refused.status_code == 422
    assert 'href="#name"' in refused.text
    assert "About &lt;i&gt;sales&lt;/i&gt;</textarea>" in refused.text
    made = web.post(
        "/dashboards/new",
        data={"csrf_token": token, "name": "Sales", "description": "", "tags": "a, b"},
    )
    assert made.status_code == 303
    location = made.headers["location"]
    assert re.fullmatch(r"/dashboards/[0-9a-f-]{36}/edit\?done=created", location)
    page = web.get(location).text
    assert "Dashboard created." in page and "no widgets yet" in page


def test_edit_forms_show_errors_at_their_fields(
    web: TestClient, sessions: sessionmaker[Session], demo: str
) -> None:
    token = signed(web, sessions, Role.editor)
    current = version(sessions, demo)
    base = {"csrf_token": token, "version": str(current)}
    ids = report_ids(sessions)

    # A required parameter with no value, at the parameters field; the rest kept.
    refused = web.post(
        f"/dashboards/{demo}/edit/widgets",
        data={
            **base,
            "type": "report",
            "title": "Kept title",
            "report": ids[TRADING],
            "parameters": "",
            "x": "1",
            "y": "13",
            "width": "4",
            "height": "2",
        },
    )
    assert refused.status_code == 422
    assert '<a href="#parameters">Parameter startDate: report' in refused.text
    assert 'value="Kept title"' in refused.text
    # Covering another widget, at the place fields.
    covering = web.post(
        f"/dashboards/{demo}/edit/widgets",
        data={
            **base,
            "type": "text",
            "markdown": "hi",
            "x": "1",
            "y": "1",
            "width": "2",
            "height": "1",
        },
    )
    assert covering.status_code == 422 and 'href="#x"' in covering.text

    # A move the grid cannot take, at its widget; nothing saved.
    edge = web.post(f"/dashboards/{demo}/edit/widgets/price", data={**base, "action": "left"})
    assert edge.status_code == 422
    assert "It cannot move left: it is at the left edge of the grid." in edge.text
    assert version(sessions, demo) == current

    # A stale version is a 409 with a message, and saves nothing.
    moved = web.post(f"/dashboards/{demo}/edit/widgets/side", data={**base, "action": "right"})
    assert moved.status_code == 303 and moved.headers["location"].endswith("#widget-side")
    assert widget_place(sessions, demo, "side")["x"] == 1
    stale = web.post(f"/dashboards/{demo}/edit/widgets/side", data={**base, "action": "right"})
    assert stale.status_code == 409
    assert "Someone else changed this dashboard" in stale.text
    assert widget_place(sessions, demo, "side")["x"] == 1

    # A filter: its errors at its fields, then added, then removed.
    now = {"csrf_token": token, "version": str(version(sessions, demo))}
    bad = web.post(
        f"/dashboards/{demo}/edit/filters",
        data={
            **now,
            "filter.label": "Until",
            "filter.name": "until day",
            "filter.type": "date",
            "target.side": "endDate",
        },
    )
    assert bad.status_code == 422 and 'href="#filter-name"' in bad.text
    added = web.post(
        f"/dashboards/{demo}/edit/filters",
        data={
            **now,
            "filter.label": "Until",
            "filter.name": "until",
            "filter.type": "date",
            "filter.defaultValue": "2025-12-31",
            "target.side": "endDate",
        },
    )
    assert added.status_code == 303
    page = web.get(f"/dashboards/{demo}").text
    assert '<label class="label" for="p-until">Until</label>' in page
    assert "change from:#p-until" in page
    gone = web.post(
        f"/dashboards/{demo}/edit/filters/until/remove",
        data={"csrf_token": token, "version": str(version(sessions, demo))},
    )
    assert gone.status_code == 303
    assert "p-until" not in web.get(f"/dashboards/{demo}").text


def test_moves_step_over_widgets_and_resizes_never_cover_one() -> None:
    def widget(wid: str, x: int, y: int, width: int, height: int) -> dict[str, Any]:
        return {
            "id": wid,
            "title": wid.title(),
            "position": {"x": x, "y": y},
            "size": {"width": width, "height": height},
        }

    widgets = [widget("a", 0, 0, 6, 2), widget("b", 0, 2, 12, 2), widget("c", 0, 4, 4, 1)]
    with pytest.raises(ValidationFailed, match="no free place above it"):
        arrange.arrange(widgets, 2, "up", {})
    widgets = [widget("a", 0, 0, 6, 2), widget("b", 0, 2, 12, 2), widget("c", 6, 4, 4, 1)]
    arrange.arrange(widgets, 2, "up", {})
    assert widgets[2]["position"] == {"x": 6, "y": 1}  # b stepped over; a is not in its way
    with pytest.raises(ValidationFailed, match="would cover “B”"):
        arrange.arrange(widgets, 2, "taller", {})
    with pytest.raises(ValidationFailed, match="at the top of the grid"):
        arrange.arrange(widgets, 0, "up", {})
    arrange.arrange(widgets, 0, "place", {"x": "40", "y": "-3", "width": "3", "height": "1"})
    assert widgets[0]["position"] == {"x": 9, "y": 0} and widgets[0]["size"]["width"] == 3
