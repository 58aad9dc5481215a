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

The pool is the requests' own: jobs, the scheduler and maintenance have an engine of theirs
(see ``broadsheet.app``). And a slot is for using the database, not for the whole request:
work that goes on without it — rendering an export or a chart, querying a tenant's source —
first calls :func:`broadsheet.db.done_with_database`, which gives the slot back at once.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from anyio.lowlevel import RunVar
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.config import Settings
from broadsheet.db import ON_DONE
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
    async def hold(self) -> AsyncIterator[Turn]:
        semaphore = self._current()
        try:
            with anyio.fail_after(self.timeout):
                await semaphore.acquire()
        except TimeoutError:
            raise Overloaded(
                f"the server is busy: no database connection was free within {self.timeout:g} s;"
                " retry shortly"
            ) from None
        turn = Turn(semaphore, anyio.lowlevel.current_token())
        try:
            yield turn
        finally:
            turn.give_back()


class Turn:
    """One request's slot, given back once: early, from a request thread, when the request
    is done with the database; else when the request ends."""

    def __init__(self, semaphore: anyio.Semaphore, loop: anyio.lowlevel.EventLoopToken) -> None:
        self._semaphore = semaphore
        self._loop = loop
        self._loop_thread = threading.get_ident()  # made on the event loop
        self._lock = threading.Lock()
        self._held = True

    def give_back(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        if threading.get_ident() == self._loop_thread:
            self._semaphore.release()
        else:  # the semaphore belongs to the event loop: released there
            anyio.from_thread.run_sync(self._semaphore.release, token=self._loop)


@asynccontextmanager
async def request_session(
    sessions: sessionmaker[Session], slots: RequestSlots
) -> AsyncIterator[Session]:
    """A request's unit of work: a slot first, then a session (it connects on first use);
    committed if the request succeeds, and closed — its connection returned — before the
    slot is given back."""
    async with slots.hold() as turn:
        session = sessions()
        session.info[ON_DONE] = turn.give_back
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
