"""Pushing events to subscriptions: at least once, in order per subject, resumed after a crash.

Every scheduler tick (the ``scheduler`` process, or embedded ``serve``) runs :func:`advance`:

1. Fan-out. For each subscription, the events after its ``position`` become one
   :class:`~broadsheet.models.EventDelivery` row each (those of its types), and the position
   moves to the last event looked at — in one transaction, on a conditional update of the
   position, so two dispatchers never fan out twice and a crash loses nothing. Event ids grow
   in commit order per tenant (see :mod:`.outbox`), so no event can appear behind a position.
2. Sending. Per (subscription, subject), only the oldest unfinished delivery is due: the next
   waits until it is sent or given up. Each is claimed with a conditional update (the attempt
   number is the claim's token, as report deliveries do), sent through the webhook path —
   the outbound-address guard, pinned addresses, a Standard Webhooks signature with the
   subscription's secret and ``webhook-id`` = the event id on every attempt — and recorded:
   sent, retried after ``BROADSHEET_DELIVERY_RETRY_BASE_SECONDS`` * 2^n (with jitter), or
   failed for good (permanent, or after ``BROADSHEET_DELIVERY_MAX_ATTEMPTS``). A sender that
   dies mid-send leaves its claim to expire, and the delivery is sent again (at least once).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, func, select, update

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.deliveries.channels.webhook import sign
from broadsheet.deliveries.http import post_json
from broadsheet.deliveries.recipients import redact, secrets_cipher
from broadsheet.events import feed
from broadsheet.kit.backoff import backoff
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
Delivery = models.EventDelivery
Subscription = models.EventSubscription
FAN_OUT_BATCH = 500  # events one subscription takes in per transaction
BATCH = 200  # subjects whose next delivery is looked at per tick
IN_A_ROW = 50  # one subject's deliveries sent one after another in a tick, at most
SENDERS = 8  # subjects sent to at once: receivers are slow, not busy
UNFINISHED = ("pending", "sending")


def advance(runtime: Runtime, now: datetime | None = None) -> int:
    """Fan out new events, then send what is due. Returns how many sends were attempted."""
    fan_out(runtime)
    heads = _due_heads(runtime, now or utc_now())
    if not heads:
        return 0
    with ThreadPoolExecutor(min(SENDERS, len(heads)), "broadsheet-events") as pool:
        return sum(pool.map(lambda head: _send_in_order(runtime, head), heads))


def fan_out(runtime: Runtime) -> int:
    """A delivery row for each new event each subscription wants. Returns how many."""
    with session_scope(runtime.sessions) as session:
        subscriptions = session.execute(
            select(
                Subscription.id, Subscription.tenant_id, Subscription.types, Subscription.position
            )
        ).all()
    made = 0
    for subscription_id, tenant_id, types, position in subscriptions:
        at: int | None = position
        while at is not None:
            added, at = _fan_out_batch(runtime, subscription_id, tenant_id, types, at)
            made += added
    return made


def _fan_out_batch(
    runtime: Runtime,
    subscription_id: uuid.UUID,
    tenant_id: uuid.UUID,
    types: list[str],
    position: int,
) -> tuple[int, int | None]:
    """One batch of a subscription's events: (deliveries made, the new position, or None
    when there is nothing more — or another dispatcher moved it first)."""
    with session_scope(runtime.sessions) as session:
        events = session.execute(
            select(models.Event.id, models.Event.type, models.Event.subject)
            .where(models.Event.tenant_id == tenant_id, models.Event.id > position)
            .order_by(models.Event.id)
            .limit(FAN_OUT_BATCH)
        ).all()
        if not events:
            return 0, None
        last = events[-1].id
        moved = session.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id, Subscription.position == position)
            .values(position=last)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            return 0, None  # another dispatcher took this batch
        now = utc_now()
        rows = [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "subscription_id": subscription_id,
                "event_id": event_id,
                "subject": subject,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event_id, kind, subject in events
            if kind in types
        ]
        if rows:
            session.execute(cast(Table, Delivery.__table__).insert(), rows)
    return len(rows), (last if len(events) == FAN_OUT_BATCH else None)


@dataclass(frozen=True)
class Due:
    id: uuid.UUID
    subscription_id: uuid.UUID
    subject: str
    event_id: int
    status: str
    attempts: int


def _due_heads(runtime: Runtime, now: datetime) -> list[Due]:
    """The oldest unfinished delivery of each (subscription, subject), when it is due."""
    first = (
        select(
            Delivery.subscription_id,
            Delivery.subject,
            func.min(Delivery.event_id).label("event_id"),
        )
        .where(Delivery.status.in_(UNFINISHED))
        .group_by(Delivery.subscription_id, Delivery.subject)
        .subquery()
    )
    with session_scope(runtime.sessions) as session:
        rows = session.execute(
            _columns()
            .join(
                first,
                and_(
                    Delivery.subscription_id == first.c.subscription_id,
                    Delivery.subject == first.c.subject,
                    Delivery.event_id == first.c.event_id,
                ),
            )
            .where(Delivery.next_attempt_at <= now)
            .order_by(Delivery.event_id)
            .limit(BATCH)
        ).all()
    return [Due(*row) for row in rows]


def _columns() -> Any:
    return select(
        Delivery.id,
        Delivery.subscription_id,
        Delivery.subject,
        Delivery.event_id,
        Delivery.status,
        Delivery.attempts,
    )


def _send_in_order(runtime: Runtime, head: Due) -> int:
    """Send a subject's due deliveries one after another while they succeed (or are given
    up); stop at one that is to be tried again later. Returns the sends attempted."""
    attempted = 0
    delivery: Due | None = head
    while delivery is not None and attempted < IN_A_ROW:
        finished = _deliver(runtime, delivery)
        if finished is None:  # another sender has it
            return attempted
        attempted += 1
        if not finished:
            return attempted
        delivery = _next_in_line(runtime, delivery)
    return attempted


def _next_in_line(runtime: Runtime, previous: Due) -> Due | None:
    with session_scope(runtime.sessions) as session:
        row = session.execute(
            _columns()
            .where(
                Delivery.subscription_id == previous.subscription_id,
                Delivery.subject == previous.subject,
                Delivery.event_id > previous.event_id,
                Delivery.status.in_(UNFINISHED),
                Delivery.next_attempt_at <= utc_now(),
            )
            .order_by(Delivery.event_id)
            .limit(1)
        ).first()
    return Due(*row) if row is not None else None


def _deliver(runtime: Runtime, delivery: Due) -> bool | None:
    """Claim, send and record one delivery: True when it is finished (sent, or given up),
    False when it is to be tried again, None when another sender claimed it first."""
    settings = runtime.settings
    if delivery.attempts >= settings.delivery_max_attempts:
        why = "the sender stopped during the last attempt" if delivery.status == "sending" else (
            "no attempts left")  # fmt: skip
        return _record(runtime, delivery, DeliveryFailed(why, permanent=True))
    if not _claim(runtime, delivery):
        return None
    claimed = Due(delivery.id, delivery.subscription_id, delivery.subject, delivery.event_id,
                  "sending", delivery.attempts + 1)  # fmt: skip
    try:
        outcome: dict[str, Any] | DeliveryFailed = _send(runtime, claimed)
    except DeliveryFailed as failed:
        outcome = failed
    except Exception as exc:  # a bug or an unforeseen library error: retried, and logged
        log.exception("event delivery %s failed unexpectedly", delivery.id)
        outcome = DeliveryFailed(f"unexpected error: {type(exc).__name__}: {exc}")
    return _record(runtime, claimed, outcome)


def _lease(runtime: Runtime) -> timedelta:
    """Longer than one send can take; a sender that died is replaced once it ends."""
    return timedelta(seconds=runtime.settings.delivery_timeout_seconds * 2 + 60)


def _claim(runtime: Runtime, delivery: Due) -> bool:
    with session_scope(runtime.sessions) as session:
        taken = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery.id,
                Delivery.status == delivery.status,
                Delivery.attempts == delivery.attempts,  # only ever goes up: a token
            )
            .values(
                status="sending",
                attempts=Delivery.attempts + 1,
                next_attempt_at=utc_now() + _lease(runtime),
            )
        )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def _send(runtime: Runtime, delivery: Due) -> dict[str, Any]:
    with session_scope(runtime.sessions) as session:
        found = session.execute(
            select(models.Event, Subscription.url, Subscription.secret, models.Tenant.slug)
            .select_from(models.Event)
            .join(models.Tenant, models.Tenant.id == models.Event.tenant_id)
            .join(Subscription, Subscription.tenant_id == models.Event.tenant_id)
            .where(
                models.Event.id == delivery.event_id,
                Subscription.id == delivery.subscription_id,
            )
        ).first()
        if found is None:
            raise DeliveryFailed("the event or its subscription was deleted", permanent=True)
        event, url, secret, slug = found
        body = feed.cloud_event(event, slug).model_dump(mode="json")
    key = secrets_cipher(runtime.settings).decrypt(secret)
    content = orjson.dumps(body)
    timestamp = int(time.time())
    headers = {
        # CloudEvents' structured mode: the whole event, attributes and data, is the body.
        "Content-Type": "application/cloudevents+json",
        "webhook-id": body["id"],  # the event's id: the same on every attempt
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, body["id"], timestamp, content),
    }
    response = post_json(url, content, headers, runtime.settings)
    log.info("event %s sent to %s", body["id"], redact(url))
    return {"status": response.status_code}


def _record(runtime: Runtime, delivery: Due, outcome: dict[str, Any] | DeliveryFailed) -> bool:
    """Write the attempt's outcome if this sender still holds the delivery; True when the
    delivery is finished."""
    settings = runtime.settings
    now = utc_now()
    finished = True
    if isinstance(outcome, DeliveryFailed):
        finished = outcome.permanent or delivery.attempts >= settings.delivery_max_attempts
        values: dict[str, Any] = {"error_message": outcome.message[:2000]}
        if finished:
            values.update(status="failed", next_attempt_at=None)
            log.warning("event delivery %s failed: %s", delivery.id, outcome.message)
        else:
            delay = backoff(settings.delivery_retry_base_seconds, delivery.attempts - 1)
            values.update(status="pending", next_attempt_at=now + delay)
    else:
        values = {"status": "sent", "delivered_at": now, "next_attempt_at": None,
                  "error_message": None}  # fmt: skip
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery.id,
                Delivery.status == delivery.status,
                Delivery.attempts == delivery.attempts,
            )
            .values(**values)
        )
    return finished
