"""Deliveries: each completed execution's report to each recipient, once, with retries.

Generation and delivery are separate steps. When an execution completes (its artifact made),
:func:`plan` records one delivery per recipient. Every scheduler tick, :func:`advance` claims
the deliveries that are due — a conditional update, so two schedulers never send the same one
— and sends them, a few at a time in threads:

    pending ──claim (attempts + 1)──▶ sending ──▶ sent
       ▲                                 ├─────▶ failed   (permanent, or the last attempt)
       └──── next_attempt_at (backoff) ──┘                 (a failure that may pass)

A sender that dies mid-send leaves its delivery ``sending`` with an expired lease; the next
claim takes it again (at least once: a message may go twice if a process dies between the
send and the record, never zero times). A retry resends only that recipient, never
regenerates the report. Every attempt is in the audit log, and when an execution or a
delivery finally fails, the schedule's owner is told (see :mod:`.notices`).
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from broadsheet import models, tracing
from broadsheet.audit import log as audit
from broadsheet.auth.service import webhook_secret
from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.deliveries import parcels
from broadsheet.deliveries.channels import Channels
from broadsheet.deliveries.channels.base import DeliveryFailed, Parcel
from broadsheet.deliveries.recipients import Recipient, domain_allowed, loaded
from broadsheet.events import about as events
from broadsheet.kit import bulk
from broadsheet.kit.backoff import backoff
from broadsheet.kit.time import utc_now
from broadsheet.metrics import record as metrics
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
Delivery = models.ReportDelivery
BATCH = 100  # due deliveries looked at per tick
SENDERS = 8  # sends at once: SMTP and HTTP peers are slow, not busy


def plan(
    session: Session,
    settings: Settings,
    execution: models.ReportExecution,
    schedule: models.ReportSchedule,
    now: datetime,
) -> None:
    """A pending delivery per recipient of ``schedule`` — skipped, with the reason, for an
    unsubscribed address, a domain the tenant no longer allows, or a recipient with parameters
    of its own: its own slice of the report is not made yet, and sending it the whole report
    instead could show it rows it was never meant to see."""
    recipients = schedule.recipients or []
    if not recipients:
        return
    tenant = session.get(models.Tenant, schedule.tenant_id)
    addresses = [r["address"].lower() for r in recipients if r.get("type") == "email"]
    unsubscribed = set(
        session.scalars(
            select(models.EmailUnsubscribe.address).where(
                models.EmailUnsubscribe.tenant_id == schedule.tenant_id,
                models.EmailUnsubscribe.address.in_(addresses),
            )
        )
    )
    allowed = (tenant.allowed_email_domains if tenant else None) or []
    if tenant and any(r.get("type") == "webhook" and not r.get("secret") for r in recipients):
        webhook_secret(tenant, settings)  # made now, so the send can sign with it
    rows = []
    for recipient in recipients:
        reason = None
        if _own_slice(recipient, schedule.parameters or {}):
            reason = "this recipient's own parameters are not applied yet: nothing sent"
        elif recipient.get("type") == "email":
            if recipient["address"].lower() in unsubscribed:
                reason = "the address unsubscribed"
            elif not domain_allowed(recipient["address"], allowed):
                reason = "the tenant no longer allows this email domain"
        rows.append(
            {
                "tenant_id": schedule.tenant_id,
                "execution_id": execution.id,
                "recipient_type": recipient["type"],
                "recipient_value": recipient["address"],
                "recipient": recipient,
                "status": "skipped" if reason else "pending",
                "error_message": reason,
                "next_attempt_at": None if reason else now,
            }
        )
    bulk.insert_rows(
        session,
        Delivery,
        rows,
        same={"attempts": 0, "created_at": now},
        skip_conflicts_on=["execution_id", "recipient_type", "recipient_value"],
    )


def _own_slice(recipient: dict[str, Any], schedule_values: dict[str, Any]) -> bool:
    """Whether the recipient's parameters ask for anything the schedule's do not."""
    own = recipient.get("parameters") or {}
    return any(schedule_values.get(name) != value for name, value in own.items())


def advance(
    runtime: Runtime, now: datetime | None = None, *, channels: Channels | None = None
) -> int:
    """Send the deliveries that are due. Returns how many were attempted.

    ``channels``: the process's long-lived channels (the scheduler keeps one set); by default
    a set made for this call.
    """
    now = now or utc_now()
    channels = channels or Channels(runtime.settings)
    due = _due(runtime, now)
    if not due:
        return 0
    ready = _prepare(runtime, due, now)
    if not ready:
        return 0
    traces = _traces(runtime, {item[0].execution_id for item in ready})
    with ThreadPoolExecutor(min(SENDERS, len(ready)), "broadsheet-send") as pool:
        return sum(
            pool.map(
                lambda item: _deliver(
                    runtime, channels, *item, trace=traces.get(item[0].execution_id)
                ),
                ready,
            )
        )


def _traces(runtime: Runtime, ids: set[uuid.UUID]) -> dict[uuid.UUID, tracing.Context | None]:
    """Each execution's trace (its fire's), for its deliveries' spans; none when not tracing."""
    if not tracing.active() or not ids:
        return {}
    Execution = models.ReportExecution
    with session_scope(runtime.sessions) as session:
        rows = session.execute(select(Execution.id, Execution.details).where(Execution.id.in_(ids)))
        return {row.id: tracing.stored(row.details) for row in rows}


