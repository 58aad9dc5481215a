"""``GET /api/v1/events`` (the pull feed, any key of the tenant) and
``/api/v1/event-subscriptions`` (push, admins).

The feed is readable by every key of the tenant, viewers included: events say what happened
to objects those keys may read already (jobs, executions, deliveries, reports, schedules),
and carry no secrets — webhook addresses appear only as ``scheme://host/…``.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

import anyio
from fastapi import Path, Query, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.capacity import request_session
from broadsheet.db import done_with_database
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.events import feed
from broadsheet.events.outbox import EventType
from broadsheet.events.subscriptions import (
    EventSubscriptionOut,
    EventSubscriptionWrite,
    SubscriptionService,
    shown,
)
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import ListPage, PageDep
from broadsheet.routing import api_router

router = api_router("/api/v1/events", "events")
subscriptions_router = api_router("/api/v1/event-subscriptions", "events")
MAX_WAIT = 30
POLL_SECONDS = 0.25  # how often a waiting request looks again: the most an event waits
# The largest id either database stores (BIGINT); larger would fail to bind.
MAX_ID = 2**63 - 1
SubscriptionId = Annotated[str, Path(alias="subscriptionId", description="A subscription id.")]


@router.get("", response_model=list[feed.CloudEvent], summary="The tenant's events, in order")
async def list_events(
    request: Request,
    caller: Annotated[Principal, Allowed("event.read")],
    session: SessionDep,
    page: PageDep,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="Only events after this id (the oldest kept: none)."),
    ] = None,
    types: Annotated[
        list[EventType] | None, Query(alias="type", description="Only events of these types.")
    ] = None,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT, description="Seconds to wait for an event when none is new."),
    ] = 0,
) -> list[feed.CloudEvent]:
    """Events after ``after``, oldest first. With ``wait``, a request that finds none waits up
    to that many seconds and answers as soon as one arrives (long polling)."""
    found = await run_in_threadpool(_read, session, caller, page, after, types)
    if found[0] or not wait:
        return page.answer(*found)
    # While it waits, the request holds no connection, no request slot and no thread: the
    # request's session is let go, and each look is a short session of its own.
    await run_in_threadpool(_let_go, session)
    deadline = time.monotonic() + wait
    state = request.app.state
    while not found[0] and (left := deadline - time.monotonic()) > 0:
        await anyio.sleep(min(POLL_SECONDS, left))
        async with request_session(state.sessions, state.db_slots) as look:
            found = await run_in_threadpool(_read, look, caller, page, after, types)
    return page.answer(*found)


def _read(
    session: Session,
    caller: Principal,
    page: ListPage,
    after: int | None,
    types: list[EventType] | None,
) -> tuple[list[feed.CloudEvent], int]:
    rows, total = page.fetch(session, feed.after(caller.tenant_id, after, types))
    return [feed.cloud_event(row, caller.tenant_slug) for row in rows], total


def _let_go(session: Session) -> None:
    session.commit()  # what authenticating wrote (a key's last use), so nothing is held
    done_with_database(session)


@subscriptions_router.get(
    "", response_model=list[EventSubscriptionOut], summary="List event subscriptions"
)
def list_subscriptions(
    caller: Annotated[Principal, Allowed("event.subscribe")],
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
) -> list[EventSubscriptionOut]:
    rows, total = SubscriptionService(session, settings).list(caller.tenant_id, page)
    return page.answer([shown(row) for row in rows], total)


@subscriptions_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EventSubscriptionOut,
    summary="Subscribe a URL to events",
)
def create_subscription(
    body: EventSubscriptionWrite,
    caller: Annotated[Principal, Allowed("event.subscribe")],
    session: SessionDep,
    settings: SettingsDep,
) -> EventSubscriptionOut:
    return shown(SubscriptionService(session, settings).create(caller, body))


@subscriptions_router.get(
    "/{subscriptionId}", response_model=EventSubscriptionOut, summary="An event subscription"
)
def get_subscription(
    subscription_id: SubscriptionId,
    caller: Annotated[Principal, Allowed("event.subscribe")],
    session: SessionDep,
    settings: SettingsDep,
) -> EventSubscriptionOut:
    service = SubscriptionService(session, settings)
    return shown(service.get(caller.tenant_id, _id(subscription_id)))


@subscriptions_router.put(
    "/{subscriptionId}", response_model=EventSubscriptionOut, summary="Change a subscription"
)
def update_subscription(
    subscription_id: SubscriptionId,
    body: EventSubscriptionWrite,
    caller: Annotated[Principal, Allowed("event.subscribe")],
    session: SessionDep,
    settings: SettingsDep,
) -> EventSubscriptionOut:
    service = SubscriptionService(session, settings)
    return shown(service.update(caller, _id(subscription_id), body))


@subscriptions_router.delete(
    "/{subscriptionId}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a subscription",
)
def delete_subscription(
    subscription_id: SubscriptionId,
    caller: Annotated[Principal, Allowed("event.subscribe")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    SubscriptionService(session, settings).delete(caller.tenant_id, _id(subscription_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _id(value: str) -> uuid.UUID:
    return parse_id(value, "event subscription")
