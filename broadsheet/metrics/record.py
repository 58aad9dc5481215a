"""The hooks the rest of Broadsheet calls, one line each where the work happens.

Metrics must never break the work they watch: every update here logs its failure (a full
disk under the multiprocess directory, say) and returns normally.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from broadsheet.metrics import registry

if TYPE_CHECKING:
    from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# Methods outside this set are counted as "other": a client cannot add series by making up
# methods.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ENDED = frozenset({"completed", "failed", "cancelled"})


def _safely(update: Callable[P, None]) -> Callable[P, None]:
    @wraps(update)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            update(*args, **kwargs)
        except Exception:
            log.warning("updating metrics in %s failed", update.__name__, exc_info=True)

    return guarded


@_safely
def request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    registry.HTTP_REQUESTS.labels(route, method, str(status)).inc()
    registry.HTTP_DURATION.labels(route).observe(seconds)


@_safely
def job(status: str, executor: str, trigger: str) -> None:
    """A job ended (``status`` completed, failed or cancelled; anything else is not an end)."""
    if status in ENDED:
        registry.JOBS.labels(status, executor, trigger).inc()


@_safely
def job_run_ended(runtime: Runtime, job_id: uuid.UUID, status: str | None) -> None:
    """A run of a job ended with ``status``. Only completed and failed are counted here: a
    cancelled job is counted where it is cancelled, and a run that gave its job back (to the
    queue, or to another run) did not end it."""
    if status not in ("completed", "failed"):
        return
    from sqlalchemy import select

    from broadsheet.models import ReportJob

    with runtime.sessions() as session:
        trigger = session.scalar(select(ReportJob.trigger).where(ReportJob.id == job_id))
    job(status, runtime.settings.executor.value, trigger or "api")


@_safely
def phase(name: str, seconds: float) -> None:
    registry.JOB_PHASE.labels(name).observe(seconds)


@contextmanager
def timed_phase(name: str) -> Iterator[None]:
    """Times the block as phase ``name`` (also when it raises: the time was spent)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        phase(name, time.perf_counter() - started)


class QueryClock:
    """Splits the time of streaming a query into storage between the two: the time spent
    waiting for the source's next batch is ``query``, the rest ``store``."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.querying = 0.0

    def pull(self, batches: Iterable[T]) -> Iterator[T]:
        """``batches``, timed while each is fetched; closing this closes them."""
        source = iter(batches)
        try:
            while True:
                began = time.perf_counter()
                try:
                    batch = next(source)
                finally:
                    self.querying += time.perf_counter() - began
                yield batch
        except StopIteration:
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def done(self) -> None:
        phase("query", self.querying)
        phase("store", max(time.perf_counter() - self.started - self.querying, 0.0))


@_safely
def fire_lags(lags: Iterable[timedelta]) -> None:
    """Scheduled fires started, each this late after its scheduled instant."""
    for lag in lags:
        registry.FIRE_LAG.observe(max(lag.total_seconds(), 0.0))


@_safely
def tick(seconds: float) -> None:
    registry.SCHEDULER_TICK.observe(seconds)


@contextmanager
def timed_tick() -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        tick(time.perf_counter() - started)


@_safely
def delivery(channel: str, status: str) -> None:
    """A delivery attempt's outcome was recorded: sent, retrying or failed."""
    registry.DELIVERIES.labels(channel, status).inc()
