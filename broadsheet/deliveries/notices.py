"""Telling a schedule's owner that an execution or one of its deliveries finally failed.

One sweep for every way to fail (a fire that could not start, a generation out of retries, an
export that broke, a delivery that gave up): failed rows not yet told about are claimed by
setting ``owner_notified_at`` (a conditional update, so one scheduler tells, once), the audit
log gets ``owner.notified`` in the same transaction, and the notices are mailed after the
commit — to the owner's email, else ``BROADSHEET_ADMIN_EMAIL``; with no SMTP server they go
to the outbox folder like every email.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.audit import log as audit
from broadsheet.db import session_scope
from broadsheet.deliveries.channels import Channels
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 100


@dataclass(frozen=True)
class Notice:
    to: str
    subject: str
    text: str


def advance(
    runtime: Runtime, now: datetime | None = None, *, channels: Channels | None = None
) -> int:
    """Tell owners about new final failures. Returns how many notices were sent."""
    now = now or utc_now()
    channels = channels or Channels(runtime.settings)
    with session_scope(runtime.sessions) as session:
        notices = _executions(session, runtime, now) + _deliveries(session, runtime, now)
    sent = 0
    for notice in notices:
        try:
            channels.email.send_notice(notice.to, notice.subject, notice.text)
            sent += 1
        except Exception:  # told in the audit log already; a lost notice is not retried
            log.exception("could not mail the notice %r to %s", notice.subject, notice.to)
    return sent


def _executions(session: Session, runtime: Runtime, now: datetime) -> list[Notice]:
    Execution = models.ReportExecution
    rows = session.scalars(
        select(Execution)
        .where(Execution.status == "failed", Execution.owner_notified_at.is_(None))
        .limit(BATCH)
    ).all()
    notices = []
    for execution in rows:
        if not _claim(session, Execution, execution.id, now):
            continue
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
            execution_id=execution.id,
            reason=reason,
        )
        if notice:
            notices.append(notice)
    return notices


def _deliveries(session: Session, runtime: Runtime, now: datetime) -> list[Notice]:
    Delivery = models.ReportDelivery
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.status == "failed", Delivery.owner_notified_at.is_(None))
        .limit(BATCH)
    ).all()
    notices = []
    for delivery in rows:
        if not _claim(session, Delivery, delivery.id, now):
            continue
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
            execution_id=execution.id,
            delivery_id=delivery.id,
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
    execution_id: uuid.UUID,
    reason: str,
    delivery_id: uuid.UUID | None = None,
) -> Notice | None:
    owner = session.get(models.User, schedule.created_by)
    to = (owner.email if owner else None) or runtime.settings.admin_email or None
    audit.record(
        session,
        schedule.tenant_id,
        "owner.notified",
        "delivery" if delivery_id else "execution",
        delivery_id or execution_id,
        owner=str(schedule.created_by),
        to=to,
        reason=reason,
        execution=str(execution_id),
    )
    if to is None:
        log.warning("schedule %s failed and its owner has no email: %s", schedule.id, reason)
        return None
    return Notice(to, subject, text)
