"""/api/v1/schedules: seed 000's contract with seed 004's friendlier form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broadsheet.models import Role
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id

SCHEDULES = "/api/v1/schedules"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


def body(client: TestClient, caller: Caller, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "reportId": report_id(client, caller, "Monthly Performance Report"),
        "name": "Monthly Performance Report Schedule",
        "schedule": "0 0 1 * *",
        "parameters": {
            "startDate": "{{now().startOfMonth().minusMonths(1)}}",
            "endDate": "{{now().startOfMonth().minusDays(1)}}",
        },
        "enabled": True,
        "recipients": [
            {"type": "email", "address": "trading-team@company.com"},
            {"type": "slack", "address": "#trading-reports"},
        ],
        "exportFormat": "pdf",
    }
    base.update(changes)
    return base


def test_seed_example_round_trips(client: TestClient, admin: Caller) -> None:
    created = client.post(SCHEDULES, json=body(client, admin), headers=admin.headers)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["schedule"] == "0 0 1 * *" and schedule["timezone"] == "UTC"
    assert schedule["scheduleConfig"] == {
        "cadence": "monthly",
        "dayOfMonth": 1,
        "time": "00:00",
        "timezone": "UTC",
    }
    assert schedule["nextRunAt"].endswith("T00:00:00Z")
    assert datetime.fromisoformat(schedule["nextRunAt"]).day == 1
    assert schedule["nextRunLocal"].endswith("+00:00")
    first = schedule["preview"][0]
    assert first["utc"] == schedule["nextRunAt"]
    # The first fire's parameters: last month, evaluated at the fire's instant.
    fire = datetime.fromisoformat(first["utc"])
    assert first["parameters"]["endDate"] < fire.date().isoformat()
    assert first["parameters"]["startDate"].endswith("-01")
    assert len(schedule["preview"]) == 5

    got = client.get(f"{SCHEDULES}/{schedule['id']}", headers=admin.headers).json()
    assert got["recipients"] == schedule["recipients"]
    listed = client.get(SCHEDULES, headers=admin.headers)
    assert listed.headers["X-Total-Count"] == "2"  # the demo's weekly one and ours
    changed = client.put(
        f"{SCHEDULES}/{schedule['id']}", json={**got, "name": "Renamed"}, headers=admin.headers
    )
    assert changed.status_code == 200 and changed.json()["name"] == "Renamed"
    assert client.delete(f"{SCHEDULES}/{schedule['id']}", headers=admin.headers).status_code == 204
    assert client.get(f"{SCHEDULES}/{schedule['id']}", headers=admin.headers).status_code == 404


def test_friendly_form_and_local_time(client: TestClient, admin: Caller) -> None:
    weekly = body(
        client,
        admin,
        schedule=None,
        scheduleConfig={"cadence": "weekly", "dayOfWeek": 1, "time": "09:00",
                        "timezone": "America/New_York"},
    )  # fmt: skip
    del weekly["schedule"]
    created = client.post(SCHEDULES, json=weekly, headers=admin.headers)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["schedule"] == "0 9 * * 1" and schedule["timezone"] == "America/New_York"
    local = datetime.fromisoformat(schedule["nextRunLocal"])
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    offset = local.utcoffset()
    assert offset is not None and offset.total_seconds() in (-5 * 3600, -4 * 3600)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"schedule": "61 * * * *"}, "schedule", "minute"),
        ({"schedule": "every day"}, "schedule", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"holidayCalendar": "XX"}, "holidayCalendar", "XX"),
        ({"exportFormat": "docx"}, "exportFormat", "pdf"),
        ({"reportId": "00000000-0000-4000-8000-000000000000"}, "reportId", "no report"),
        (
            {"parameters": {"startDate": "{{now().startOfMonht()}}"}},
            "parameters.startDate",
            "startOfMonth",
        ),
        (
            {"parameters": {"startDate": "{{now()", "endDate": "2024-01-01"}},
            "parameters.startDate",
            "",
        ),
        ({"parameters": {"colour": "red"}}, "parameters.colour", "unknown"),
        (  # a template that only fails when evaluated still names its parameter
            {"parameters": {"startDate": "2024-01-01", "endDate": "{{today().plusYears(10000)}}"}},
            "parameters.endDate",
            "",
        ),
        (
            {"recipients": [{"type": "email", "address": "not-an-address"}]},
            "recipients[0]",
            "email",
        ),
        ({"recipients": [{"type": "fax", "address": "123"}]}, "recipients[0].type", ""),
        ({"misfirePolicy": "storm"}, "misfirePolicy", "run_once"),
    ],
)
def test_bad_schedules_are_422_and_name_the_field(
    client: TestClient, admin: Caller, changes: dict[str, Any], field: str, words: str
) -> None:
    response = client.post(SCHEDULES, json=body(client, admin, **changes), headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert any(e["field"] == field or e["field"].startswith(f"{field}.") for e in errors), errors
    assert words.lower() in str(errors).lower()
    listed = client.get(SCHEDULES, headers=admin.headers)
    assert listed.headers["X-Total-Count"] == "1"  # only the demo's: nothing half-written


def test_preview_without_saving(client: TestClient, admin: Caller) -> None:
    response = client.get(
        f"{SCHEDULES}/preview",
        params={"schedule": "30 2 * * *", "timezone": "America/New_York", "count": 400},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    fires = response.json()["fires"]
    assert len(fires) == 400
    locals_ = [datetime.fromisoformat(f["local"]) for f in fires]
    days = [t.date() for t in locals_]
    assert len(set(days)) == 400  # once a day, never twice, never skipped
    assert all((t.hour, t.minute) in ((2, 30), (3, 0)) for t in locals_)
    bad = client.get(f"{SCHEDULES}/preview", params={"schedule": "* * *"}, headers=admin.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "schedule"
    too_many = client.get(
        f"{SCHEDULES}/preview",
        params={"schedule": "* * * * *", "count": 1001},
        headers=admin.headers,
    )
    assert too_many.status_code == 422


def test_business_days_and_holidays_in_preview(client: TestClient, admin: Caller) -> None:
    response = client.get(
        f"{SCHEDULES}/preview",
        params={"schedule": "0 9 * * *", "timezone": "America/New_York", "count": 30,
                "businessDaysOnly": "true", "holidayCalendar": "US"},
        headers=admin.headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    import holidays

    us = holidays.country_holidays("US")
    for fire in response.json()["fires"]:
        day = datetime.fromisoformat(fire["local"]).date()
        assert day.weekday() < 5 and day not in us


def test_pause_resume_and_roles(client: TestClient, admin: Caller, tenancy: Tenancy) -> None:
    schedule = client.post(SCHEDULES, json=body(client, admin), headers=admin.headers).json()
    paused = client.post(f"{SCHEDULES}/{schedule['id']}/pause", headers=admin.headers).json()
    assert paused["enabled"] is False and paused["nextRunAt"] is None
    resumed = client.post(f"{SCHEDULES}/{schedule['id']}/resume", headers=admin.headers).json()
    assert resumed["enabled"] is True and resumed["nextRunAt"] == schedule["nextRunAt"]
    viewer = tenancy.key("acme", Role.viewer, name="vera")
    assert client.get(SCHEDULES, headers=viewer.headers).status_code == 200
    assert (
        client.post(f"{SCHEDULES}/{schedule['id']}/pause", headers=viewer.headers).status_code
        == 403
    )
    other = tenancy.key("globex")
    for path in ("", "/executions"):
        assert (
            client.get(f"{SCHEDULES}/{schedule['id']}{path}", headers=other.headers).status_code
            == 404
        )
    assert (
        client.post(f"{SCHEDULES}/{schedule['id']}/run", headers=other.headers).status_code == 404
    )


def test_demo_has_the_weekly_usage_summary(client: TestClient, admin: Caller) -> None:
    (demo,) = client.get(SCHEDULES, headers=admin.headers).json()
    assert demo["name"] == "Usage Summary — weekly"
    assert (demo["schedule"], demo["timezone"], demo["exportFormat"]) == (
        "0 9 * * 1",
        "America/New_York",
        "pdf",
    )
    assert demo["recipients"][0]["type"] == "email"
