"""The web UI's sign-in state: sessions behind the cookie, and failed sign-ins counted to
throttle guessing. Both are rows, so every process of a deployment sees the same."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, tenant_fk


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so
    a copy of the database opens no session."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))


class SignInThrottle(Base):
    """Failed sign-ins of one account (email in a tenant) or one client address.

    ``id`` is the SHA-256 of the subject (``account:<tenant id>:<email>``,
    ``address:<ip>``), so emails and addresses are not kept here in clear.
    """

    __tablename__ = "sign_in_throttles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_failed_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    locked_until: Mapped[datetime | None]
    # The last lock's length: the next one is twice as long (up to the maximum).
    lock_seconds: Mapped[int] = mapped_column(default=0)
