"""Traces (``broadsheet.tracing``): one scheduled execution, fired by the scheduler, run by a
real Celery worker on Redis, exported and delivered, is one trace with its parents right."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models, tracing
from broadsheet.config import Settings
from broadsheet.db import make_engine
from broadsheet.jobs.executors.celery_executor import QUEUES, CeleryExecutor
from broadsheet.kit.time import utc_now
from broadsheet.runtime import Runtime
from broadsheet.schedules.scheduler import Scheduler
from tests.factories import Tenancy
from tests.jobs.test_celery import celery_settings  # noqa: F401
from tests.schedules.test_ticker import create, set_next_run


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, each ended span kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    assert tracing.setup(Settings(), "broadsheet-test", exporter=exporter)
    yield exporter
    tracing.shutdown()


def _one(spans: list[ReadableSpan], name: str, **attributes: object) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name == name
        and all((s.attributes or {}).get(f"broadsheet.{k}") == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def _delivered(sessions: sessionmaker[Session], schedule_id: str) -> models.ReportExecution | None:
    with sessions() as session:
        execution = session.scalar(
            select(models.ReportExecution).where(
                models.ReportExecution.schedule_id == uuid.UUID(schedule_id)
            )
        )
        if execution is None or execution.status != "completed":
            return None
        states = session.scalars(
            select(models.ReportDelivery.status).where(
                models.ReportDelivery.execution_id == execution.id
            )
        ).all()
        return execution if states and all(s == "sent" for s in states) else None


def test_a_scheduled_execution_is_one_trace_from_fire_to_delivery(
    spans: InMemorySpanExporter,
    client: TestClient,
    tenancy: Tenancy,
    sessions: sessionmaker[Session],
    celery_settings: Settings,  # noqa: F811
) -> None:
    tenancy.demo("acme")
    admin = tenancy.key("acme")
    schedule = create(client, admin, recipients=[{"type": "email", "address": "ann@example.com"}])
    set_next_run(sessions, schedule["id"], utc_now() - timedelta(seconds=1))
    # Engines made now, with tracing on: the scheduler's, and the worker's (on first task).
    engine = make_engine(celery_settings.resolved_database_url)
    runtime = Runtime.build(celery_settings, engine)
    executor = CeleryExecutor(runtime)
    scheduler = Scheduler(runtime, executor)
    try:
        with start_worker(
            executor.app,  # the worker runs in this process: its spans reach the exporter
            pool="threads",
            concurrency=1,
            perform_ping_check=False,
            queues=list(QUEUES.values()),
            shutdown_timeout=30,
        ):
            deadline = time.monotonic() + 60
            while (execution := _delivered(sessions, schedule["id"])) is None:
                assert time.monotonic() < deadline, "the execution was not delivered in time"
                scheduler.run_once()
                time.sleep(0.1)
    finally:
        engine.dispose()
    ended = list(spans.get_finished_spans())
    fire = _one(ended, "schedule.fire", execution_id=str(execution.id))
    trace_id = fire.context.trace_id
    assert fire.parent is None
    mine = [s for s in ended if s.context.trace_id == trace_id]
    publish = _one(mine, "apply_async/jobs.generate")
    consume = _one(mine, "run/jobs.generate")
    run = _one(mine, "job.run", job_id=str(execution.job_id))
    query = _one(mine, "job.query", dataset="main")
    export = _one(mine, "execution.export", format="csv")
    delivery = _one(mine, "delivery.send", channel="email")
    assert publish.kind is SpanKind.PRODUCER and consume.kind is SpanKind.CONSUMER
    assert _parent(publish) == fire.context.span_id
    assert _parent(consume) == publish.context.span_id
    assert _parent(run) == consume.context.span_id
    assert _parent(query) == run.context.span_id
    assert _parent(export) == fire.context.span_id
    assert _parent(delivery) == fire.context.span_id
    # The source query itself, a SQL span under the query phase.
    assert any(s.kind is SpanKind.CLIENT and _parent(s) == query.context.span_id for s in mine)
    assert (delivery.attributes or {})["broadsheet.outcome"] == "sent"
    # No secret and no parameter value in any attribute.
    shown = repr([dict(s.attributes or {}) for s in ended])
    assert admin.key not in shown and "test-secret-key" not in shown


def test_off_by_default_and_setup_is_idempotent(settings: Settings) -> None:
    assert not tracing.active()
    assert tracing.setup(settings, "broadsheet-test") is False  # no endpoint: no tracing
    with tracing.span("nothing", job_id=uuid.uuid4()):
        assert tracing.current() is None and tracing.remembered() == {}
    exporter = InMemorySpanExporter()
    try:
        assert tracing.setup(settings, "broadsheet-test", exporter=exporter)
        assert tracing.setup(settings, "broadsheet-test", exporter=InMemorySpanExporter())
        with tracing.span("once"):
            pass
        assert [s.name for s in exporter.get_finished_spans()] == ["once"]
    finally:
        tracing.shutdown()
    assert not tracing.active()


def test_the_collector_url_gets_the_traces_path() -> None:
    given = Settings(otel_endpoint="http://collector:4318/")
    assert tracing.traces_url(given) == "http://collector:4318/v1/traces"
    given = Settings(otel_endpoint="http://collector:4318/v1/traces")
    assert tracing.traces_url(given) == "http://collector:4318/v1/traces"


def test_signed_tokens_and_webhook_paths_stay_out_of_spans() -> None:
    assert tracing.hide_tokens("/api/v1/artifacts/eyJhbGciOi.abc") == "/api/v1/artifacts/***"
    assert tracing.hide_tokens("/embed/dashboards/tok/data") == "/embed/dashboards/***"
    assert tracing.hide_tokens("/api/v1/reports") == "/api/v1/reports"


def test_requests_are_sampled_by_the_ratio_and_fires_always() -> None:
    """A request starts a trace at the configured ratio (by trace id); a fire or a job
    always does; a lone query or HTTP call never does."""
    from opentelemetry.sdk.trace.sampling import Decision
    from opentelemetry.trace import SpanKind

    def decision(ratio: float, kind: SpanKind, trace_id: int) -> Decision:
        return tracing._RootSampler(ratio).should_sample(None, trace_id, "x", kind).decision

    ids = range(1, 2**64, 2**54)  # spread over the ratio sampler's 64 bits
    for trace_id in ids:
        assert decision(1.0, SpanKind.SERVER, trace_id) is Decision.RECORD_AND_SAMPLE
        assert decision(0.0, SpanKind.SERVER, trace_id) is Decision.DROP
        assert decision(0.0, SpanKind.INTERNAL, trace_id) is Decision.RECORD_AND_SAMPLE
        assert decision(1.0, SpanKind.CLIENT, trace_id) is Decision.DROP
    tenth = [decision(0.1, SpanKind.SERVER, t) is Decision.RECORD_AND_SAMPLE for t in ids]
    assert 0 < sum(tenth) < len(tenth)
