"""Telling a schedule's owner that an execution or one of its deliveries finally failed.

One sweep for every way to fail (a fire that could not start, a generation out of retries, an
export that broke, a delivery that gave up): failed rows not yet told about are claimed by
setting ``owner_notified_at`` (a conditional update, so one scheduler tells), the notices are
mailed after that commit — to the owner's email, else ``BROADSHEET_ADMIN_EMAIL``; with no SMTP
server they go to the outbox folder like every email — and each one sent gets its
``owner.notified`` audit entry. While the mail server is down, notices are handed back for
the next tick; one to an address no server takes is told in the audit log only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.audit import log as audit
from broadsheet.db import session_scope
from broadsheet.deliveries.channels import Channels
from broadsheet.deliveries.channels.base import DeliveryFailed
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 100


@dataclass(frozen=True)
class Notice:
    to: str
    subject: str
    text: str
    # What it is about, for the audit entry written once it is sent, and to hand the row
    # back for the next tick if it is not.
    model: type[models.ReportExecution] | type[models.ReportDelivery]
    row_id: uuid.UUID
    tenant_id: uuid.UUID
    audit: dict[str, Any]


def advance(
    runtime: Runtime, now: datetime | None = None, *, channels: Channels | None = None
) -> int:
    """Tell owners about new final failures. Returns how many notices were sent."""
    now = now or utc_now()
    channels = channels or Channels(runtime.settings)
    with session_scope(runtime.sessions) as session:
        notices = _executions(session, runtime, now) + _deliveries(session, runtime, now)
    sent = 0
    for i, notice in enumerate(notices):
        try:
            channels.email.send_notice(notice.to, notice.subject, notice.text)
        except DeliveryFailed as failed:
            if not failed.permanent:  # the mail server is down: the rest wait with this one
                log.warning("could not mail owner notices (%s); trying next tick", failed)
                for waiting in notices[i:]:
                    _release(runtime, waiting, now)
                break
            # An address no mail server will take: told in the audit log, and only there.
            _told(runtime, notice, error=failed.message)
            continue
        except Exception:  # not foreseen: keep the notices for the next tick, and say so
            log.exception("could not mail owner notices; trying next tick")
            for waiting in notices[i:]:
                _release(runtime, waiting, now)
            break
        _told(runtime, notice)
        sent += 1
    return sent


def _told(runtime: Runtime, notice: Notice, error: str | None = None) -> None:
    details = dict(notice.audit)
    kind = details.pop("type")
    if error:
        details["error"] = error
    with session_scope(runtime.sessions) as session:
        audit.record(session, notice.tenant_id, "owner.notified", kind, notice.row_id, **details)


def _release(runtime: Runtime, notice: Notice, claimed_at: datetime) -> None:
    with session_scope(runtime.sessions) as session:
        model = notice.model
        session.execute(
            update(model)
            .where(model.id == notice.row_id, model.owner_notified_at == claimed_at)
            .values(owner_notified_at=None)
            .execution_options(synchronize_session=False)
        )


def _failed(
    session: Session,
    model: type[models.ReportExecution] | type[models.ReportDelivery],
    now: datetime,
) -> Iterator[Any]:
    """Failed rows nobody was told about yet, each claimed for this scheduler as it comes."""
    rows: Sequence[Any] = session.scalars(
        select(model)
        .where(model.status == "failed", model.owner_notified_at.is_(None))
        .limit(BATCH)
    ).all()
    for row in rows:
        if _claim(session, model, row.id, now):
            yield row


def _executions(session: Session, runtime: Runtime, now: datetime) -> list[Notice]:
    Execution = models.ReportExecution
    notices = []
    for execution in _failed(session, Execution, now):
        schedule = session.get(models.ReportSchedule, execution.schedule_id)
        if schedule is None:
            continue
        when = execution.scheduled_for.isoformat()
        reason = execution.error_message or "no reason recorded"
        notice = _notice(
            session,
            runtime,
            schedule,
            f"Broadsheet: “{schedule.name}” failed",
            f"The run of the schedule “{schedule.name}” due at {when} failed after "
            f"{execution.retry_count + 1} attempt(s).\n\nReason: {reason}\n\n"
            f"Execution: {runtime.settings.base_url}/api/v1/executions/{execution.id}\n",
            model=Execution,
            row_id=execution.id,
            execution_id=execution.id,
            reason=reason,
        )
        if notice:
            notices.append(notice)
    return notices


def _deliveries(session: Session, runtime: Runtime, now: datetime) -> list[Notice]:
    Delivery = models.ReportDelivery
    notices = []
    for delivery in _failed(session, Delivery, now):
        execution = session.get(models.ReportExecution, delivery.execution_id)
        schedule = session.get(models.ReportSchedule, execution.schedule_id) if execution else None
        if execution is None or schedule is None:
            continue
        reason = delivery.error_message or "no reason recorded"
        notice = _notice(
            session,
            runtime,
            schedule,
            f"Broadsheet: “{schedule.name}” was not delivered to {delivery.recipient_value}",
            f"The report of the schedule “{schedule.name}” due at "
            f"{execution.scheduled_for.isoformat()} could not be delivered by "
            f"{delivery.recipient_type} to {delivery.recipient_value} after "
            f"{delivery.attempts} attempt(s).\n\nReason: {reason}\n\n"
            f"Execution: {runtime.settings.base_url}/api/v1/executions/{execution.id}\n",
            model=Delivery,
            row_id=delivery.id,
            execution_id=execution.id,
            reason=reason,
        )
        if notice:
            notices.append(notice)
    return notices


def _claim(
    session: Session,
    model: type[models.ReportExecution] | type[models.ReportDelivery],
    row_id: uuid.UUID,
    now: datetime,
) -> bool:
    taken = session.execute(
        update(model)
        .where(model.id == row_id, model.owner_notified_at.is_(None))
        .values(owner_notified_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def _notice(
    session: Session,
    runtime: Runtime,
    schedule: models.ReportSchedule,
    subject: str,
    text: str,
    *,
    model: type[models.ReportExecution] | type[models.ReportDelivery],
    row_id: uuid.UUID,
    execution_id: uuid.UUID,
    reason: str,
) -> Notice | None:
    owner = session.get(models.User, schedule.created_by)
    to = (owner.email if owner else None) or runtime.settings.admin_email or None
    details: dict[str, Any] = {
        "type": "delivery" if model is models.ReportDelivery else "execution",
        "owner": str(schedule.created_by),
        "to": to,
        "reason": reason,
        "execution": str(execution_id),
    }
    if to is None:  # nobody to mail: the audit log is all there is
        log.warning("schedule %s failed and its owner has no email: %s", schedule.id, reason)
        audit.record(session, schedule.tenant_id, "owner.notified", details.pop("type"), row_id,
                     **details)  # fmt: skip
        return None
    return Notice(to, subject, text, model, row_id, schedule.tenant_id, details)