# What a send came to: details of a success, or the failure.
Outcome = dict[str, Any] | DeliveryFailed


def _due(runtime: Runtime, now: datetime) -> list[models.ReportDelivery]:
    """Deliveries whose time has come: pending ones, and sending ones whose sender stopped
    (their lease ran out). One that has used all its attempts fails here instead."""
    due: list[models.ReportDelivery] = []
    with session_scope(runtime.sessions) as session:
        rows = session.scalars(
            select(Delivery)
            .where(
                or_(Delivery.status == "pending", Delivery.status == "sending"),
                Delivery.next_attempt_at <= now,
            )
            .order_by(Delivery.next_attempt_at)
            .limit(BATCH)
        ).all()
        for delivery in rows:
            if delivery.attempts < runtime.settings.delivery_max_attempts:
                due.append(delivery)
            elif delivery.status == "sending":
                _fail(session, delivery, "the sender stopped during the last attempt")
            else:  # BROADSHEET_DELIVERY_MAX_ATTEMPTS was lowered below its attempts
                _fail(session, delivery, "no attempts left")
        session.flush()  # the audit entries _fail added, before the rows are let go
        session.expunge_all()
    return due


def _deliver(
    runtime: Runtime,
    channels: Channels,
    delivery: models.ReportDelivery,
    parcel: Parcel | DeliveryFailed,
    recipient: Recipient | str,
    claimed: bool,
    *,
    trace: tracing.Context | None = None,
) -> int:
    """Claim one delivery (or renew the lease of one ``claimed`` already), send it, record
    what happened: 1, or 0 if another sender took it.

    Claiming each delivery just before its send (not a whole batch up front) keeps the lease
    about one send, so a slow batch never lets another scheduler take over deliveries this
    one has already sent.
    """
    if not (_renew(runtime, delivery) if claimed else _claim(runtime, delivery)):
        return 0
    with tracing.span(
        "delivery.send",
        parent=trace,
        delivery_id=delivery.id,
        execution_id=delivery.execution_id,
        channel=delivery.recipient_type,
        attempt=delivery.attempts,
    ):
        outcome = _send(channels, delivery, parcel, recipient)
        tracing.annotate(outcome="failed" if isinstance(outcome, DeliveryFailed) else "sent")
        with session_scope(runtime.sessions) as session:
            _record(session, runtime, delivery, outcome, utc_now())
    return 1


def _lease(runtime: Runtime) -> timedelta:
    """Long enough for the slowest send (Slack: a lookup, a message and a three-step upload,
    each up to the timeout); a sender that died is replaced once it ends."""
    return timedelta(seconds=runtime.settings.delivery_timeout_seconds * 6 + 60)


def _renew(runtime: Runtime, delivery: models.ReportDelivery) -> bool:
    """A fresh lease for a delivery claimed before its parcel was built (builds of other
    executions may have taken a while since): False if its lease ran out meanwhile and
    another sender took it — then that one sends it, not this one."""
    with session_scope(runtime.sessions) as session:
        kept = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery.id,
                Delivery.status == "sending",
                Delivery.attempts == delivery.attempts,
            )
            .values(next_attempt_at=utc_now() + _lease(runtime))
        )
    return bool(kept.rowcount)  # type: ignore[attr-defined]


def _claim(runtime: Runtime, delivery: models.ReportDelivery) -> bool:
    """A conditional update on what was read (status, attempts): the attempt number it sets
    is this sender's token for recording the outcome."""
    lease = _lease(runtime)
    with session_scope(runtime.sessions) as session:
        taken = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery.id,
                Delivery.status == delivery.status,
                Delivery.attempts == delivery.attempts,  # only ever goes up: a token
            )
            # From the claim, not the tick: the last of a batch is claimed minutes after it.
            .values(
                status="sending", attempts=Delivery.attempts + 1, next_attempt_at=utc_now() + lease
            )
        )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return False
    delivery.attempts += 1
    return True


Ready = tuple[models.ReportDelivery, Parcel | DeliveryFailed, Recipient | str, bool]


