"""What a process does before it serves: migrate, create the bootstrap key and admin, add the
demo (and, on a fresh embedded install, a demo admin who can sign in)."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import demo, migrate
from broadsheet.auth import service as auth
from broadsheet.config import Settings
from broadsheet.datasources import demo_dataset
from broadsheet.db import session_scope
from broadsheet.models import Role

log = logging.getLogger(__name__)
DEMO_ADMIN_EMAIL = "admin@example.com"


def prepare(settings: Settings, sessions: sessionmaker[Session]) -> None:
    if settings.migrate_on_start:
        migrate.upgrade(settings.resolved_database_url)
    demo_password = None
    try:
        with session_scope(sessions) as session:
            if settings.bootstrap_admin_key and auth.ensure_bootstrap_key(
                session,
                key=settings.bootstrap_admin_key,
                tenant=settings.default_tenant,
                email=settings.bootstrap_admin_email or None,
            ):
                log.info("created the bootstrap admin key in tenant %s", settings.default_tenant)
            demo_password = _sign_in(session, settings)
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
        return
    if demo_password:  # said once it is saved; never again (nor stored anywhere in clear)
        log.warning(
            "sign in at %s/login as %s with the password %s — shown only this once; make your "
            "own admin with: broadsheet users create --tenant %s --role admin --email <you>",
            settings.base_url,
            DEMO_ADMIN_EMAIL,
            demo_password,
            settings.default_tenant,
        )


def _sign_in(session: Session, settings: Settings) -> str | None:
    """The bootstrap admin's password; or, on a fresh embedded install where nobody can sign
    in, a demo admin (its password returned, to be shown once)."""
    if settings.bootstrap_admin_password:
        if auth.ensure_bootstrap_sign_in(
            session,
            tenant=settings.default_tenant,
            email=settings.bootstrap_admin_email,
            password=settings.bootstrap_admin_password,
        ):
            log.info(
                "%s can sign in to tenant %s",
                settings.bootstrap_admin_email,
                settings.default_tenant,
            )
        return None
    if auth.anyone_can_sign_in(session):
        return None
    if settings.bootstrap_admin_email or settings.database_url:
        log.warning(
            "nobody can sign in to the web UI yet; set BROADSHEET_BOOTSTRAP_ADMIN_PASSWORD or run:"
            " broadsheet users create --tenant %s --role admin --email <you@example.com>",
            settings.default_tenant,
        )
        return None
    # The embedded shape's first start (its own SQLite file): `make run` leads to a sign-in.
    password = secrets.token_urlsafe(15)
    auth.set_sign_in(
        session,
        tenant=settings.default_tenant,
        email=DEMO_ADMIN_EMAIL,
        role=Role.admin,
        password=password,
        name="Demo admin",
    )
    return password
