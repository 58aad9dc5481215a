"""The schedule pages in a real browser: a schedule made through the form whose preview is
the API's, run now and delivered to a real SMTP server (aiosmtpd) with each recipient's
status on the run's page, pause and resume; the form without JavaScript; and axe-core's
WCAG A/AA checks on every schedule page at desktop and phone widths."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.deliveries import service as deliveries
from broadsheet.runtime import Runtime
from tests.deliveries.test_email import Inbox, Serve, serve  # noqa: F401
from tests.factories import Caller
from tests.schedules.test_ticker import settle
from tests.web.conftest import PageLog, sign_in_page
from tests.web.helpers import add_user, assert_pages_fit, mailing_to

Axe = Callable[..., None]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def settings(settings: Settings, serve: Serve, inbox: Inbox) -> Settings:  # noqa: F811
    """The tests' settings, with email going to a real SMTP server on this machine."""
    return mailing_to(settings, serve(inbox))


def api_get(base: str, caller: Caller, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{base}{path}", params=params, headers=caller.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def fill_schedule(page: Page) -> None:
    """The form as a person fills it for the Usage Summary, weekly in New York."""
    page.get_by_label("Name", exact=True).fill("Usage to the team")
    page.get_by_label("What it sends").select_option(label="Usage Summary")
    page.get_by_label("Cadence").select_option("weekly")
    page.get_by_label("Time", exact=True).fill("09:30")
    page.get_by_label("Day of the week").select_option(label="Tuesday")
    page.get_by_label("Time zone").fill("America/New_York")


def preview_utc(page: Page) -> list[str]:
    return [str(t.get_attribute("datetime")) for t in page.locator(".fires__utc").all()]


def preview_local(page: Page) -> list[str]:
    return [str(t.get_attribute("data-local")) for t in page.locator(".fires__local").all()]


def test_a_schedule_from_the_form_to_the_inbox(
    signed_in: Page,
    live_server: str,
    api: Caller,
    page_log: PageLog,
    axe: Axe,
    settings: Settings,
    sessions: sessionmaker[Session],
    engine: Engine,
    inbox: Inbox,
) -> None:
    page = signed_in
    page.goto(f"{live_server}/schedules")
    expect(page).to_have_title("Schedules · Broadsheet")
    page.get_by_role("link", name="New schedule").click()
    expect(page).to_have_title("New schedule · Broadsheet")
    fill_schedule(page)
    # htmx brought the report's parameters when it was chosen.
    page.get_by_label("Week Start").fill("{{today().minusDays(7)}}")
    page.get_by_label("Week End").fill("{{today()}}")
    # Only the weekly cadence's own fields show.
    expect(page.get_by_label("Day of the week")).to_be_visible()
    expect(page.get_by_label("Day of the month")).to_be_hidden()
    expect(page.get_by_label("Cron expression")).to_be_hidden()

    # The preview follows what was typed, and is what the API answers for the same cadence.
    expected = api_get(live_server, api, "/api/v1/schedules/preview",
                       schedule="30 9 * * 2", timezone="America/New_York")  # fmt: skip
    want = [f["utc"] for f in expected["fires"]]
    expect(page.locator(".fires__utc").first).to_have_attribute("datetime", want[0])
    assert preview_utc(page) == want
    assert preview_local(page) == [f["local"] for f in expected["fires"]]
    expect(page.locator(".fires__values").first).to_contain_text("startDate")
    expect(page.locator(".fires__local").first).to_contain_text("09:30 (America/New_York)")

    page.locator("#recipients-0-address").fill("ann@example.com")
    page.get_by_role("button", name="Add recipient").click()
    expect(page.locator("#recipients-1-address")).to_be_visible()
    expect(page.locator("#recipients-0-address")).to_have_value("ann@example.com")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Usage to the team")
    page.locator("#recipients-1-address").fill("bob@example.com")
    axe(page)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Usage to the team")
    expect(page.get_by_role("status")).to_contain_text("The schedule is saved.")
    schedule_id = re.search(r"/schedules/([0-9a-f-]{36})", page.url)
    assert schedule_id
    saved = api_get(live_server, api, f"/api/v1/schedules/{schedule_id.group(1)}")
    assert saved["schedule"] == "30 9 * * 2" and saved["timezone"] == "America/New_York"
    assert [r["address"] for r in saved["recipients"]] == ["ann@example.com", "bob@example.com"]
    axe(page)

    # Run now: the run's page follows the execution to each recipient's delivery.
    page.get_by_role("button", name="Run now").click()
    expect(page).to_have_url(re.compile(r"/executions/[0-9a-f-]{36}"))
    execution_id = uuid.UUID(page.url.split("/executions/")[1].split("?")[0])
    runtime = Runtime.build(settings, engine)
    assert settle(runtime, sessions, execution_id) == "completed"
    deadline = time.monotonic() + 30
    while deliveries.advance(runtime) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)  # the deliveries are planned as the execution completes
    rows = page.get_by_role("row")
    ann = rows.filter(has_text="ann@example.com")
    bob = rows.filter(has_text="bob@example.com")
    expect(ann).to_contain_text("sent", timeout=15_000)  # the page asks again by itself
    expect(bob).to_contain_text("sent")
    expect(ann.get_by_role("cell").nth(2)).to_have_text("1")  # one attempt
    assert sorted(r for m in inbox.received for r in m.rcpt_tos) == [
        "ann@example.com", "bob@example.com"]  # fmt: skip
    expect(page.get_by_role("status")).to_contain_text("completed")
    axe(page)

    # Pause and resume.
    page.get_by_role("link", name="Usage to the team").click()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("The schedule is paused")
    assert (
        api_get(live_server, api, f"/api/v1/schedules/{schedule_id.group(1)}")["enabled"] is False
    )
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text("running again")
    assert api_get(live_server, api, f"/api/v1/schedules/{schedule_id.group(1)}")["enabled"] is True
    # The history shows the run with its recipients' statuses.
    history = page.get_by_role("region", name="History")
    expect(history).to_contain_text("2 sent")
    page_log.assert_clean()


