"""Retention, the only way audit entries leave: entries older than
``BROADSHEET_AUDIT_RETENTION_DAYS`` are deleted, and each chain's anchor moves to the last one
deleted, so ``broadsheet audit verify`` still passes on what is kept."""

from __future__ import annotations

import logging

from broadsheet.audit import chain
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)


def sweep(runtime: Runtime) -> int:
    """Deletes the expired entries (in a transaction of its own); how many."""
    with runtime.engine.begin() as conn:
        deleted = chain.expire(conn, runtime.settings.audit_retention_days)
    if deleted:
        log.info("deleted %d audit entries older than %d days", deleted,
                 runtime.settings.audit_retention_days)  # fmt: skip
    return deleted