def _prepare(runtime: Runtime, due: list[models.ReportDelivery], now: datetime) -> list[Ready]:
    """Each due delivery with its parcel (built once per execution), its recipient and
    whether it is claimed already.

    An execution's parcel is built as part of the attempt of its first delivery, claimed
    before the build starts: if the process dies while building (a renderer, the memory), that
    attempt is counted, so a parcel that always kills its builder fails after the last
    attempt instead of being tried forever at zero attempts.
    """
    by_execution: dict[uuid.UUID, list[models.ReportDelivery]] = {}
    for delivery in due:
        by_execution.setdefault(delivery.execution_id, []).append(delivery)
    ready: list[Ready] = []
    for execution_id, waiting in by_execution.items():
        first = next((d for d in waiting if _claim(runtime, d)), None)
        if first is None:  # another sender took them all
            continue
        parcel = _parcel(runtime, execution_id, now)
        for delivery in waiting[waiting.index(first) :]:  # those before went to other senders
            mine = parcel
            if isinstance(mine, Parcel):
                mine = parcels.for_recipient(mine, runtime.settings, delivery)
            ready.append((delivery, mine, _recipient(runtime, delivery), delivery is first))
    return ready


def _parcel(runtime: Runtime, execution_id: uuid.UUID, now: datetime) -> Parcel | DeliveryFailed:
    with session_scope(runtime.sessions) as session:
        execution = session.get(models.ReportExecution, execution_id)
        try:
            if execution is None:
                return DeliveryFailed("the execution was deleted", permanent=True)
            return parcels.build(session, runtime.settings, runtime.storage, execution, now)
        except parcels.ArtifactMissing as exc:
            return DeliveryFailed(str(exc), permanent=True)
        except Exception as exc:  # storage unreachable, say: this one waits, not all
            log.exception("could not prepare execution %s", execution_id)
            return DeliveryFailed(f"could not read the report: {exc}"[:500])


def _recipient(runtime: Runtime, delivery: models.ReportDelivery) -> Recipient | str:
    row = delivery.recipient or {"type": delivery.recipient_type,
                                 "address": delivery.recipient_value}  # fmt: skip
    return loaded(row, runtime.settings)


def _send(
    channels: Channels,
    delivery: models.ReportDelivery,
    parcel: Parcel | DeliveryFailed,
    recipient: Recipient | str,
) -> Outcome:
    if isinstance(parcel, DeliveryFailed):
        return parcel
    if isinstance(recipient, str):  # why it no longer passes the checks
        return DeliveryFailed(f"the recipient is no longer valid: {recipient}", permanent=True)
    try:
        return channels[delivery.recipient_type].send(parcel, recipient)
    except DeliveryFailed as failed:
        return failed
    except FileNotFoundError:  # the result expired, and its files with it, since the check
        return DeliveryFailed("the artifact was deleted with its expired result", permanent=True)
    except Exception as exc:  # a bug or an unforeseen library error: retry, and say so
        log.exception("delivery %s failed unexpectedly", delivery.id)
        return DeliveryFailed(f"unexpected error: {type(exc).__name__}: {exc}")


def _record(
    session: Session,
    runtime: Runtime,
    delivery: models.ReportDelivery,
    outcome: Outcome,
    now: datetime,
) -> None:
    """The attempt's result, if this sender still holds the delivery (its claim token is the
    attempt number), and its audit entry."""
    settings = runtime.settings
    mine = (Delivery.id == delivery.id, Delivery.status == "sending",
            Delivery.attempts == delivery.attempts)  # fmt: skip
    if isinstance(outcome, DeliveryFailed):
        final = outcome.permanent or delivery.attempts >= settings.delivery_max_attempts
        values: dict[str, Any] = {"error_message": outcome.message[:2000]}
        if final:
            values.update(status="failed", next_attempt_at=None)
        else:
            delay = backoff(settings.delivery_retry_base_seconds, delivery.attempts - 1)
            values.update(status="pending", next_attempt_at=now + delay)
        result = "failed" if final else "retrying"
    else:
        values = {"status": "sent", "delivered_at": now, "next_attempt_at": None,
                  "error_message": None, "details": outcome}  # fmt: skip
        result = "sent"
    changed = session.execute(update(Delivery).where(*mine).values(**values))
    if not changed.rowcount:  # type: ignore[attr-defined]
        return  # the lease ran out and another sender took it over
    metrics.delivery(delivery.recipient_type, result)
    _audit(session, delivery, result, values.get("error_message"))
    if result != "retrying":
        events.delivery_ended(
            session, delivery, sent=result == "sent", error=values.get("error_message")
        )


def _fail(session: Session, delivery: models.ReportDelivery, reason: str) -> None:
    failed = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery.id,
            Delivery.status == delivery.status,
            Delivery.attempts == delivery.attempts,
        )
        .values(status="failed", error_message=reason, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    if failed.rowcount:  # type: ignore[attr-defined]
        metrics.delivery(delivery.recipient_type, "failed")
        _audit(session, delivery, "failed", reason)
        events.delivery_ended(session, delivery, sent=False, error=reason)


def _audit(
    session: Session, delivery: models.ReportDelivery, outcome: str, error: str | None
) -> None:
    audit.record(
        session,
        delivery.tenant_id,
        "delivery.sent" if outcome == "sent" else "delivery.failed",
        "delivery",
        delivery.id,
        execution=str(delivery.execution_id),
        channel=delivery.recipient_type,
        recipient=delivery.recipient_value,
        attempt=delivery.attempts,
        outcome=outcome,
        error=error,
    )
