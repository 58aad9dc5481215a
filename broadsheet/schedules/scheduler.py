"""The loop a ``scheduler`` process (or embedded ``serve``) runs every tick."""

from __future__ import annotations

import logging
import threading

from broadsheet.deliveries import notices
from broadsheet.deliveries import service as deliveries
from broadsheet.deliveries.channels import Channels
from broadsheet.jobs.executors import Executor
from broadsheet.runtime import Runtime
from broadsheet.schedules import executions, ticker

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, runtime: Runtime, executor: Executor) -> None:
        self.runtime = runtime
        self.executor = executor
        self.channels = Channels(runtime.settings)  # SMTP, Slack, HTTP and S3 clients, kept
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="broadsheet-scheduler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()

    def run(self) -> None:
        """Tick until stopped (in the foreground for ``broadsheet scheduler``)."""
        while not self.stopping.is_set():
            self.run_once()
            self.stopping.wait(self.runtime.settings.scheduler_tick_seconds)

    def run_once(self) -> None:
        """Fire due schedules, see executions through, then deliver and tell owners."""
        for step in (ticker.tick, executions.advance):
            try:
                for job_id, priority in step(self.runtime):
                    self.executor.dispatch(job_id, priority)
            except Exception:
                log.exception("scheduler step %s failed; trying again next tick", step.__name__)
        for send in (deliveries.advance, notices.advance):
            try:
                send(self.runtime, channels=self.channels)
            except Exception:
                log.exception("scheduler step %s failed; trying again next tick", send.__module__)
