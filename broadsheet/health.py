"""``/healthz``: the process is up. ``/readyz``: what serving needs answers —
``{status, checks: {database, broker, storage}}``, each ``ok`` or the reason it is not, and 503
when any is not (a load balancer takes the process out until they answer again). The broker is
checked only when jobs go through Celery."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from broadsheet.config import Executor, Settings
from broadsheet.runtime import Runtime

router = APIRouter(tags=["health"])

# Each check waits at most this long: a probe that hangs is a failed probe.
CHECK_SECONDS = 2.0
STORAGE_PROBE_KEY = "readyz-probe"
# The checks run side by side on these threads, and the answer waits for them only until
# ANSWER_SECONDS: a database that accepts connections but never answers would otherwise hold
# the probe until TCP gives up. A hung check keeps its thread until its peer answers or the
# connection breaks, so the threads are few and shared: more hung probes wait their turn
# (and time out) instead of piling up threads.
_PROBES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="broadsheet-readyz")
# The backstop: checks with timeouts of their own (the broker's) get them, and a second more.
ANSWER_SECONDS = CHECK_SECONDS + 1.0


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database, the broker (with Celery) and storage answer",
    responses={503: {"description": "One of them does not; each check says why."}},
)
def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    started = {name: _PROBES.submit(_outcome, check) for name, check in _checks(runtime).items()}
    deadline = time.monotonic() + ANSWER_SECONDS
    checks: dict[str, str] = {}
    for name, outcome in started.items():
        try:
            checks[name] = outcome.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            checks[name] = f"no answer within {ANSWER_SECONDS:g} s"
    ready = all(outcome == "ok" for outcome in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


def _checks(runtime: Runtime) -> dict[str, Callable[[], None]]:
    checks: dict[str, Callable[[], None]] = {
        "database": lambda: _database(runtime),
        "storage": lambda: _storage(runtime),
    }
    if runtime.settings.executor is Executor.celery:
        checks["broker"] = lambda: _broker(runtime.settings)
    return checks


def _outcome(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:  # any failure is the answer, never a 500
        # The kind and the message, not a traceback: the message may name the host, never a
        # password (URLs are not put in these messages by the libraries checked).
        return f"{type(exc).__name__}: {exc}"[:300]
    return "ok"


def _database(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _storage(runtime: Runtime) -> None:
    runtime.storage.exists(STORAGE_PROBE_KEY)


def _broker(settings: Settings) -> None:
    from kombu import Connection  # type: ignore[attr-defined]

    connect: Any = Connection  # kombu has no type hints
    with connect(settings.broker_url, connect_timeout=CHECK_SECONDS) as broker:
        broker.ensure_connection(max_retries=1, timeout=CHECK_SECONDS)
