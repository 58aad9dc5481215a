"""Executors run jobs: ``local`` threads inside serve, or ``celery`` workers.

Both call ``jobs.runner.run_job``; no generation code knows which one runs it.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from broadsheet.config import Executor as ExecutorKind
from broadsheet.runtime import Runtime


class Executor(Protocol):
    def dispatch(self, job_id: uuid.UUID, priority: str) -> None:
        """Hand a committed, queued job over to be run."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def make_executor(runtime: Runtime) -> Executor:
    if runtime.settings.executor is ExecutorKind.celery:
        from broadsheet.jobs.executors.celery_executor import CeleryExecutor

        return CeleryExecutor(runtime)
    from broadsheet.jobs.executors.local import LocalExecutor

    return LocalExecutor(runtime)
