"""The background loop every serving process runs: recover jobs lost with their process,
re-dispatch queued jobs nobody took, delete expired results and old events; hourly, delete
audit entries past their retention, result folders no row points at and local files nobody
needs (scratch files, stale cached copies)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from broadsheet.audit import retention as audit_retention
from broadsheet.events import retention as event_retention
from broadsheet.jobs import recovery
from broadsheet.jobs.executors import Executor
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime

log = logging.getLogger(__name__)
TIDY_SECONDS = 3600  # the orphan and local-file sweeps; local files go after a day unused


class Maintenance:
    def __init__(self, runtime: Runtime, executor: Executor) -> None:
        self.runtime = runtime
        self.executor = executor
        self.stopping = threading.Event()
        self._next_tidy = 0.0  # the first round tidies
        self._next_audit_expiry = 0.0  # and expires old audit entries
        self.thread = threading.Thread(
            target=self._loop, name="broadsheet-maintenance", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def run_once(self) -> None:
        """Each step on its own: a broker that is down must not stop the retention sweep."""
        steps = (self._recover, self._redispatch, self._sweep, self._forget_events,
                 self._expire_audit)  # fmt: skip
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("maintenance step %s failed; trying again next round", step.__name__)

    def _recover(self) -> None:
        recovery.fail_overdue(self.runtime)
        for job_id, priority in recovery.recover_stale(self.runtime):
            self.executor.dispatch(job_id, priority)

    def _redispatch(self) -> None:
        # A dispatch can be lost between commit and broker (a crash in between); waiting
        # several stale periods keeps this from duplicating messages for a merely long queue.
        waited = self.runtime.settings.job_stale_after_seconds * 5
        for job_id, priority in recovery.queued_waiting(self.runtime, waited):
            self.executor.dispatch(job_id, priority)

    def _sweep(self) -> None:
        recovery.sweep_expired_results(self.runtime)
        # Listing every result folder (a bucket listing on S3) is not worth doing each round.
        if time.monotonic() >= self._next_tidy:
            self._next_tidy = time.monotonic() + TIDY_SECONDS
            recovery.sweep_orphan_files(self.runtime)
            self.runtime.storage.tidy(utc_now() - timedelta(seconds=TIDY_SECONDS * 24))

    def _forget_events(self) -> None:
        event_retention.sweep(self.runtime)

    def _expire_audit(self) -> None:
        # Entries live for days: looking once an hour is enough, and spares the scan.
        if time.monotonic() >= self._next_audit_expiry:
            self._next_audit_expiry = time.monotonic() + TIDY_SECONDS
            audit_retention.sweep(self.runtime)

    def _loop(self) -> None:
        while not self.stopping.wait(self.runtime.settings.maintenance_seconds):
            self.run_once()
