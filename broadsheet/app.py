"""``create_app()``: settings, database, the error handler, middleware and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from broadsheet import __version__, problems, startup, tracing
from broadsheet.audit.context import AuditScope
from broadsheet.audit.endpoints import router as audit_router
from broadsheet.auth.key_endpoints import router as keys_router
from broadsheet.capacity import RequestSlots, size_request_threads
from broadsheet.config import Settings
from broadsheet.dashboards.embed_endpoints import router as embed_router
from broadsheet.dashboards.endpoints import router as dashboards_router
from broadsheet.datasources.endpoints import router as datasources_router
from broadsheet.db import make_engine, make_sessionmaker
from broadsheet.deliveries.endpoints import router as delivery_links_router
from broadsheet.events.endpoints import router as events_router
from broadsheet.events.endpoints import subscriptions_router as event_subscriptions_router
from broadsheet.exports.endpoints import router as exports_router
from broadsheet.health import router as health_router
from broadsheet.jobs.endpoints import router as jobs_router
from broadsheet.jobs.executors import make_executor
from broadsheet.jobs.maintenance import Maintenance
from broadsheet.kit.gc import freeze_startup_objects
from broadsheet.metrics import multiprocess as metrics_processes
from broadsheet.metrics.endpoint import router as metrics_router
from broadsheet.metrics.middleware import RequestMetrics
from broadsheet.middleware import BodyLimit, RequestId
from broadsheet.ratelimit.backends import make_backend
from broadsheet.ratelimit.middleware import RateLimit
from broadsheet.ratelimit.rules import Rules
from broadsheet.reports.endpoints import router as reports_router
from broadsheet.results.endpoints import router as results_router
from broadsheet.runtime import Runtime
from broadsheet.schedules.endpoints import executions_router
from broadsheet.schedules.endpoints import router as schedules_router
from broadsheet.schedules.scheduler import Scheduler
from broadsheet.tenants.endpoints import router as tenant_router
from broadsheet.web import errors as web_errors
from broadsheet.web.router import router as web_router

DESCRIPTION = """\
Reports over your own databases, generated on demand or on a schedule, exported and delivered.

Authenticate with `Authorization: Bearer <api key>` (`broadsheet keys create`). Errors are
`application/problem+json` (RFC 9457). Lists take `limit`/`offset` and answer `X-Total-Count`.
"""


def create_app(settings: Settings | None = None, *, prepare: bool = True) -> FastAPI:
    """Build the application. ``prepare`` runs start-up work (migrations, bootstrap key, demo)
    in the lifespan; tests that set up the database themselves turn it off."""
    settings = settings or Settings()
    tracing.setup(settings, "broadsheet")  # before the engines, so their queries are traced
    runtime = Runtime.build(settings)  # jobs, the scheduler and maintenance use its engine
    # Requests have an engine of their own: the connections their turns are counted against
    # (broadsheet.capacity) are never taken by background work, and waiting for one is short.
    requests_engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    executor = make_executor(runtime)
    maintenance = Maintenance(runtime, executor)
    scheduler = Scheduler(runtime, executor) if settings.scheduler_embedded else None
    rate_limits = make_backend(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        size_request_threads(settings)
        if prepare:
            await run_in_threadpool(startup.prepare, settings, runtime.sessions)
        freeze_startup_objects()
        executor.start()
        maintenance.start()
        if scheduler is not None:
            scheduler.start()
        yield
        if scheduler is not None:
            await run_in_threadpool(scheduler.stop)
        await run_in_threadpool(maintenance.stop)
        await run_in_threadpool(executor.stop)
        runtime.engine.dispose()
        metrics_processes.process_ended()
        requests_engine.dispose()
        await rate_limits.aclose()

    app = FastAPI(
        title="Broadsheet",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = requests_engine
    app.state.sessions = make_sessionmaker(requests_engine)
    app.state.runtime = runtime
    app.state.db_slots = RequestSlots(settings.db_pool_size, settings.db_pool_timeout_seconds)
    app.state.executor = executor
    app.state.rate_limits = rate_limits
    problems.install(app, pages=web_errors.page)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Inside the metrics: a refused request is counted and timed like any other.
    app.add_middleware(RateLimit, backend=rate_limits, rules=Rules.from_settings(settings))
    # Outside the body limit: a refused body is counted (as unmatched) and timed too.
    app.add_middleware(RequestMetrics)
    # Every audit entry a request writes names its client address and actor.
    app.add_middleware(AuditScope)
    # Outermost: even a refused body's 413 carries the request's id.
    app.add_middleware(RequestId)
    # Literal paths (/reports/jobs/…, /reports/results/…) before /reports/{reportId}.
    routers = (
        health_router,
        metrics_router,
        jobs_router,
        exports_router,
        results_router,
        reports_router,
        dashboards_router,
        embed_router,
        datasources_router,
        schedules_router,
        executions_router,
        delivery_links_router,
        tenant_router,
        audit_router,
        keys_router,
        events_router,
        event_subscriptions_router,
        web_router,
    )
    for router in routers:
        app.include_router(router)
    tracing.instrument_app(app)  # outermost: the request's span is current everywhere
    return app
