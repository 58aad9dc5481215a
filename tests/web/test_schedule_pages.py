"""The schedule pages' server rules, through TestClient on SQLite and PostgreSQL: the form
saves what the API would, a failed save keeps what was typed with each error at its field,
the form's own buttons (Add recipient, Remove, Preview) work without JavaScript, the preview
is the API's, roles and tenants are kept apart, and hostile names stay text."""

from __future__ import annotations

import re
from functools import partial
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.models import Role
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id
from tests.web.helpers import (
    assert_not_found,
    csrf_token,
    field_value,
    page_client,
    post_form,
    sign_in_as,
)

SCHEDULES = "/api/v1/schedules"
# A select's name and the value of its selected option.
SELECTED = r'<select[^>]*name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected'
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'

# A schedule's form, posted with the token the schedule list carries (or ``page``'s).
post = partial(post_form, page="/schedules")


def schedule_via_api(web: TestClient, api: Caller, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reportId": report_id(web, api, "Usage Summary"),
        "name": "Weekly usage",
        "scheduleConfig": {"cadence": "weekly", "time": "09:00", "dayOfWeek": 1},
        "timezone": "Europe/London",
        "parameters": {"startDate": "{{today().minusDays(7)}}", "endDate": "{{today()}}"},
        "recipients": [{"type": "email", "address": "ann@example.com"}],
        "exportFormat": "csv",
    }
    body.update(changes)
    response = web.post(SCHEDULES, json=body, headers=api.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def form_fields(web: TestClient, api: Caller, **changes: str) -> dict[str, str]:
    """What a person fills in on /schedules/new for the Usage Summary report."""
    fields = {
        "name": "Usage to the team",
        "target": f"report:{report_id(web, api, 'Usage Summary')}",
        "scheduleConfig.cadence": "weekly",
        "scheduleConfig.time": "09:30",
        "scheduleConfig.dayOfWeek": "2",
        "scheduleConfig.dayOfMonth": "1",
        "scheduleConfig.cronExpression": "",
        "timezone": "America/New_York",
        "holidayCalendar": "US",
        "parameters.startDate": "{{today().minusDays(7)}}",
        "parameters.endDate": "{{today()}}",
        "exportFormat": "csv",
        "enabled": "true",
        "misfirePolicy": "run_once",
        "misfireGraceSeconds": "3600",
        "recipientRows": "3",
        "recipients[0].type": "email",
        "recipients[0].address": "ann@example.com",
        "recipients[1].type": "email",
        "recipients[1].address": "",
        "recipients[2].type": "webhook",
        "recipients[2].address": "https://hooks.example.com/in?token=abc",
        "recipients[2].secret": "a-secret-of-twenty-chars",
    }
    fields.update(changes)
    return fields


def test_a_schedule_made_with_the_form_is_what_the_api_reads(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    answer = post(web, "/schedules/new", form_fields(web, api))
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/schedules/[0-9a-f-]{36}\?done=created", location)
    schedule_id = location.split("/")[2].split("?")[0]
    saved = web.get(f"{SCHEDULES}/{schedule_id}", headers=api.headers).json()
    assert saved["name"] == "Usage to the team"
    assert saved["schedule"] == "30 9 * * 2" and saved["timezone"] == "America/New_York"
    assert saved["holidayCalendar"] == "US" and saved["exportFormat"] == "csv"
    assert saved["parameters"] == {
        "startDate": "{{today().minusDays(7)}}",
        "endDate": "{{today()}}",
    }
    # The blank row is no recipient; the webhook keeps its secret (write-only).
    assert saved["recipients"] == [
        {"type": "email", "address": "ann@example.com"},
        {"type": "webhook", "address": "https://hooks.example.com/in?token=abc", "hasSecret": True},
    ]
    page = web.get(location)
    assert page.status_code == 200
    assert "The schedule is saved." in page.text
    assert "Every Tuesday at 09:30, not on US holidays" in page.text
    # The edit form shows it again, secret not included.
    assert (
        field_value(page.text, "recipients[1].address") == "https://hooks.example.com/in?token=abc"
    )
    assert "a-secret-of-twenty-chars" not in page.text
    assert "A secret is set: leave this empty to keep it." in page.text


def test_saving_the_form_again_keeps_what_the_api_set(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    made = schedule_via_api(
        web,
        api,
        recipients=[
            {
                "type": "email",
                "address": "ann@example.com",
                "parameters": {"endDate": "2024-01-31"},
            },
            {"type": "webhook", "address": "https://hooks.example.com/x", "secret": "s" * 20},
        ],
        misfirePolicy="skip",
        misfireGraceSeconds=60,
    )
    sign_in_as(web, sessions, Role.editor)
    page = web.get(f"/schedules/{made['id']}").text
    fields = {
        name: unescape(value)
        for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
    }
    fields.update({name: unescape(value) for name, value in re.findall(SELECTED, page, flags=re.S)})
    fields.pop("csrf_token")
    fields["name"] = "Renamed"
    answer = post(web, f"/schedules/{made['id']}", fields, page=f"/schedules/{made['id']}")
    assert answer.status_code == 303, answer.text
    saved = web.get(f"{SCHEDULES}/{made['id']}", headers=api.headers).json()
    assert saved["name"] == "Renamed"
    for key in ("schedule", "timezone", "parameters", "exportFormat", "misfirePolicy",
                "misfireGraceSeconds", "enabled", "reportId"):  # fmt: skip
        assert saved[key] == made[key], key
    assert saved["recipients"] == made["recipients"]  # own parameters and secret kept


def test_a_failed_save_keeps_what_was_typed_with_errors_at_their_fields(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    before = schedule_count(sessions)
    fields = form_fields(
        web,
        api,
        name=HOSTILE,
        **{"recipients[2].type": "email", "recipients[2].address": "not an address"},
    )
    answer = post(web, "/schedules/new", fields)
    assert answer.status_code == 422
    html = answer.text
    # The third row (the second recipient sent) is the one named, by the form's numbering.
    assert 'id="recipients-2-address-error"' in html
    assert 'href="#recipients-2-address"' in html
    assert field_value(html, "recipients[2].address") == "not an address"
    assert field_value(html, "name") == HOSTILE
    assert "<script>alert" not in html
    assert schedule_count(sessions) == before

    bad_time = form_fields(web, api, **{"scheduleConfig.time": "25:00"})
    answer = post(web, "/schedules/new", bad_time)
    assert answer.status_code == 422
    assert 'id="scheduleConfig-time-error"' in answer.text
    assert field_value(answer.text, "scheduleConfig.time") == "25:00"

    bad_zone = form_fields(web, api, timezone="Mars/Olympus_Mons")
    answer = post(web, "/schedules/new", bad_zone)
    assert answer.status_code == 422 and 'id="timezone-error"' in answer.text

    bad_param = form_fields(web, api, **{"parameters.startDate": "{{yesterday()}}"})
    answer = post(web, "/schedules/new", bad_param)
    assert answer.status_code == 422 and 'id="parameters-startDate-error"' in answer.text

    # A required parameter left empty is named at its field (in the API's answer too).
    no_end = form_fields(web, api, **{"parameters.endDate": ""})
    answer = post(web, "/schedules/new", no_end)
    assert answer.status_code == 422 and 'id="parameters-endDate-error"' in answer.text
    body = {"reportId": no_end["target"].removeprefix("report:"), "name": "n",
            "schedule": "0 9 * * *", "parameters": {"startDate": "2024-01-01"}}  # fmt: skip
    refused = web.post(SCHEDULES, json=body, headers=api.headers)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["parameters.endDate"]

    no_target = form_fields(web, api, target="")
    answer = post(web, "/schedules/new", no_target)
    assert answer.status_code == 422 and 'id="target-error"' in answer.text


def schedule_count(sessions: sessionmaker[Session]) -> int:
    with session_scope(sessions) as session:
        return len(session.scalars(select(models.ReportSchedule.id)).all())


def test_an_edit_refused_by_the_service_changes_nothing(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    made = schedule_via_api(web, api)
    admin = tenancy.key("acme", name="settings")
    assert web.patch("/api/v1/tenant", json={"allowedEmailDomains": ["example.com"]},
                     headers=admin.headers).status_code == 200  # fmt: skip
    sign_in_as(web, sessions, Role.editor)
    fields = form_fields(
        web,
        api,
        name="Changed",
        **{"recipients[0].address": "eve@elsewhere.test", "recipients[2].address": ""},
    )
    answer = post(web, f"/schedules/{made['id']}", fields, page=f"/schedules/{made['id']}")
    assert answer.status_code == 422
    assert 'id="recipients-0-address-error"' in answer.text
    assert "this tenant sends email only to example.com" in answer.text.lower()
    assert (
        web.get(f"{SCHEDULES}/{made['id']}", headers=api.headers).json()["name"] == "Weekly usage"
    )


def test_add_and_remove_recipient_without_javascript(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    fields = form_fields(web, api, action="add-recipient")
    answer = post(web, "/schedules/new", fields)
    assert answer.status_code == 200
    html = answer.text
    assert field_value(html, "recipientRows") == "4"
    assert 'id="recipients-3-address"' in html
    assert field_value(html, "recipients[0].address") == "ann@example.com"
    assert field_value(html, "name") == "Usage to the team"

    fields = form_fields(web, api, action="remove-recipient-0")
    html = post(web, "/schedules/new", fields).text
    assert field_value(html, "recipientRows") == "2"
    assert field_value(html, "recipients[1].address") == "https://hooks.example.com/in?token=abc"
    assert "ann@example.com" not in html


def test_the_preview_is_the_apis(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    fields = form_fields(web, api, **{"businessDaysOnly": "true"})
    fragment = post(web, "/schedules/preview", fields).text
    assert "<html" not in fragment  # the fragment only
    shown = re.findall(r'class="fires__utc" datetime="([^"]+)"', fragment)
    local = re.findall(r'data-local="([^"]+)"', fragment)
    expected = web.get(
        f"{SCHEDULES}/preview",
        params={"schedule": "30 9 * * 2", "timezone": "America/New_York",
                "businessDaysOnly": "true", "holidayCalendar": "US"},
        headers=api.headers,
    ).json()  # fmt: skip
    assert len(shown) == 5
    assert shown == [f["utc"] for f in expected["fires"]]
    assert local == [f["local"] for f in expected["fires"]]
    assert "startDate" in fragment and "endDate" in fragment
    # Without JavaScript, Preview posts the whole form and gets it back with the preview.
    page = post(web, "/schedules/new", {**fields, "action": "preview"}).text
    assert re.findall(r'class="fires__utc" datetime="([^"]+)"', page) == shown
    # A cadence that cannot be read says why, at no cost to the form.
    cron = {"scheduleConfig.cadence": "cron", "scheduleConfig.cronExpression": "61 * * * *"}
    broken = post(web, "/schedules/preview", {**fields, **cron})
    assert broken.status_code == 200 and "No runs to show." in broken.text


def test_viewers_read_and_editors_act(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], settings: Settings
) -> None:
    made = schedule_via_api(web, api)
    sign_in_as(web, sessions, Role.viewer)
    listing = web.get("/schedules")
    assert listing.status_code == 200 and "Weekly usage" in listing.text
    assert "New schedule" not in listing.text
    page = web.get(f"/schedules/{made['id']}")
    assert page.status_code == 200
    assert "Run now" not in page.text and 'action="/schedules/' not in page.text
    assert "Next runs" in page.text
    assert web.get("/schedules/new").status_code == 403
    token = csrf_token(page.text)
    for action in ("pause", "resume", "run", "delete"):
        refused = web.post(f"/schedules/{made['id']}/{action}", data={"csrf_token": token})
        assert refused.status_code == 403, action
        assert "You cannot do that" in refused.text
    assert web.post(f"/schedules/{made['id']}", data={"csrf_token": token}).status_code == 403
    assert web.post("/schedules/new", data={"csrf_token": token}).status_code == 403
    assert web.get(f"{SCHEDULES}/{made['id']}", headers=api.headers).json()["enabled"] is True

    with page_client(settings) as editor:
        sign_in_as(editor, sessions, Role.editor)
        html = editor.get(f"/schedules/{made['id']}").text
        assert "Run now" in html and "Pause" in html
        paused = editor.post(
            f"/schedules/{made['id']}/pause", data={"csrf_token": csrf_token(html)}
        )
        assert paused.status_code == 303
        assert web.get(f"{SCHEDULES}/{made['id']}", headers=api.headers).json()["enabled"] is False
        html = editor.get(paused.headers["location"]).text
        assert "The schedule is paused" in html and "Resume" in html
        resumed = editor.post(
            f"/schedules/{made['id']}/resume", data={"csrf_token": csrf_token(html)}
        )
        assert resumed.status_code == 303
        assert web.get(f"{SCHEDULES}/{made['id']}", headers=api.headers).json()["enabled"] is True


def test_another_tenants_schedule_is_not_found(
    web: TestClient, api: Caller, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    made = schedule_via_api(web, api)
    ran = web.post(f"{SCHEDULES}/{made['id']}/run", headers=api.headers).json()
    sign_in_as(web, sessions, Role.admin, tenant="other")
    assert_not_found(
        web,
        [
            f"/schedules/{made['id']}",
            f"/schedules/{made['id']}/delete",
            f"/schedules/{made['id']}/executions/{ran['id']}",
            "/schedules/not-a-uuid",
        ],
    )
    token = csrf_token(web.get("/schedules").text)
    assert web.post(f"/schedules/{made['id']}/run", data={"csrf_token": token}).status_code == 404
    # Nor can a form name another tenant's report.
    fields = form_fields(web, api)
    answer = post(web, "/schedules/new", fields)
    assert answer.status_code == 422 and 'id="target-error"' in answer.text


def test_an_execution_of_another_schedule_is_not_found(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    first = schedule_via_api(web, api)
    second = schedule_via_api(web, api, name="Second")
    ran = web.post(f"{SCHEDULES}/{first['id']}/run", headers=api.headers).json()
    sign_in_as(web, sessions, Role.viewer)
    assert web.get(f"/schedules/{first['id']}/executions/{ran['id']}").status_code == 200
    assert web.get(f"/schedules/{second['id']}/executions/{ran['id']}").status_code == 404


def test_hostile_names_render_as_text(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    made = schedule_via_api(web, api, name=HOSTILE)
    sign_in_as(web, sessions, Role.editor)
    for path in ("/schedules", f"/schedules/{made['id']}", f"/schedules/{made['id']}/delete"):
        html = web.get(path).text
        assert "<script>alert" not in html and "<b>bold</b>" not in html, path
        assert (
            "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
        )


def test_a_page_past_the_end_shows_the_last(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    for i in range(21):  # with the demo's own schedule, 22: a page of 20 and one of 2
        schedule_via_api(web, api, name=f"Schedule {i:02d}")
    sign_in_as(web, sessions, Role.viewer)
    first = web.get("/schedules").text
    assert "Page 1 of 2" in first and "Schedule 20" in first and "Schedule 00" not in first
    for asked in ("2", "99", "9999999999999999999999"):
        last = web.get(f"/schedules?page={asked}")
        assert last.status_code == 200
        assert "Page 2 of 2" in last.text and "Schedule 00" in last.text
        assert "Usage Summary — weekly" in last.text and "Schedule 01" not in last.text
    assert "Page 1 of 2" in web.get("/schedules?page=-3").text
    assert "Page 1 of 2" in web.get("/schedules?page=abc").text


def test_run_now_leads_to_the_run(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    made = schedule_via_api(web, api)
    sign_in_as(web, sessions, Role.editor)
    page = web.get(f"/schedules/{made['id']}").text
    answer = web.post(f"/schedules/{made['id']}/run", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 303
    match = re.fullmatch(rf"/schedules/{made['id']}/executions/([0-9a-f-]{{36}})\?done=started",
                         answer.headers["location"])  # fmt: skip
    assert match
    listed = web.get(f"{SCHEDULES}/{made['id']}/executions", headers=api.headers).json()
    assert [e["id"] for e in listed] == [match.group(1)] and listed[0]["trigger"] == "manual"
    run = web.get(answer.headers["location"])
    assert run.status_code == 200 and "The run has started." in run.text
    assert 'hx-trigger="every 2s"' in run.text  # not settled: it asks again
    history = web.get(f"/schedules/{made['id']}").text
    assert f"/schedules/{made['id']}/executions/{match.group(1)}" in history


def test_the_parameter_fields_follow_the_report_chosen(
    web: TestClient, api: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(web, sessions, Role.editor)
    fields = form_fields(web, api)
    fragment = post(web, "/schedules/parameters", fields).text
    assert "<html" not in fragment and 'id="schedule-parameters"' in fragment
    assert 'name="parameters.startDate"' in fragment and "Week Start" in fragment
    assert field_value(fragment, "parameters.startDate") == "{{today().minusDays(7)}}"
    none = post(web, "/schedules/parameters", {**fields, "target": ""}).text
    assert "parameters." not in none
