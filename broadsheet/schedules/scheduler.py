"""The loops a ``scheduler`` process (or embedded ``serve``) runs every tick.

Two threads: one fires schedules, sees executions through, delivers and tells owners; the
other makes dashboards' PDFs (:mod:`.dashboard_runs`), which wait for their widgets' jobs —
on a thread of their own so that wait never holds up a fire.
"""

from __future__ import annotations

import logging
import threading
import time

from broadsheet import tracing
from broadsheet.deliveries import notices
from broadsheet.deliveries import service as deliveries
from broadsheet.deliveries.channels import Channels
from broadsheet.events import dispatch as event_dispatch
from broadsheet.jobs.executors import Executor
from broadsheet.metrics import record as metrics
from broadsheet.runtime import Runtime
from broadsheet.schedules import dashboard_runs, executions, ticker

log = logging.getLogger(__name__)
SWEEP_SECONDS = 3600  # old dashboards' PDFs are looked for hourly
STOP_WAIT_SECONDS = 5.0  # a PDF being made when stopping is left to its lease


class Scheduler:
    def __init__(self, runtime: Runtime, executor: Executor) -> None:
        self.runtime = runtime
        self.executor = executor
        self.channels = Channels(runtime.settings)  # SMTP, Slack, HTTP and S3 clients, kept
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="broadsheet-scheduler", daemon=True)
        self.pdf_thread = threading.Thread(
            target=self._make_pdfs, name="broadsheet-dashboard-pdfs", daemon=True
        )
        self._next_sweep = 0.0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()

    def run(self) -> None:
        """Tick until stopped (in the foreground for ``broadsheet scheduler``)."""
        self.pdf_thread.start()
        try:
            while not self.stopping.is_set():
                self.run_once()
                self.stopping.wait(self.runtime.settings.scheduler_tick_seconds)
        finally:
            self.stopping.set()
            # A PDF still being made is not waited for: its lease runs out and another
            # scheduler (or the next start) tries it again.
            self.pdf_thread.join(STOP_WAIT_SECONDS)

    @metrics.timed_tick()  # one tick: broadsheet_scheduler_tick_seconds
    def run_once(self) -> None:
        """Fire due schedules, see executions through, then deliver, tell owners and push
        events."""
        for step in (ticker.tick, executions.advance):
            try:
                for job_id, priority in step(self.runtime):
                    # In its fire's trace: the queue carries it on to the job's run.
                    with tracing.resumed(tracing.handed(job_id)):
                        self.executor.dispatch(job_id, priority)
            except Exception:
                log.exception("scheduler step %s failed; trying again next tick", step.__name__)
        for send in (deliveries.advance, notices.advance):
            try:
                send(self.runtime, channels=self.channels)
            except Exception:
                log.exception("scheduler step %s failed; trying again next tick", send.__module__)
        try:
            event_dispatch.advance(self.runtime)  # subscriptions' events, after the news
        except Exception:
            log.exception("pushing events failed; trying again next tick")

    def make_pdfs_once(self) -> None:
        """Make the dashboards' PDFs that are due; hourly, delete the old ones."""
        try:
            dashboard_runs.advance(self.runtime, self.executor)
        except Exception:
            log.exception("making dashboards' PDFs failed; trying again next tick")
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            try:
                dashboard_runs.sweep(self.runtime)
            except Exception:
                log.exception("deleting old dashboards' PDFs failed; trying again next hour")

    def _make_pdfs(self) -> None:
        while not self.stopping.is_set():
            self.make_pdfs_once()
            self.stopping.wait(self.runtime.settings.scheduler_tick_seconds)
