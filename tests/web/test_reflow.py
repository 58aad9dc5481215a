"""WCAG 2.2's reflow (1.4.10): at 320 CSS px wide — what a 1280 px window shows at 400 %, and
a phone held upright — every page fits the window; only wide tables, charts and code scroll
sideways, inside their own boxes. The check is geometric: no element sticks out past the
window's right edge unless a box that scrolls sideways holds it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.models import Role
from tests.factories import Tenancy
from tests.web.conftest import PageLog
from tests.web.helpers import add_user
from tests.web.report_runs import last_days, report_id
from tests.web.test_dashboard_pages import make_dashboard

WIDTH = 320
LONG_EMAIL = "quarterly.reporting.automation.service@finance-department.example.com"
LONG_NAME = "Quarterly_revenue_by_region_and_product_line_for_the_board_2026"
MONTHLY = "Monthly Performance Report"

# Elements past the window's right edge that no sideways-scrolling box holds.
STICKING_OUT = """(width) => {
  const scrolls = (e) => {
    const x = getComputedStyle(e).overflowX;
    return (x === "auto" || x === "scroll") && e.scrollWidth > e.clientWidth - 1;
  };
  const held = (e) => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
      if (scrolls(p)) return true;
    return false;
  };
  const out = [];
  for (const e of document.body.querySelectorAll("*")) {
    const box = e.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= width + 1) continue;
    if (getComputedStyle(e).visibility === "hidden" || held(e)) continue;
    const classes = typeof e.className === "string" ? e.className.trim() : "";
    out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
             (classes ? "." + classes.split(/\\s+/).join(".") : "") +
             " right=" + Math.round(box.right));
  }
  return out.slice(0, 10);
}"""


def test_every_page_reflows_at_320_px(
    signed_in: Page,
    live_server: str,
    tenancy: Tenancy,
    sessions: sessionmaker[Session],
    page_log: PageLog,
) -> None:
    tenancy.demo("acme")
    dashboard = make_dashboard(sessions)
    # Long names where pages list them (user pickers, tables, headings): they must wrap.
    add_user(sessions, tenant="acme", email=LONG_EMAIL, role=Role.viewer)
    prices = report_id(sessions, "Price History")
    with session_scope(sessions) as session:  # the definition and its read model alike
        definition = session.get(models.ReportDefinition, prices)
        listed = session.get(models.ReportDefinitionView, prices)
        assert definition is not None and listed is not None
        definition.name = listed.name = LONG_NAME
    monthly = report_id(sessions, MONTHLY)
    page = signed_in

    # A result to show: run as a person does.
    page.goto(f"{live_server}/reports/{monthly}/run")
    start, end = last_days(120)
    page.get_by_label("Start Date").fill(start)
    page.get_by_label("End Date").fill(end)
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/results/[0-9a-f-]{36}$"), timeout=30_000)
    result = page.url.rsplit("/", 1)[1]

    page.set_viewport_size({"width": WIDTH, "height": 640})
    paths = [
        "/reports",
        f"/reports/{prices}",
        f"/reports/{monthly}",
        f"/reports/{monthly}/run",
        f"/reports/{monthly}/edit",
        "/reports/new",
        f"/results/{result}",
        "/schedules",
        "/schedules/new",
        "/dashboards",
        f"/dashboards/{dashboard}",
        f"/dashboards/{dashboard}/edit",
        "/dashboards/new",
        "/admin",
        "/admin/datasources",
        "/admin/users",
        "/admin/keys",
        "/admin/audit",
        "/admin/tenant",
    ]
    found: dict[str, list[str]] = {}
    for path in paths:
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("networkidle")
        out = page.evaluate(STICKING_OUT, WIDTH)
        if out:
            found[path] = out
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH or path in found
    assert not found, found
    page_log.assert_clean()
