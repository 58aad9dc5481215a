"""A dashboard's settings form and its deletion, in edit mode (editors): name, description,
tags, refresh interval and time zone saved through DashboardService.update like every edit
form, errors at their fields with what was typed kept, a stale version refused; delete after
a confirmation, its schedules with it; viewers refused; another tenant's a 404 page."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.models import Role
from tests.factories import Caller
from tests.web.helpers import assert_not_found
from tests.web.test_dashboard_pages import demo, signed, version  # noqa: F401


def stored(sessions: sessionmaker[Session], dashboard_id: str) -> models.Dashboard | None:
    with sessions() as session:
        return session.get(models.Dashboard, uuid.UUID(dashboard_id))


def test_settings_are_saved_and_their_errors_shown_at_their_fields(
    web: TestClient,
    sessions: sessionmaker[Session],
    demo: str,  # noqa: F811
) -> None:
    token = signed(web, sessions, Role.editor)
    page = web.get(f"/dashboards/{demo}/edit")
    assert page.status_code == 200
    assert 'action="/dashboards/' + demo + '/edit/settings"' in page.text
    assert 'id="refreshInterval"' in page.text and 'list="dashboard-zones"' in page.text

    fields = {
        "csrf_token": token,
        "version": str(version(sessions, demo)),
        "name": "  Desk <b>board</b> ",
        "description": "For the morning call",
        "tags": "ops, , weekly",
        "refreshInterval": "ten",
        "timezone": "Mars/Olympus",
    }
    refused = web.post(f"/dashboards/{demo}/edit/settings", data=fields)
    assert refused.status_code == 422
    assert '<a href="#refreshInterval">Enter a whole number of seconds from 30 to 86,400' in (
        refused.text
    )
    assert '<a href="#timezone">Unknown time zone' in refused.text
    assert 'value="ten"' in refused.text and 'value="Mars/Olympus"' in refused.text
    assert "Desk &lt;b&gt;board&lt;/b&gt;" in refused.text  # kept, and as text
    row = stored(sessions, demo)
    assert row is not None and row.refresh_interval != 600  # nothing saved

    fields.update(refreshInterval="600", timezone="Europe/London")
    saved = web.post(f"/dashboards/{demo}/edit/settings", data=fields, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/dashboards/{demo}/edit?done=settings"
    row = stored(sessions, demo)
    assert row is not None
    assert (row.name, row.description, row.tags) == (
        "Desk <b>board</b>",
        "For the morning call",
        ["ops", "weekly"],
    )
    assert (row.refresh_interval, row.timezone) == (600, "Europe/London")
    assert "Settings saved." in web.get(saved.headers["location"]).text

    # The form carried the version it read: sent again, it is stale.
    stale = web.post(f"/dashboards/{demo}/edit/settings", data={**fields, "refreshInterval": "60"})
    assert stale.status_code == 409 and "Someone else changed this dashboard" in stale.text
    row = stored(sessions, demo)
    assert row is not None and row.refresh_interval == 600


def test_a_dashboard_is_deleted_after_a_confirmation_with_its_schedules(
    web: TestClient,
    api: Caller,
    sessions: sessionmaker[Session],
    demo: str,  # noqa: F811
) -> None:
    token = signed(web, sessions, Role.editor)
    made = web.post(
        "/api/v1/schedules",
        json={
            "dashboardId": demo,
            "name": "Board to the desk",
            "schedule": "0 7 * * *",
            "recipients": [],
            "exportFormat": "pdf",
        },
        headers=api.headers,
    )
    assert made.status_code == 201, made.text

    confirm = web.get(f"/dashboards/{demo}/delete")
    assert confirm.status_code == 200
    assert "Delete the dashboard" in confirm.text and "schedules that send it" in confirm.text
    assert stored(sessions, demo) is not None  # asking is not deleting

    gone = web.post(
        f"/dashboards/{demo}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert gone.status_code == 303 and gone.headers["location"] == "/dashboards?done=deleted"
    assert stored(sessions, demo) is None
    with sessions() as session:
        left = session.scalars(
            select(models.ReportSchedule).where(models.ReportSchedule.name == "Board to the desk")
        ).all()
    assert left == []
    assert "The dashboard is deleted." in web.get("/dashboards?done=deleted").text
    assert_not_found(web, [f"/dashboards/{demo}", f"/dashboards/{demo}/delete"])


def test_viewers_and_other_tenants_cannot_change_or_delete_it(
    web: TestClient,
    sessions: sessionmaker[Session],
    demo: str,  # noqa: F811
) -> None:
    token = signed(web, sessions, Role.viewer)
    assert "Delete this dashboard" not in web.get(f"/dashboards/{demo}").text
    for path in (f"/dashboards/{demo}/delete", f"/dashboards/{demo}/edit"):
        assert web.get(path).status_code == 403
    refused = web.post(f"/dashboards/{demo}/delete", data={"csrf_token": token})
    assert refused.status_code == 403
    settings = web.post(
        f"/dashboards/{demo}/edit/settings", data={"csrf_token": token, "name": "Mine"}
    )
    assert settings.status_code == 403
    assert stored(sessions, demo) is not None

    signed(web, sessions, Role.editor)  # an editor, but of acme; the board moves to globex
    with sessions() as session:
        other = models.Tenant(slug="globex", name="Globex")
        session.add(other)
        session.flush()
        row = session.get(models.Dashboard, uuid.UUID(demo))
        assert row is not None
        row.tenant_id = other.id
        session.commit()
    assert_not_found(web, [f"/dashboards/{demo}/delete"])
    token = signed(web, sessions, Role.editor)
    answer = web.post(f"/dashboards/{demo}/delete", data={"csrf_token": token})
    assert answer.status_code == 404
    assert stored(sessions, demo) is not None
