"""``create_app()``: settings, database, the error handler, middleware and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from broadsheet import __version__, problems, startup
from broadsheet.config import Settings
from broadsheet.datasources.endpoints import router as datasources_router
from broadsheet.db import make_engine, make_sessionmaker
from broadsheet.health import router as health_router
from broadsheet.middleware import BodyLimit
from broadsheet.reports.endpoints import router as reports_router

DESCRIPTION = """\
Reports over your own databases, generated on demand or on a schedule, exported and delivered.

Authenticate with `Authorization: Bearer <api key>` (`broadsheet keys create`). Errors are
`application/problem+json` (RFC 9457). Lists take `limit`/`offset` and answer `X-Total-Count`.
"""


def create_app(settings: Settings | None = None, *, prepare: bool = True) -> FastAPI:
    """Build the application. ``prepare`` runs start-up work (migrations, bootstrap key, demo)
    in the lifespan; tests that set up the database themselves turn it off."""
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if prepare:
            await run_in_threadpool(startup.prepare, settings, sessions)
        yield
        engine.dispose()

    app = FastAPI(
        title="Broadsheet",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for router in (health_router, reports_router, datasources_router):
        app.include_router(router)
    return app
