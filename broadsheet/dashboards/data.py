"""A dashboard with its widgets' data: which result each widget shows, and which jobs a read
queues.

A widget that reads a report is fed by a *feed*: the report at its current version with the
parameters the widget resolves to now (its own values, the dashboard's filters in place of
the parameters they target, templates evaluated in the dashboard's zone). The feed's key is
the job cache key of (version, parameters), so results made by a generate call or a schedule
with the same values feed the widget too.

- A result younger than the widget's refresh interval is served as it is (``ready``).
- Otherwise the read queues a generate job, marked ``trigger=dashboard``, and answers at once
  with the previous result (``refreshing``) or none (``pending``). Single flight: a feed with
  a job queued or running gets no second one, and a partial unique index on ``report_jobs``
  settles two readers racing to queue the same one.
- A job that failed is shown (``failed``, with its error) for one refresh interval before a
  read tries again, so a broken report is not run on every read.

:meth:`DashboardData.prepare` plans a read and queues its jobs in the caller's transaction;
:meth:`hand_over` commits and dispatches them; :meth:`assemble` builds the document from what
is stored then. :meth:`document` does the three, waiting for the jobs in between when asked.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import anyio.to_thread
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from broadsheet import models
from broadsheet.dashboards import filters, markdown
from broadsheet.dashboards.schemas import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_REFRESH_SECONDS,
    DashboardDocument,
    WidgetStatus,
    WidgetType,
)
from broadsheet.dashboards.service import definition_fields
from broadsheet.db import done_with_database
from broadsheet.jobs.executors import Executor
from broadsheet.jobs.service import job_fields
from broadsheet.kit.jsonvalues import jsonable
from broadsheet.kit.time import utc_now
from broadsheet.models import JobStatus, JobTrigger
from broadsheet.reports import parameters
from broadsheet.reports.schemas import MAIN_DATASET
from broadsheet.results import parquet
from broadsheet.runtime import Runtime

IN_FLIGHT = (JobStatus.queued, JobStatus.processing)
POLL_SECONDS = 0.2
ChartUrl = Callable[[uuid.UUID, str], str]


class WidgetError(Exception):
    """This widget's data cannot be shown; the message says why."""


@dataclass
class Feed:
    """One (report, parameters) some widgets read, and what is stored for it."""

    report: models.ReportDefinition
    values: dict[str, Any]
    key: str
    interval: int  # the shortest refresh interval of the widgets it feeds
    result: models.ReportResult | None = None
    previous: models.ReportResult | None = None
    job: models.ReportJob | None = None  # the newest job of the feed

    def age(self, now: datetime) -> float | None:
        return None if self.result is None else (now - self.result.created_at).total_seconds()

    @property
    def in_flight(self) -> bool:
        return self.job is not None and self.job.status in IN_FLIGHT

    def failed_recently(self, now: datetime, interval: int) -> bool:
        """Its newest job failed after the newest result, less than ``interval`` ago."""
        job = self.job
        if job is None or job.status not in (JobStatus.failed, JobStatus.cancelled):
            return False
        ended = job.completed_at or job.created_at
        newer = self.result is None or ended >= self.result.created_at
        return newer and (now - ended).total_seconds() < interval


@dataclass
class Slot:
    """One widget of the read: its feed, or why it has none."""

    widget: dict[str, Any]
    interval: int
    feed: Feed | None = None
    error: str | None = None
    unavailable: str | None = None


@dataclass
class Reading:
    """A planned read: the filter values used, each widget's slot, the jobs it queued."""

    dashboard: models.Dashboard
    filters: dict[str, Any]
    slots: list[Slot]
    feeds: list[Feed]
    queued: list[models.ReportJob] = field(default_factory=list)
    waited: bool = False  # for its jobs: what is stored may have changed since it was planned

    @property
    def waiting_on(self) -> list[uuid.UUID]:
        return [f.job.id for f in self.feeds if f.in_flight and f.job is not None]


