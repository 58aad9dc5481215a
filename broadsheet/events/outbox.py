"""``emit()``: an event, written in the transaction of the change it tells of.

:func:`emit` only notes the event on the session; the rows are inserted when that session
commits (a ``before_commit`` hook), after its last flush. So a change that is rolled back
emits nothing, and a committed one its events exactly once.

Ids are the feed's order, and a reader that has seen up to ``after=41`` must never miss an
event 42 that commits after 43 does. A plain sequence cannot promise that on PostgreSQL:
numbers are taken when rows are inserted, but transactions commit in any order. So the
rows are inserted at commit, under a transaction-level advisory lock per tenant
(``pg_advisory_xact_lock``, held until that commit): a second writer of the same tenant takes
its ids only after the first has committed (or rolled back, leaving a gap that is never
filled). Within a tenant, ids therefore grow in commit order, and an event visible to a
reader has every smaller id of its tenant visible already, or never. The lock is held only
from the insert to the commit, after every other write of the transaction was flushed, so
it never waits on a row lock while holding it (no deadlock) and writers of other tenants do
not wait at all. SQLite has one writer at a time, which gives the same order without a lock.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, cast, get_args

from sqlalchemy import Table, event, func, select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.kit.time import utc_now

EventType = Literal[
    "broadsheet.job.completed",
    "broadsheet.job.failed",
    "broadsheet.execution.completed",
    "broadsheet.execution.failed",
    "broadsheet.delivery.sent",
    "broadsheet.delivery.failed",
    "broadsheet.report.updated",
    "broadsheet.schedule.updated",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

# The session's ``info`` key for events noted and not yet written.
_PENDING = "broadsheet.events.pending"
# The first key of this module's advisory locks (``'BSev'``); the second is the tenant's.
_LOCK_SPACE = 0x42536576


def emit(
    session: Session,
    tenant_id: uuid.UUID,
    type: EventType,  # the CloudEvents attribute's name
    subject: str,
    data: dict[str, Any],
) -> None:
    """Note an event about ``subject`` (``<objectType>/<id>``), written when ``session``
    commits; ``data`` must be JSON values (strings for ids and instants)."""
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    pending.append(
        {"tenant_id": tenant_id, "type": type, "subject": subject, "time": utc_now(), "data": data}
    )


# First among the before-commit hooks in every process (insert=True): the audit trail's locks
# its tenant's chain there too, and two processes taking the two locks in opposite orders
# could deadlock.
@event.listens_for(Session, "before_commit", insert=True)
def _write_pending(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    session.flush()  # every other write first: the lock below is then held only to the commit
    session.info.pop(_PENDING, None)
    if session.get_bind().dialect.name == "postgresql":
        # Sorted, so two transactions that emit for the same tenants lock them in one order.
        for tenant_id in sorted({row["tenant_id"] for row in pending}):
            session.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, _lock_key(tenant_id))))
    # A Core insert: the rows are no ORM objects, so flush hooks (the audit trail's) see none.
    session.execute(cast(Table, models.Event.__table__).insert(), pending)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: Any) -> None:
    # A session closed without committing ends its transaction without a rollback event.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _lock_key(tenant_id: uuid.UUID) -> int:
    """A signed 32-bit number from the tenant's id (a collision only serialises two tenants)."""
    return int.from_bytes(tenant_id.bytes[:4], "big", signed=True)
