"""Events are kept ``BROADSHEET_EVENT_RETENTION_DAYS``; their deliveries go with them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from broadsheet import models
from broadsheet.db import session_scope
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime


def sweep(runtime: Runtime) -> int:
    """Delete events older than the retention period. Returns how many."""
    cutoff = utc_now() - timedelta(days=runtime.settings.event_retention_days)
    old = models.Event.time < cutoff
    with session_scope(runtime.sessions) as session:
        # Their deliveries first, in so many words, rather than trusting each database's
        # cascade (SQLite enforces it only with its foreign keys switched on).
        session.execute(
            delete(models.EventDelivery)
            .where(models.EventDelivery.event_id.in_(select(models.Event.id).where(old)))
            .execution_options(synchronize_session=False)
        )
        gone = session.execute(
            delete(models.Event).where(old).execution_options(synchronize_session=False)
        )
        return int(gone.rowcount)  # type: ignore[attr-defined]