def test_the_form_without_javascript(
    no_script: Page, live_server: str, api: Caller, sessions: sessionmaker[Session]
) -> None:
    page = sign_in_page(no_script, live_server, add_user(sessions, role=models.Role.editor))
    page.goto(f"{live_server}/schedules/new")
    fill_schedule(page)
    # No htmx: the report's parameters come with a button.
    page.get_by_role("button", name="Show its parameters").click()
    page.get_by_label("Week Start").fill("{{today().minusDays(7)}}")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Usage to the team")
    # CSS, not script, shows the cadence's own fields.
    expect(page.get_by_label("Day of the month")).to_be_hidden()
    page.get_by_label("Cadence").select_option("cron")
    page.get_by_label("Cron expression").fill("0 7 1 * *")
    page.get_by_role("button", name="Preview", exact=True).click()
    expected = api_get(live_server, api, "/api/v1/schedules/preview",
                       schedule="0 7 1 * *", timezone="America/New_York")  # fmt: skip
    assert preview_utc(page) == [f["utc"] for f in expected["fires"]]
    expect(page.get_by_label("Cron expression")).to_have_value("0 7 1 * *")

    page.locator("#recipients-0-type").select_option("slack")
    page.locator("#recipients-0-address").fill("#reports")
    page.get_by_role("button", name="Add recipient").click()
    expect(page.locator("#recipients-0-address")).to_have_value("#reports")
    page.locator("#recipients-1-type").select_option("webhook")
    page.locator("#recipients-1-address").fill("https://hooks.example.com/in")
    page.locator("#recipients-1-secret").fill("short")  # too short: refused at its field
    page.get_by_role("button", name="Save", exact=True).click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("at least 16 characters")
    expect(page.locator("#recipients-1-secret-error")).to_be_visible()
    expect(page.locator("#recipients-1-address")).to_have_value("https://hooks.example.com/in")
    page.locator("#recipients-1-secret").fill("a-secret-of-twenty-chars")
    page.get_by_role("button", name="Save", exact=True).click()
    # The required Week End, left empty, is named at its own field.
    expect(page.locator("#parameters-endDate-error")).to_contain_text("Week End is required")
    expect(page.get_by_label("Week Start")).to_have_value("{{today().minusDays(7)}}")
    page.get_by_label("Week End").fill("{{today()}}")
    page.locator("#recipients-1-secret").fill("a-secret-of-twenty-chars")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("The schedule is saved.")
    with sessions() as session:
        row = session.scalar(
            select(models.ReportSchedule).where(models.ReportSchedule.name == "Usage to the team")
        )
    assert row is not None and row.schedule == "0 7 1 * *"
    assert [r["type"] for r in row.recipients] == ["slack", "webhook"]


@pytest.mark.parametrize("width", [1280, 375])
def test_every_schedule_page_is_accessible(
    signed_in: Page, live_server: str, api: Caller, axe: Axe, page_log: PageLog, width: int
) -> None:
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    listed = api_get(live_server, api, "/api/v1/schedules")
    schedule = listed[0]["id"]
    ran = httpx.post(f"{live_server}/api/v1/schedules/{schedule}/run", headers=api.headers)
    assert ran.status_code == 202, ran.text
    pages = [
        ("/schedules", "Schedules · Broadsheet"),
        ("/schedules/new", "New schedule · Broadsheet"),
        (f"/schedules/{schedule}", f"{listed[0]['name']} · Schedules · Broadsheet"),
        (f"/schedules/{schedule}/executions/{ran.json()['id']}", None),
        (f"/schedules/{schedule}/delete", None),
    ]
    assert_pages_fit(page, live_server, pages, width, axe)
    # The form with its errors shown.
    page.goto(f"{live_server}/schedules/new")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    axe(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # (The 422 itself is a console message; nothing else may be.)
    assert page_log.csp_violations == [] and page_log.page_errors == []
