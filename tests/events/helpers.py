"""Helpers for the event feed's tests: a tenant's id, an event committed, the feed read."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.events import EventType, emit
from tests.factories import Caller

EVENTS = "/api/v1/events"
SUBSCRIPTIONS = "/api/v1/event-subscriptions"


def tenant_id(sessions: sessionmaker[Session], slug: str) -> uuid.UUID:
    with sessions() as session:
        found = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == slug))
    assert found is not None
    return found


def commit_event(
    sessions: sessionmaker[Session],
    tenant: uuid.UUID,
    type: EventType = "broadsheet.report.updated",
    subject: str | None = None,
    **data: Any,
) -> None:
    with session_scope(sessions) as session:
        emit(session, tenant, type, subject or f"report/{uuid.uuid4()}", data)


def feed(client: TestClient, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    response = client.get(EVENTS, params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]
