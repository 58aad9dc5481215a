"""Helpers for the report and result page tests: reports by name, runs through the run form
(as a browser posts it) and waiting for them on their status page."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.jobs.service import JobService
from broadsheet.models import ReportDefinition, Tenant
from tests.conftest import DEMO_DAY
from tests.web.helpers import csrf_token

FINISHED = ("completed", "failed", "cancelled")
_STATE = re.compile(r'class="job-state job-state--([a-z]+)"')
_RESULT = re.compile(r'href="/results/([0-9a-f-]{36})"')


def report_id(sessions: sessionmaker[Session], name: str, tenant: str = "acme") -> uuid.UUID:
    with session_scope(sessions) as session:
        found = session.scalar(
            select(ReportDefinition.id)
            .join(Tenant, Tenant.id == ReportDefinition.tenant_id)
            .where(Tenant.slug == tenant, ReportDefinition.name == name)
        )
    assert found is not None, f"no report {name!r} in {tenant}"
    return found


def last_days(days: int) -> tuple[str, str]:
    """(start, end) of the ``days`` days up to the tests' demo data's last day, as the date
    fields send them."""
    return (DEMO_DAY - timedelta(days=days)).isoformat(), DEMO_DAY.isoformat()


def post_run(client: TestClient, rid: uuid.UUID, values: dict[str, str]) -> httpx.Response:
    """Post the run form with ``values`` by parameter name (its fields are ``p.<name>``)."""
    form_page = client.get(f"/reports/{rid}/run")
    assert form_page.status_code == 200, form_page.text
    data: dict[str, Any] = {"csrf_token": csrf_token(form_page.text)}
    data.update({f"p.{name}": value for name, value in values.items()})
    return client.post(f"/reports/{rid}/run", data=data, follow_redirects=False)


def state_of(html: str) -> str:
    found = _STATE.search(html)
    assert found, "the page shows no run status"
    return found.group(1)


def wait_for_run(client: TestClient, status_url: str, timeout: float = 60) -> str:
    """Reload the run's status page (as the Refresh link does) until it has ended; its HTML."""
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(status_url)
        assert page.status_code == 200, page.text
        if state_of(page.text) in FINISHED:
            return page.text
        assert time.monotonic() < deadline, f"the run is still {state_of(page.text)}"
        time.sleep(0.1)


def run_to_result(client: TestClient, rid: uuid.UUID, values: dict[str, str]) -> str:
    """Run the report through its form until it completes; the result's id."""
    posted = post_run(client, rid, values)
    assert posted.status_code == 303, posted.text
    html = wait_for_run(client, posted.headers["location"])
    assert state_of(html) == "completed", html
    found = _RESULT.search(html)
    assert found, "a completed run links to its result"
    return found.group(1)


def running_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    rid: uuid.UUID,
    values: dict[str, str],
    *,
    tenant: str = "acme",
    by: str = "someone else",
) -> uuid.UUID:
    """A run of ``rid`` that stays ``processing``: claimed as the CLI claims its own (so no
    executor takes it) by a user ``by``, and never run. Its page can be watched and
    cancelled."""
    with session_scope(sessions) as session:
        owner = auth.system_principal(session, tenant, by)
        job = JobService(session, settings).submit(owner, rid, values, claim=True)
        return job.id
