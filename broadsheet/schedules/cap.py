"""``BROADSHEET_TENANT_MAX_SCHEDULES``: how many enabled schedules one tenant may have.

Creating, enabling or resuming one more is a 409 that names the limit; paused schedules do
not count. On PostgreSQL a per-tenant advisory lock makes the count and the write one step,
so two saves at once cannot both take the last place.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.errors import Conflict
from broadsheet.kit.tenant_lock import lock_tenant

SCHEDULE_LOCK = 0x42537363  # 'BSsc': this module's advisory locks
Schedule = models.ReportSchedule


def check_room(
    session: Session, cap: int, tenant_id: uuid.UUID, excluding: uuid.UUID | None = None
) -> None:
    """Raise Conflict unless the tenant may have one more enabled schedule (``excluding``
    the one being enabled, already counted if it is)."""
    lock_tenant(session, SCHEDULE_LOCK, tenant_id)
    query = select(func.count()).where(Schedule.tenant_id == tenant_id, Schedule.enabled)
    if excluding is not None:
        query = query.where(Schedule.id != excluding)
    enabled = session.scalar(query) or 0
    if enabled >= cap:
        raise Conflict(
            f"the tenant has {enabled} enabled schedules, the most it may have "
            f"(BROADSHEET_TENANT_MAX_SCHEDULES = {cap}); pause or delete one first"
        )