class DashboardData:
    def __init__(self, session: Session, runtime: Runtime, executor: Executor | None) -> None:
        self.session = session
        self.runtime = runtime
        self.executor = executor

    # --- the whole read --------------------------------------------------------------------

    def document(
        self,
        row: models.Dashboard,
        raw_filters: Mapping[str, str],
        *,
        locked: Mapping[str, Any] | None = None,
        wait: float = 0.0,
        requested_by: uuid.UUID | None = None,
        trigger: JobTrigger = JobTrigger.dashboard,
        chart_url: ChartUrl | None = None,
        reference: datetime | None = None,
    ) -> DashboardDocument:
        """The dashboard with its widgets' data, waiting up to ``wait`` seconds for the jobs
        it needs. It commits the session (the jobs it queued with the session's other
        writes) and dispatches the jobs before it waits."""
        reading = self.prepare(
            row,
            raw_filters,
            locked=locked,
            requested_by=requested_by,
            trigger=trigger,
            reference=reference,
        )
        self.hand_over(reading)
        deadline = time.monotonic() + wait
        reading.waited = wait > 0 and bool(reading.waiting_on)
        while reading.waiting_on and time.monotonic() < deadline:
            if self.settled(reading.waiting_on):
                break
            time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
        return self.assemble(reading, chart_url)

    # --- its steps -------------------------------------------------------------------------

    def prepare(
        self,
        row: models.Dashboard,
        raw_filters: Mapping[str, str],
        *,
        locked: Mapping[str, Any] | None = None,
        requested_by: uuid.UUID | None = None,
        trigger: JobTrigger = JobTrigger.dashboard,
        force: bool = False,
        reference: datetime | None = None,
        only: Collection[str] | None = None,
    ) -> Reading:
        """Plan a read of ``row`` and queue the jobs it needs (``force``: one per feed,
        fresh or not) in the session's transaction. Templates are evaluated at
        ``reference`` (a schedule's fire instant, so a retry makes the same PDF), else now.
        ``only``: the ids of the widgets to read (a page refreshing one widget), else all.
        Raises 422 naming ``p.<name>`` for a bad filter value, 403 for one ``locked``
        fixes."""
        now = utc_now()
        instant = reference or now
        zone = ZoneInfo(row.timezone)
        definitions = row.parameters or []
        given = {**filters.parse(definitions, raw_filters, locked=locked), **(locked or {})}
        values = filters.in_use(definitions, given, instant, zone)
        reading = Reading(row, values, [], [])
        reports = self._reports(row)
        feeds: dict[tuple[uuid.UUID, str], Feed] = {}
        for widget in row.widgets or []:
            if only is not None and widget["id"] not in only:
                continue
            slot = self._slot(row, widget, values, reports, instant, zone)
            if slot.feed is not None:
                key = (slot.feed.report.id, slot.feed.key)
                feed = feeds.setdefault(key, slot.feed)
                feed.interval = min(feed.interval, slot.interval)
                slot.feed = feed
            reading.slots.append(slot)
        reading.feeds = list(feeds.values())
        for feed in reading.feeds:
            self._load(feed)
            age = feed.age(now)
            stale = age is None or age >= feed.interval
            wanted = force or (stale and not feed.failed_recently(now, feed.interval))
            if wanted and not feed.in_flight:
                job = self._queue(feed, requested_by or row.created_by, trigger)
                if job is not None and job.status == JobStatus.queued:
                    reading.queued.append(job)
                feed.job = job or feed.job
        return reading

    def hand_over(self, reading: Reading) -> None:
        """Commit the jobs the read queued and hand them to the executor (a worker must never
        be sent a job that is not in the database yet); then give the connection back."""
        # Committed even when nothing was queued: a read's access count holds a row lock,
        # which must not be kept while the widgets' rows are read.
        self.session.commit()
        if self.executor is not None:
            for job in reading.queued:
                self.executor.dispatch(job.id, job.priority)
        reading.queued = []
        done_with_database(self.session)

    async def settle(self, reading: Reading, wait: float) -> None:
        """Wait up to ``wait`` seconds, on the event loop, for the jobs the read waits on;
        each check takes a request thread only for its query."""
        ids = reading.waiting_on
        reading.waited = wait > 0 and bool(ids)
        deadline = anyio.current_time() + wait
        while ids and anyio.current_time() < deadline:
            if await anyio.to_thread.run_sync(self.settled, ids):
                return
            await anyio.sleep(min(POLL_SECONDS, max(deadline - anyio.current_time(), 0)))

    def settled(self, job_ids: Sequence[uuid.UUID]) -> bool:
        """None of these jobs is queued or running any more."""
        with self.runtime.sessions() as session:
            busy = session.scalar(
                select(models.ReportJob.id)
                .where(models.ReportJob.id.in_(job_ids), models.ReportJob.status.in_(IN_FLIGHT))
                .limit(1)
            )
        return busy is None

    def assemble(self, reading: Reading, chart_url: ChartUrl | None = None) -> DashboardDocument:
        """The document of the read: as it was planned, or after a wait, with what its jobs
        made (a read that did not wait answers what it found, its new jobs pending)."""
        now = utc_now()
        for feed in reading.feeds:
            if reading.waited and feed.in_flight:  # only a running job's feed can have changed
                self._load(feed)
        url = chart_url or self._api_chart_url
        widgets = [
            {"options": {}, **slot.widget, "data": self._data(slot, now, url)}
            for slot in reading.slots
        ]
        ready = [
            w["data"]["generatedAt"]
            for w in widgets
            if w["data"]["status"] == WidgetStatus.ready and w["data"]["generatedAt"] is not None
        ]
        row = reading.dashboard
        done_with_database(self.session)
        return DashboardDocument.model_validate(
            definition_fields(row)
            | {
                "filters": reading.filters,
                "lastUpdated": min(ready) if ready else now,
                "widgets": widgets,
            }
        )

    # --- planning ----------------------------------------------------------------------------

    def _reports(self, row: models.Dashboard) -> dict[uuid.UUID, models.ReportDefinition]:
        ids = {
            uuid.UUID(str(w["source"]["reportId"]))
            for w in row.widgets or []
            if w.get("source", {}).get("reportId")
        }
        if not ids:
            return {}
        found = self.session.scalars(
            select(models.ReportDefinition).where(
                models.ReportDefinition.id.in_(ids),
                models.ReportDefinition.tenant_id == row.tenant_id,
            )
        )
        return {r.id: r for r in found}

    @staticmethod
    def _slot(
        row: models.Dashboard,
        widget: dict[str, Any],
        values: dict[str, Any],
        reports: dict[uuid.UUID, models.ReportDefinition],
        now: datetime,
        zone: ZoneInfo,
    ) -> Slot:
        options = widget.get("options") or {}
        interval = int(
            options.get("refreshInterval") or row.refresh_interval or DEFAULT_REFRESH_SECONDS
        )
        slot = Slot(widget, interval)
        if widget["type"] == WidgetType.text:
            return slot
        source = widget["source"]
        report = reports.get(uuid.UUID(str(source["reportId"])))
        if report is None:
            slot.unavailable = "its report was deleted"
            return slot
        wanted = dict(source.get("parameters") or {})
        for flt in row.parameters or []:
            value = values.get(str(flt["name"]))
            if value is None:
                continue
            for target in flt.get("targets") or []:
                if target["widgetId"] == widget["id"]:
                    wanted[str(target["parameter"])] = value
        try:
            resolved = parameters.resolve_templated(report, wanted, now, zone)
        except parameters.ParameterErrors as exc:
            slot.error = f"report {report.name!r}: {exc}"
            return slot
        key = job_fields(report, resolved, created_by=report.created_by, priority="high")
        slot.feed = Feed(report, resolved, str(key["cache_key"]), interval)
        return slot

    def _load(self, feed: Feed) -> None:
        job, result = models.ReportJob, models.ReportResult
        now = utc_now()
        feed.job = self.session.scalar(
            select(job)
            .where(job.report_id == feed.report.id, job.cache_key == feed.key)
            .order_by(job.created_at.desc(), job.id)
            .limit(1)
            # A job this session queued earlier is in its identity map: read it anew.
            .execution_options(populate_existing=True)
        )
        latest = self.session.scalars(
            select(result)
            # Charts' data is large and wanted only for a chart widget's current result.
            .options(defer(result.visualizations))
            .join(job, job.id == result.job_id)
            .where(
                job.report_id == feed.report.id,
                job.cache_key == feed.key,
                (result.expires_at.is_(None)) | (result.expires_at > now),
            )
            .order_by(result.created_at.desc(), result.id)
            .limit(2)
        ).all()
        feed.result = latest[0] if latest else None
        feed.previous = latest[1] if len(latest) > 1 else None

    def _queue(
        self, feed: Feed, requested_by: uuid.UUID, trigger: JobTrigger
    ) -> models.ReportJob | None:
        """A new job for the feed, or the one another reader queued a moment ago. Someone is
        looking at a dashboard: its jobs go on the on-demand queue, a schedule's on the
        scheduled one."""
        priority = "low" if trigger is JobTrigger.schedule else "high"
        job = models.ReportJob(
            **job_fields(
                feed.report,
                feed.values,
                created_by=requested_by,
                priority=priority,
                trigger=trigger,
            )
        )
        try:
            with self.session.begin_nested():
                self.session.add(job)
                self.session.flush()
        except IntegrityError:  # the single-flight index: another reader's job is in flight
            return self.session.scalar(
                select(models.ReportJob)
                .where(
                    models.ReportJob.report_id == feed.report.id,
                    models.ReportJob.cache_key == feed.key,
                    models.ReportJob.status.in_(IN_FLIGHT),
                )
                .limit(1)
            )
        return job

    # --- a widget's data ---------------------------------------------------------------------

    def _data(self, slot: Slot, now: datetime, chart_url: ChartUrl) -> dict[str, Any]:
        widget, feed = slot.widget, slot.feed
        data: dict[str, Any] = {
            "status": WidgetStatus.ready,
            "error": None,
            "resultId": None,
            "generatedAt": None,
            "parameters": None,
            "jobId": None,
        }
        if widget["type"] == WidgetType.text:
            return data | {"html": markdown.to_html(widget["source"].get("markdown", ""))}
        if slot.unavailable:
            return data | {"status": WidgetStatus.unavailable, "error": slot.unavailable}
        if slot.error or feed is None:
            return data | {"status": WidgetStatus.failed, "error": slot.error}
        data["parameters"] = feed.values
        if feed.in_flight and feed.job is not None:
            data["jobId"] = feed.job.id
        age = feed.age(now)
        if feed.result is None or age is None or age >= slot.interval:
            if feed.failed_recently(now, slot.interval) and feed.job is not None:
                return data | {"status": WidgetStatus.failed, "error": feed.job.error}
            if feed.result is None:
                return data | {"status": WidgetStatus.pending}
            data["status"] = WidgetStatus.refreshing
        data["resultId"] = feed.result.id
        data["generatedAt"] = feed.result.created_at
        try:
            return data | self._content(widget, feed, chart_url)
        except WidgetError as exc:
            return data | {"status": WidgetStatus.failed, "error": str(exc)}

    def _content(self, widget: dict[str, Any], feed: Feed, chart_url: ChartUrl) -> dict[str, Any]:
        assert feed.result is not None
        kind, source = widget["type"], widget["source"]
        if kind == WidgetType.visualization:
            return _visualization(feed.result, str(source["visualizationId"]), chart_url)
        if kind == WidgetType.report:
            size = int((widget.get("options") or {}).get("pageSize") or DEFAULT_PAGE_SIZE)
            columns, total = _main_dataset(feed.result)
            rows = parquet.read_page(self._rows_file(feed.result), 0, size)
            return {"columns": columns, "rows": rows, "totalRows": total, "pageSize": size}
        column, how = str(source["column"]), str(source.get("aggregate") or "first")
        value = _aggregate(self._rows_file(feed.result), column, how)
        previous = None
        if feed.previous is not None:
            try:
                previous = _aggregate(self._rows_file(feed.previous), column, how)
            except WidgetError:  # the earlier result lacks the column or its rows
                previous = None
        change, percent = _change(value, previous)
        return {
            "column": column,
            "aggregate": how,
            "value": jsonable(value),
            "previousValue": jsonable(previous),
            "change": jsonable(change),
            "changePercent": jsonable(percent),
        }

    def _rows_file(self, result: models.ReportResult) -> Any:
        dataset = (result.data or {}).get("mainDataset") or MAIN_DATASET
        path = self.runtime.storage.local_path(f"{result.storage_key}{dataset}.parquet")
        if not path.exists():
            raise WidgetError("the result's rows are no longer stored")
        return path

    def _api_chart_url(self, result_id: uuid.UUID, viz_id: str) -> str:
        base = self.runtime.settings.base_url
        return f"{base}/api/v1/reports/results/{result_id}/visualizations/{viz_id}.svg"


