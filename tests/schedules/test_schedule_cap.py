"""BROADSHEET_TENANT_MAX_SCHEDULES: one more enabled schedule is a 409 naming the limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.models import Role
from tests.factories import Caller, Tenancy
from tests.schedules.test_schedules_api import SCHEDULES, body
from tests.web.helpers import post_form, sign_in_as
from tests.web.test_schedule_pages import form_fields


@pytest.fixture
def capped(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    two = settings.model_copy(update={"tenant_max_schedules": 2})
    app = create_app(two, prepare=False)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def admin(capped: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")  # its weekly schedule is enabled: one of the two
    return tenancy.key("acme")


def assert_capped(answer: object) -> None:
    assert answer.status_code == 409, answer.text  # type: ignore[attr-defined]
    problem = answer.json()  # type: ignore[attr-defined]
    assert answer.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert "BROADSHEET_TENANT_MAX_SCHEDULES = 2" in problem["detail"]


def test_one_more_enabled_schedule_is_refused(
    capped: TestClient, admin: Caller, tenancy: Tenancy
) -> None:
    second = capped.post(SCHEDULES, json=body(capped, admin), headers=admin.headers)
    assert second.status_code == 201, second.text
    assert_capped(capped.post(SCHEDULES, json=body(capped, admin), headers=admin.headers))
    # Paused schedules do not count, and may be made at the cap.
    paused = capped.post(SCHEDULES, json=body(capped, admin, enabled=False), headers=admin.headers)
    assert paused.status_code == 201, paused.text
    paused_id = paused.json()["id"]
    assert_capped(capped.post(f"{SCHEDULES}/{paused_id}/resume", headers=admin.headers))
    enabling = {**paused.json(), "enabled": True}
    assert_capped(capped.put(f"{SCHEDULES}/{paused_id}", json=enabling, headers=admin.headers))
    # Saving one that is enabled already is no "one more".
    kept = {**second.json(), "name": "Renamed"}
    assert (
        capped.put(f"{SCHEDULES}/{kept['id']}", json=kept, headers=admin.headers).status_code == 200
    )
    # Pausing one makes room.
    assert capped.post(f"{SCHEDULES}/{kept['id']}/pause", headers=admin.headers).status_code == 200
    resumed = capped.post(f"{SCHEDULES}/{paused_id}/resume", headers=admin.headers)
    assert resumed.status_code == 200 and resumed.json()["enabled"] is True
    # Another tenant has caps of its own.
    other = tenancy.key("globex")
    tenancy.demo("globex")
    made = capped.post(SCHEDULES, json=body(capped, other), headers=other.headers)
    assert made.status_code == 201, made.text


def test_the_schedule_form_says_so(
    capped: TestClient, admin: Caller, sessions: sessionmaker[Session]
) -> None:
    sign_in_as(capped, sessions, Role.editor)
    first = post_form(capped, "/schedules/new", form_fields(capped, admin), page="/schedules")
    assert first.status_code == 303, first.text
    refused = post_form(capped, "/schedules/new", form_fields(capped, admin), page="/schedules")
    assert refused.status_code == 409
    assert "text/html" in refused.headers["content-type"]
    assert "BROADSHEET_TENANT_MAX_SCHEDULES = 2" in refused.text
    assert 'value="Usage to the team"' in refused.text  # the form again, as typed
