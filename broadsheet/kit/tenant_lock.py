"""``lock_tenant()``: one transaction of a tenant at a time for a check-then-write.

A cap checked by counting rows ("fewer than N processing") is only a cap if two
transactions cannot both count before either writes. On PostgreSQL a transaction-level
advisory lock per (purpose, tenant), held until commit, orders them; SQLite lets one writer
in at a time already.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def lock_tenant(session: Session, space: int, tenant_id: uuid.UUID) -> None:
    """Wait for, and hold until this transaction ends, the tenant's lock in ``space`` (a
    32-bit number naming the purpose; a collision of tenants only serialises the two)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(tenant_id.bytes[:4], "big", signed=True)
    session.execute(select(func.pg_advisory_xact_lock(space, key)))
