"""The scaled-out executor: Celery workers over Redis or RabbitMQ.

Late acknowledgement, reject-on-worker-lost and a prefetch of one mean a task whose worker
dies is delivered again; the job's conditional claim makes the second delivery harmless.
Broadsheet does not wait for the broker's visibility timeout: maintenance in ``serve`` sees
the job's heartbeat stop and dispatches it again within about a minute.
"""

from __future__ import annotations

import threading
import uuid

from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]

from broadsheet.config import Settings
from broadsheet.db import session_scope
from broadsheet.kit.gc import freeze_startup_objects
from broadsheet.runtime import Runtime

QUEUES = {"high": "broadsheet.high", "low": "broadsheet.low"}
TASK = "jobs.generate"


def make_celery(settings: Settings) -> Celery:
    app = Celery("broadsheet", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUES["high"],
        task_queues=[Queue(name) for name in QUEUES.values()],  # type: ignore[no-untyped-call]
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_track_started=False,
    )
    runtime: list[Runtime] = []
    lock = threading.Lock()

    def current_runtime() -> Runtime:
        # Built in the worker process on first use (after any fork), once.
        with lock:
            if not runtime:
                runtime.append(Runtime.build(settings))
                freeze_startup_objects()
            return runtime[0]

    # Not shared: each app (one per make_celery) has its own, so two in a process never clash.
    @app.task(name=TASK, shared=False)  # type: ignore[untyped-decorator]
    def generate(job_id: str) -> None:
        from broadsheet.jobs.runner import run_job

        runtime = current_runtime()
        if run_job(uuid.UUID(job_id), runtime) is None:
            return  # not ours, or its tenant had no free slot: it waits for a run to end
        # This run's slot is free: the tenant's jobs that were refused one are sent again.
        for waiting_id, priority in _waiting(runtime, uuid.UUID(job_id)):
            app.send_task(TASK, args=[str(waiting_id)], queue=QUEUES.get(priority, QUEUES["high"]))

    return app


def _waiting(runtime: Runtime, job_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    from broadsheet.jobs import tenant_slots

    with session_scope(runtime.sessions) as session:
        return tenant_slots.waiting(session, runtime.settings.tenant_max_running_jobs, job_id)


class CeleryExecutor:
    def __init__(self, runtime: Runtime) -> None:
        self.app = make_celery(runtime.settings)

    def dispatch(self, job_id: uuid.UUID, priority: str) -> None:
        self.app.send_task(TASK, args=[str(job_id)], queue=QUEUES.get(priority, QUEUES["high"]))

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
