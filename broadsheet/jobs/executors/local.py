"""The embedded executor: a bounded pool of threads inside ``serve``.

The database is the queue: a poller takes queued jobs (on-demand before scheduled, oldest
first, none of a tenant past ``BROADSHEET_TENANT_MAX_RUNNING_JOBS``) whenever a thread is
free, so jobs a stopped process left queued run on the next start. ``dispatch`` only wakes
the poller.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from broadsheet import tracing
from broadsheet.db import session_scope
from broadsheet.jobs import tenant_slots
from broadsheet.jobs.runner import run_job, stop_all_runs
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class LocalExecutor:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.workers = runtime.settings.local_workers
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="broadsheet-job")
        self.running: set[uuid.UUID] = set()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="broadsheet-poller", daemon=True)

    def dispatch(self, job_id: uuid.UUID, priority: str) -> None:
        # The thread that runs the job continues the dispatcher's trace (request or fire).
        tracing.handing(job_id, tracing.current())
        self.wake.set()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join()
        # Running jobs are interrupted and go back to the queue; ones not started stay
        # queued in the database. The next start (or another process) runs them.
        stop_all_runs()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self._fill()
            except Exception:
                log.exception("job poller iteration failed; retrying")
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()

    def _fill(self) -> None:
        with self.lock:
            free = self.workers - len(self.running)
            busy = set(self.running)
        if free <= 0:
            return
        cap = self.runtime.settings.tenant_max_running_jobs
        with session_scope(self.runtime.sessions) as session:
            ids = tenant_slots.startable(session, cap, free, busy)
        for job_id in ids:
            with self.lock:
                self.running.add(job_id)
            run = tracing.within(tracing.handed(job_id), run_job)
            future = self.pool.submit(run, job_id, self.runtime)
            future.add_done_callback(partial(self._done, job_id))

    def _done(self, job_id: uuid.UUID, future: Future[str | None]) -> None:
        with self.lock:
            self.running.discard(job_id)
        if not future.cancelled() and future.exception() is not None:
            log.error("job %s crashed its thread", job_id, exc_info=future.exception())
        self.wake.set()
