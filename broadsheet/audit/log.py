"""Writing explicit actions to the audit trail: what is not a change of an object's fields
(a delivery sent, a key revoked, a failed sign-in). Changes to objects are written without a
call (``broadsheet.audit.tracking``). Entries join the caller's transaction: an action and its
record are committed (or rolled back) together.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy.orm import Session

from broadsheet.audit import tracking
from broadsheet.audit.context import Actor, current

# Every action written, so the log's readers (and /openapi.json) know them all.
# (``<object>.created|updated|deleted`` for each model of ``tracking.AUDITED``, and the explicit
# actions.)
AuditAction = Literal[
    "auth.signin_failed",
    "dashboard.created",
    "dashboard.deleted",
    "dashboard.updated",
    "data_source.created",
    "data_source.deleted",
    "data_source.updated",
    "delivery.failed",
    "delivery.sent",
    "email.unsubscribed",
    "event_subscription.created",
    "event_subscription.deleted",
    "event_subscription.updated",
    "export.downloaded",
    "key.created",
    "key.deleted",
    "key.revoked",
    "key.updated",
    "owner.notified",
    "report.created",
    "report.deleted",
    "report.updated",
    "schedule.created",
    "schedule.deleted",
    "schedule.updated",
    "tenant.created",
    "tenant.deleted",
    "tenant.updated",
    "tenant.webhook_secret_rotated",
    "user.created",
    "user.deleted",
    "user.updated",
]


def record(
    session: Session,
    tenant_id: uuid.UUID,
    action: AuditAction,
    object_type: str,
    object_id: uuid.UUID | None,
    *,
    actor: Actor | None = None,
    **details: Any,
) -> None:
    """``action`` is ``<noun>.<verb>``, e.g. ``delivery.sent``; ``details`` JSON values. The
    actor, address and request id are the current request's (``system`` outside one), unless
    ``actor`` says otherwise."""
    context = current()
    if actor is not None:
        context = type(context)(actor, context.ip, context.request_id)
    tracking.pending(session).append(
        tracking.entry(context, tenant_id, action, object_type, object_id, details=details)
    )
