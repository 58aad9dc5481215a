"""The event outbox, and the subscriptions that push its events to tenants' URLs.

An event row is written in the transaction of the change it tells of (see
:mod:`broadsheet.events.outbox`), so it exists exactly when the change was committed. Its
integer ``id`` is the feed's position: per tenant, ids grow in commit order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, JSONType, tenant_fk, uuid_pk

# SQLite gives autoincrement only to an INTEGER PRIMARY KEY; BIGINT elsewhere.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """One CloudEvent of a tenant's feed (``type``, ``subject`` = ``<objectType>/<id>``)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("idx_events_tenant_id_id", "tenant_id", "id"),
        Index("idx_events_time", "time"),
        # AUTOINCREMENT: SQLite never hands out an id again, even when retention has deleted
        # every row; a reader's ``after`` stays meaningful.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    time: Mapped[datetime] = mapped_column(default=utc_now)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)


class EventSubscription(Base):
    """A URL that is sent the tenant's events of some ``types``, signed with ``secret``.

    ``position`` is the id of the last event the subscription has looked at: every event
    after it that it wants has an :class:`EventDelivery` row already.
    """

    __tablename__ = "event_subscriptions"

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    url: Mapped[str] = mapped_column(String(1000))
    types: Mapped[list[str]] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(Text)  # encrypted at rest; never answered
    position: Mapped[int] = mapped_column(EventId, default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class EventDelivery(Base):
    """One event to one subscription.

    status: pending ──claimed──▶ sending ──▶ sent
               ▲                    ├──────▶ failed (permanent, or the last attempt)
               └── next_attempt_at ─┘ (a failure that may pass; or the sender died)

    Within a subscription, a subject's events go one at a time in id order: one waits
    while an earlier one of its subject is pending or sending.
    """

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("idx_event_deliveries_due", "status", "next_attempt_at"),
        Index("idx_event_deliveries_subject", "subscription_id", "subject", "event_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("event_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(
        EventId, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
