"""The metric objects. Labels are route templates, statuses and kinds, never ids: each label
value comes from a small, fixed set, so the number of series stays bounded."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Our own registry, not the client's global one: a scrape shows Broadsheet's metrics only,
# the same whether one process answers or several (multiprocess mode has no process metrics).
REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "broadsheet_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "broadsheet_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    registry=REGISTRY,
)
JOBS = Counter(
    "broadsheet_jobs",
    "Jobs that ended, by final status, executor (local, celery; cache for a cached result) "
    "and trigger (api, dashboard, schedule).",
    ["status", "executor", "trigger"],
    registry=REGISTRY,
)
JOB_PHASE = Histogram(
    "broadsheet_job_phase_seconds",
    "Time spent in one phase of making a report: query (reading from the source), store "
    "(writing Parquet), render (charts) or export (a file in a format).",
    ["phase"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
FIRE_LAG = Histogram(
    "broadsheet_fire_lag_seconds",
    "How late a scheduled fire started: the tick that fired it minus its scheduled instant "
    "(run-now excluded).",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
SCHEDULER_TICK = Histogram(
    "broadsheet_scheduler_tick_seconds",
    "Time one scheduler tick took (fire due schedules, advance executions, deliver, notify).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "broadsheet_deliveries",
    "Delivery attempts recorded, by channel and outcome (sent, retrying, failed).",
    ["channel", "status"],
    registry=REGISTRY,
)