def _visualization(result: models.ReportResult, viz_id: str, chart_url: ChartUrl) -> dict[str, Any]:
    viz = next((v for v in result.visualizations or [] if v.get("id") == viz_id), None)
    if viz is None:
        raise WidgetError(f"the result has no visualization {viz_id!r}")
    if viz.get("error") or "spec" not in (viz.get("data") or {}):
        raise WidgetError(f"the chart could not be built: {viz.get('error') or 'no spec'}")
    return {
        "spec": viz["data"]["spec"],
        "chartData": viz["data"].get("chartData", []),
        "svgUrl": chart_url(result.id, viz_id),
    }


def _main_dataset(result: models.ReportResult) -> tuple[list[dict[str, Any]], int]:
    data = result.data or {}
    info = (data.get("datasets") or {}).get(data.get("mainDataset") or MAIN_DATASET) or {}
    return list(info.get("columns") or []), int(info.get("rowCount") or 0)


NUMERIC_ONLY = ("sum", "avg")


def _aggregate(path: Any, column: str, how: str) -> Any:
    """The metric of ``column`` in a result's rows, as a Python value (None for no rows)."""
    names = pq.read_schema(path).names
    if column not in names:
        listed = ", ".join(names[:20]) or "none"
        raise WidgetError(f"the result has no column {column!r}; it has: {listed}")
    values = pq.read_table(path, columns=[column]).column(0)
    kind = values.type
    if how == "first":
        return values[0].as_py() if len(values) else None
    if how == "count":
        return pc.count(values).as_py()
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    if how in NUMERIC_ONLY and not numeric:
        raise WidgetError(f"{how} needs a numeric column; {column!r} holds {kind}")
    if how == "sum":
        return pc.sum(values).as_py()
    if how == "avg":
        return pc.mean(values).as_py()
    if pa.types.is_nested(kind) or pa.types.is_binary(kind):
        raise WidgetError(f"{how} cannot order {column!r}, which holds {kind}")
    extremes = pc.min_max(values).as_py()
    return extremes["min" if how == "min" else "max"]


def _change(value: Any, previous: Any) -> tuple[Any, Any]:
    """value - previous, and that as a percentage of |previous| (None when undefined)."""
    kinds = (int, float, Decimal)
    if (
        not isinstance(value, kinds)
        or not isinstance(previous, kinds)
        or isinstance(value, bool)
        or isinstance(previous, bool)
    ):
        return None, None
    if isinstance(value, Decimal) != isinstance(previous, Decimal):
        value, previous = float(value), float(previous)
    change = value - previous
    if not previous:
        return change, None
    percent = float(change) / abs(float(previous)) * 100
    return change, percent if math.isfinite(percent) else None
