"""Alembic environment: one history for SQLite and PostgreSQL.

Batch mode lets later ALTERs run on SQLite (with foreign keys unenforced while it rebuilds
tables); on PostgreSQL an advisory lock makes several
processes starting at once migrate one after another instead of racing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from broadsheet.db import make_engine
from broadsheet.models import Base

MIGRATION_LOCK = 7_201_812_001

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "broadsheet.migrate sets sqlalchemy.url"

engine = make_engine(url)
with engine.connect() as connection:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()
    if connection.dialect.name == "sqlite":
        # Batch mode rebuilds a table by copying it and dropping the old one; with foreign keys
        # enforced, dropping a table other rows point at (users, tenants) fails or cascades.
        # SQLite takes this pragma only outside a transaction.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=not postgres,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()
engine.dispose()
