"""The report list, a report's page and its run form and status, through the real pages
(TestClient, on SQLite and PostgreSQL): what each role sees and may do, other tenants'
ids, paging past the end, hostile text, and run forms that fail keeping what was typed."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import demo
from broadsheet.config import Settings
from broadsheet.models import Role
from tests.factories import Tenancy
from tests.web.helpers import create_report, csrf_token, page_client, sign_in_as
from tests.web.report_runs import (
    last_days,
    post_run,
    report_id,
    run_to_result,
    running_job,
    state_of,
    wait_for_run,
)

HOSTILE = "<script>alert('x')</script>&amp;\"quoted\""


def _names(page_html: str) -> list[str]:
    return [
        html.unescape(n)
        for n in re.findall(r'<a href="/reports/[0-9a-f-]{36}">([^<]*)</a>', page_html)
    ]


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_each_report_with_last_run_and_schedules(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    page = web.get("/reports")
    assert page.status_code == 200
    assert "<title>Reports · Broadsheet</title>" in page.text
    assert sorted(_names(page.text)) == sorted(r["name"] for r in demo.REPORTS)
    assert '<a class="button button--primary" href="/reports/new">New report</a>' in page.text
    rows = re.findall(r"<tr>\s*<th scope=\"row\".*?</tr>", page.text, re.S)
    usage = next(r for r in rows if ">Usage Summary<" in r)
    # The demo's one schedule sends the Usage Summary; nothing has run yet.
    assert re.search(r'data-label="Schedules" class="num">1<', usage)
    assert "Never" in usage
    other = next(r for r in rows if ">Price History<" in r)
    assert re.search(r'data-label="Schedules" class="num">0<', other)

    # After a run, its row says when.
    start, end = last_days(30)
    run_to_result(web, report_id(sessions, "Price History"), {"startDate": start, "endDate": end})
    rows = re.findall(r"<tr>\s*<th scope=\"row\".*?</tr>", web.get("/reports").text, re.S)
    ran = next(r for r in rows if ">Price History<" in r)
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">[^<]+ UTC</time>', ran)


def test_viewers_see_no_new_report_or_edit(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.viewer)
    page = web.get("/reports")
    assert page.status_code == 200
    assert "New report" not in page.text and "/reports/new" not in page.text
    rid = report_id(sessions, "Strategy Scorecard")
    report = web.get(f"/reports/{rid}")
    assert report.status_code == 200
    assert f'href="/reports/{rid}/run">Run</a>' in report.text
    assert "/edit" not in report.text and ">Edit<" not in report.text
    sign_in_as(web, sessions, Role.editor)
    assert f'href="/reports/{rid}/edit">Edit</a>' in web.get(f"/reports/{rid}").text


def test_search_category_and_tag_filter_the_list(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.viewer)
    assert _names(web.get("/reports", params={"q": "scorecard"}).text) == ["Strategy Scorecard"]
    assert sorted(_names(web.get("/reports", params={"category": "performance"}).text)) == [
        "Monthly Performance Report",
        "Strategy Scorecard",
    ]
    assert sorted(_names(web.get("/reports", params={"tag": "weekly"}).text)) == [
        "Trading Activity",
        "Usage Summary",
    ]
    both = web.get("/reports", params={"category": "trading", "tag": "weekly"})
    assert _names(both.text) == ["Trading Activity"]
    # What was asked stays in the form.
    assert 'value="weekly"' in both.text and '<option value="trading" selected>' in both.text
    none = web.get("/reports", params={"q": "no such report %_"})
    assert none.status_code == 200 and _names(none.text) == []
    assert "No reports match" in none.text and 'href="/reports">Show every report' in none.text


def test_an_empty_tenant_says_so(settings: Settings, sessions: sessionmaker[Session]) -> None:
    with page_client(settings) as client:
        sign_in_as(client, sessions, Role.editor, tenant="empty")
        page = client.get("/reports")
        assert "There are no reports yet" in page.text
        assert 'href="/reports/new">Make the first one' in page.text
        sign_in_as(client, sessions, Role.viewer, tenant="empty")
        assert "/reports/new" not in client.get("/reports").text


def test_a_page_past_the_end_shows_the_last(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    for number in range(20):  # 25 with the demo's five: two pages of 20
        create_report(sessions, settings, name=f"Extra {number:02}", tags=["extra"])
    sign_in_as(web, sessions, Role.viewer)
    first = web.get("/reports")
    assert len(_names(first.text)) == 20
    assert 'href="/reports?page=2" rel="next">Next</a>' in first.text
    for asked in ("2", "3", "99", "99999999999999999999"):
        last = web.get("/reports", params={"page": asked})
        assert last.status_code == 200
        assert len(_names(last.text)) == 5
        assert "Page 2 of 2" in last.text and "Reports 21 to 25 of 25" in last.text
    for junk in ("0", "-1", "abc", "", "1e3", "٣"):
        assert len(_names(web.get("/reports", params={"page": junk}).text)) == 20
    # Filters stay in the paging links.
    tagged = web.get("/reports", params={"tag": "extra", "page": "7"})
    assert "Page 1 of 1" not in tagged.text and len(_names(tagged.text)) == 20


def test_another_tenants_report_is_the_404_page(
    web: TestClient, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    tenancy.demo("globex")
    theirs = report_id(sessions, "Price History", tenant="globex")
    sign_in_as(web, sessions, Role.admin)
    for path in (f"/reports/{theirs}", f"/reports/{theirs}/run", "/reports/not-an-id"):
        page = web.get(path)
        assert page.status_code == 404, path
        assert "Page not found" in page.text and "text/html" in page.headers["content-type"]
    token = csrf_token(web.get("/reports").text)
    posted = web.post(f"/reports/{theirs}/run", data={"csrf_token": token})
    assert posted.status_code == 404


# --- a report's page ------------------------------------------------------------------------


def test_the_report_page_shows_the_definition(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.viewer)
    rid = report_id(sessions, "Price History")
    page = web.get(f"/reports/{rid}")
    assert "<title>Price History · Broadsheet</title>" in page.text
    text = page.text
    assert "Daily open, high, low and close of one ticker." in text
    assert re.search(r"<dt>Data source</dt>\s*<dd>portfolio_analytics</dd>", text)
    for label in ("Ticker", "Start Date", "End Date"):
        assert f'<th scope="row" data-label="Label">{label}</th>' in text
    assert 'Price <span class="muted">(candlestick)</span>' in text
    assert '<pre class="sql"' in text and "WHERE ticker = :ticker AND date BETWEEN" in text
    assert "No results yet" in text
    start, end = last_days(20)
    result = run_to_result(web, rid, {"startDate": start, "endDate": end})
    again = web.get(f"/reports/{rid}").text
    assert f'href="/results/{result}"' in again
    assert f"Start Date: {start}" in again and "Ticker: ACME" in again


def test_hostile_names_sql_and_values_render_as_text(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    rid = create_report(
        sessions,
        settings,
        name=HOSTILE,
        description=f"{HOSTILE}\n<img src=x onerror=alert(1)>",
        category="<b>cat</b>",
        tags=["<i>tag</i>"],
        query=f"SELECT '{HOSTILE.replace(chr(39), chr(39) * 2)}' AS \"<col>\", :who AS who",
        parameters=[{"name": "who", "label": "<u>Who</u>", "type": "string"}],
        visualizations=[],
        layout=None,
    )
    sign_in_as(web, sessions, Role.editor)
    for path in ("/reports", f"/reports/{rid}", f"/reports/{rid}/run"):
        page = web.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert "<b>cat</b>" not in page.text and "<u>Who</u>" not in page.text, path
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;&#34;quoted&#34;"
        in web.get(f"/reports/{rid}").text
    )
    # A hostile value runs as text, and is shown as text on the run and the result.
    result = run_to_result(web, rid, {"who": HOSTILE})
    for path in (f"/results/{result}", f"/reports/{rid}"):
        shown = web.get(path).text
        assert "<script>alert" not in shown, path
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in shown, path
    # The hostile column name heads the result's table as text, and sorts.
    table = web.get(f"/results/{result}", params={"sort": "<col>", "dir": "desc"}).text
    assert 'aria-sort="descending"' in table and "&lt;col&gt;" in table and "<col>" not in table


# --- the run form ---------------------------------------------------------------------------


def _typed_report(sessions: sessionmaker[Session], settings: Settings) -> uuid.UUID:
    return create_report(
        sessions,
        settings,
        name="Every type",
        timezone="Pacific/Kiritimati",  # UTC+14: its today is rarely UTC's
        query="SELECT :s AS s, :n AS n, :b AS b, :e AS e, :d AS d, :o AS o",
        parameters=[
            {"name": "s", "label": "Some text", "type": "string", "required": True},
            {"name": "n", "label": "A number", "type": "number", "defaultValue": "2.5"},
            {"name": "b", "label": "Include closed", "type": "boolean", "defaultValue": "true"},
            {
                "name": "e",
                "label": "Region",
                "type": "enum",
                "required": True,
                "options": [{"label": "North", "value": "n"}, {"label": "South", "value": "s"}],
            },
            {"name": "d", "label": "As of", "type": "date", "defaultValue": "today().minusDays(1)"},
            {"name": "o", "label": "Optional date", "type": "date"},
        ],
        visualizations=[],
        layout=None,
    )


def test_the_run_form_has_a_field_of_each_parameters_type(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    rid = _typed_report(sessions, settings)
    sign_in_as(web, sessions, Role.viewer)
    page = web.get(f"/reports/{rid}/run")
    assert page.status_code == 200 and "<title>Run Every type · Broadsheet</title>" in page.text
    text = page.text
    assert re.search(r'<label class="label" for="p-s">Some text</label>.*?type="text"', text, re.S)
    assert re.search(r'id="p-n" name="p.n" type="number" value="2.5"', text)
    # The boolean: a hidden false first, then the ticked box (its default is true).
    assert re.search(
        r'<input type="hidden" name="p.b" value="false">.*?id="p-b" name="p.b" type="checkbox" '
        r'value="true" checked',
        text,
        re.S,
    )
    assert re.search(r'<select class="select" id="p-e" name="p.e"', text)
    assert (
        '<option value="">Choose one</option>' in text
        and '<option value="s">South</option>' in text
    )
    # A date default is shown evaluated, in the report's zone.
    yesterday = (
        datetime.now(UTC).astimezone(ZoneInfo("Pacific/Kiritimati")).date()
    ).toordinal() - 1
    shown = datetime.fromordinal(yesterday).date().isoformat()
    assert re.search(rf'id="p-d" name="p.d" type="date" value="{shown}"', text)
    assert f"Default: today().minusDays(1), which is {shown} today." in text
    assert re.search(r'id="p-o" name="p.o" type="date" value=""', text)
    assert '<button class="button button--primary" type="submit">Run</button>' in text


def test_bad_run_values_show_the_form_again_with_what_was_typed(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    rid = _typed_report(sessions, settings)
    sign_in_as(web, sessions, Role.viewer)
    answer = post_run(
        web,
        rid,
        {"s": HOSTILE, "n": "twelve", "e": "west", "d": "2025-02-30", "o": "<b>soon</b>"},
    )
    assert answer.status_code == 422
    text = answer.text
    assert "<title>Error: Run Every type · Broadsheet</title>" in text
    assert 'class="error-summary"' in text
    # Each error at its field, linked from the summary.
    for field in ("n", "e", "d", "o"):
        assert f'href="#p-{field}"' in text, field
        assert f'id="p-{field}-error"' in text, field
    assert "A number: &#39;twelve&#39; is not a number." in text
    assert "p-s-error" not in text
    # What was typed is kept (as text).
    assert 'value="twelve"' in text and 'value="2025-02-30"' in text
    assert 'value="&lt;b&gt;soon&lt;/b&gt;"' in text
    assert (
        'value="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;&#34;quoted&#34;"' in text
    )
    assert "<script>alert" not in text
    # A required field left empty says so.
    missing = post_run(web, rid, {"s": "", "e": "n"})
    assert missing.status_code == 422
    assert (
        '<p id="p-s-error" class="error-message"><span class="visually-hidden">Error:</span> '
        "Some text is required.</p>" in missing.text
    )
    assert '<a href="#p-s">Some text is required.</a>' in missing.text


def test_a_run_unticks_a_default_true_boolean(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    rid = _typed_report(sessions, settings)
    sign_in_as(web, sessions, Role.viewer)
    token = csrf_token(web.get(f"/reports/{rid}/run").text)
    posted = web.post(
        f"/reports/{rid}/run",
        data={"csrf_token": token, "p.s": "x", "p.b": "false", "p.e": "s"},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    page = web.get(posted.headers["location"]).text
    for label, value in (("Include closed", "false"), ("Region", "s"), ("A number", "2.5")):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page


# --- the run's status -----------------------------------------------------------------------


def test_a_run_goes_to_its_status_and_on_to_its_result(
    web: TestClient, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.viewer)
    rid = report_id(sessions, "Monthly Performance Report")
    start, end = last_days(40)
    posted = post_run(web, rid, {"startDate": start, "endDate": end})
    assert posted.status_code == 303
    status_url = posted.headers["location"]
    assert re.fullmatch(rf"/reports/{rid}/run\?job=[0-9a-f-]{{36}}", status_url)
    page = web.get(status_url)
    assert page.status_code == 200
    assert 'role="status" aria-live="polite"' in page.text
    assert state_of(page.text) in ("queued", "processing", "completed")
    final = wait_for_run(web, status_url)
    assert state_of(final) == "completed"
    assert "Cancel" not in final and ">Run again</a>" in final
    result = re.search(r'href="/results/([0-9a-f-]{36})">See the result', final)
    assert result
    # htmx's poll: unchanged is a 204, changed is the new status and, done, the way on.
    htmx = {"HX-Request": "true"}
    assert web.get(f"{status_url}&seen=completed", headers=htmx).status_code == 204
    update = web.get(f"{status_url}&seen=processing", headers=htmx)
    assert update.status_code == 200
    assert update.headers["HX-Redirect"] == f"/results/{result.group(1)}"
    assert update.text.lstrip().startswith('<div id="job-poll"') and "<html" not in update.text
    assert 'hx-swap-oob="true"' in update.text and "hx-trigger" not in update.text


def test_cancel_a_queued_run_and_who_may(
    web: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    rid = report_id(sessions, "Usage Summary")
    start, end = last_days(7)
    job_id = running_job(sessions, settings, rid, {"startDate": start, "endDate": end})
    status_url = f"/reports/{rid}/run?job={job_id}"
    sign_in_as(web, sessions, Role.viewer)
    page = web.get(status_url)
    assert state_of(page.text) == "processing"
    assert ">Cancel</button>" not in page.text  # a viewer cancels only their own runs
    assert 'href="' + status_url.replace("&", "&amp;") + '">Refresh</a>' in page.text
    token = csrf_token(page.text)
    refused = web.post(f"/reports/{rid}/run/cancel", data={"csrf_token": token, "job": str(job_id)})
    assert refused.status_code == 403 and "You cannot do that" in refused.text
    assert web.post(f"/reports/{rid}/run/cancel", data={"job": str(job_id)}).status_code == 403

    sign_in_as(web, sessions, Role.editor)
    page = web.get(status_url)
    assert state_of(page.text) == "processing"
    assert ">Cancel</button>" in page.text
    cancelled = web.post(
        f"/reports/{rid}/run/cancel",
        data={"csrf_token": csrf_token(page.text), "job": str(job_id)},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303 and cancelled.headers["location"] == status_url
    after = web.get(status_url).text
    assert state_of(after) == "cancelled" and ">Cancel</button>" not in after
    # Cancelling again is no error: the page shows how it ended.
    again = web.post(
        f"/reports/{rid}/run/cancel",
        data={"csrf_token": csrf_token(after), "job": str(job_id)},
        follow_redirects=False,
    )
    assert again.status_code == 303


def test_a_job_of_another_report_or_tenant_is_a_404(
    web: TestClient, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    sign_in_as(web, sessions, Role.admin)
    rid = report_id(sessions, "Usage Summary")
    other = report_id(sessions, "Price History")
    start, end = last_days(7)
    status_url = post_run(web, rid, {"startDate": start, "endDate": end}).headers["location"]
    job = status_url.rsplit("=", 1)[1]
    assert web.get(f"/reports/{other}/run?job={job}").status_code == 404
    assert web.get(f"/reports/{rid}/run?job=nonsense").status_code == 404
    tenancy.demo("globex")
    sign_in_as(web, sessions, Role.admin, tenant="globex")
    theirs = report_id(sessions, "Usage Summary", tenant="globex")
    assert web.get(f"/reports/{theirs}/run?job={job}").status_code == 404
    assert web.get(status_url).status_code == 404
