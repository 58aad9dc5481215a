"""What a process does before it serves: migrate, create the bootstrap key, add the demo."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import demo, migrate
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.datasources import demo_dataset
from broadsheet.db import session_scope

log = logging.getLogger(__name__)


def prepare(settings: Settings, sessions: sessionmaker[Session]) -> None:
    if settings.migrate_on_start:
        migrate.upgrade(settings.resolved_database_url)
    try:
        with session_scope(sessions) as session:
            if settings.bootstrap_admin_key and auth.ensure_bootstrap_key(
                session,
                key=settings.bootstrap_admin_key,
                tenant=settings.default_tenant,
                email=settings.bootstrap_admin_email or None,
            ):
                log.info("created the bootstrap admin key in tenant %s", settings.default_tenant)
            if settings.demo:
                # Data that ends over a week ago is made anew to today (same values, dates
                # moved), so an install left running keeps rows for "last week".
                data = settings.shared_sources_dir / f"{demo.SOURCE}.db"
                refresh = data.exists() and demo_dataset.stale(data)
                for item in demo.install(
                    session, settings, settings.default_tenant, refresh=refresh
                ):
                    log.info("demo: added %s", item)
            if not auth.list_keys(session):
                log.warning(
                    "no API key exists yet; create one with: broadsheet keys create"
                    " --tenant %s --role admin --name <you> --email <you@example.com>",
                    settings.default_tenant,
                )
    except IntegrityError:
        # Another process starting at the same moment created the same rows first.
        log.info("start-up data was created by another process")
