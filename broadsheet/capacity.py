"""Request threads and metadata-database connections, sized together.

A request's session takes a connection on its first query, in a request thread, and keeps it
until the session closes after the response is built; in between, every sync dependency, the
endpoint and the response validation queue again (first come, first served) for a request
thread. Unbounded, a burst deadlocks: requests waiting for a connection hold every thread,
while the requests holding the connections wait behind them for a thread, until the pool's
timeout fails them all with a 500. So a request first takes one of ``BROADSHEET_DB_POOL_SIZE``
slots here — waiting on the event loop, holding no thread and no connection — and the pool
keeps that many connections: a request with a slot finds a connection, and a thread is only
ever held by work that can finish. A request that gets no slot in time is answered 503 with
``Retry-After``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.errors import Overloaded


class RequestSlots:
    """At most ``size`` requests use the metadata database at once; the rest wait their turn
    (in order of arrival) for up to ``timeout`` seconds."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        # One semaphore per event loop: tests start several loops over one app.
        self._semaphore: RunVar[anyio.Semaphore] = RunVar(f"broadsheet-slots-{id(self)}")

    def _current(self) -> anyio.Semaphore:
        semaphore = self._semaphore.get(None)
        if semaphore is None:
            semaphore = anyio.Semaphore(self.size)
            self._semaphore.set(semaphore)
        return semaphore

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        semaphore = self._current()
        try:
            with anyio.fail_after(self.timeout):
                await semaphore.acquire()
        except TimeoutError:
            raise Overloaded(
                f"the server is busy: no database connection was free within {self.timeout:g} s;"
                " retry shortly"
            ) from None
        try:
            yield
        finally:
            semaphore.release()


@asynccontextmanager
async def request_session(
    sessions: sessionmaker[Session], slots: RequestSlots
) -> AsyncIterator[Session]:
    """A request's unit of work: a slot first, then a session (it connects on first use);
    committed if the request succeeds, and closed — its connection returned — before the
    slot is given back."""
    async with slots.hold():
        session = sessions()
        try:
            yield session
        except BaseException:
            await _in_own_thread(session.close)  # closing rolls back what was not committed
            raise
        await _in_own_thread(lambda: _commit_and_close(session))


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


async def _in_own_thread(work: Callable[[], None]) -> None:
    # The clean-up gets a thread of its own rather than queueing for a request thread, and
    # runs to the end even if the request is cancelled: the slot is always given back.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(work, limiter=anyio.CapacityLimiter(1))


def size_request_threads(settings: Settings) -> None:
    """Sets the request threads (anyio's default limiter, which Starlette and FastAPI run
    sync code in) for the running event loop."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = settings.resolved_request_threads
