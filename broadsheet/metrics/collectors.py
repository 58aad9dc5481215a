"""What one scrape shows: the processes' counters and histograms, and gauges read from the
metadata database at scrape time.

The gauges are worked out by the process that answers the scrape (a custom collector), not
kept in each process: with several ``serve`` processes they would otherwise be summed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.metrics.multiprocess import ENV
from broadsheet.metrics.registry import REGISTRY

log = logging.getLogger(__name__)


class DatabaseGauges:
    """``broadsheet_jobs_waiting`` and ``broadsheet_stored_bytes``, read when scraped."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        try:
            waiting, stored = self._read()
        except Exception:  # the database is down: the rest of the scrape still answers
            log.warning("metrics: reading gauges from the database failed", exc_info=True)
            return
        yield GaugeMetricFamily(
            "broadsheet_jobs_waiting", "Jobs queued and not yet started.", value=waiting
        )
        yield GaugeMetricFamily(
            "broadsheet_stored_bytes",
            "Bytes of stored results and artifacts the metadata database knows the size of.",
            value=stored,
        )

    def _read(self) -> tuple[int, int]:
        job, result, execution = models.ReportJob, models.ReportResult, models.ReportExecution
        with self.sessions() as session:
            waiting = session.scalar(
                select(func.count()).select_from(job).where(job.status == models.JobStatus.queued)
            )
            results = session.scalar(select(func.sum(result.data["sizeBytes"].as_integer())))
            artifacts = session.scalar(select(func.sum(execution.file_size)))
        return int(waiting or 0), int(results or 0) + int(artifacts or 0)


class Scrape:
    """Everything one scrape shows, for ``prometheus_client.generate_latest``: the values of
    every process of this server when it runs several (multiprocess mode), else this one's."""

    def __init__(self, sessions: sessionmaker[Session] | None) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        path = os.environ.get(ENV)
        if path:
            summed = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]
            yield from summed.collect()  # type: ignore[no-untyped-call]
        else:
            yield from REGISTRY.collect()
        if self.sessions is not None:
            yield from DatabaseGauges(self.sessions).collect()
