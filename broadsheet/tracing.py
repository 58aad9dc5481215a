"""Traces with OpenTelemetry: one trace from a request or a scheduled fire, through the queue,
to the query, the export and each delivery.

Off unless ``BROADSHEET_OTEL_ENDPOINT`` names an OTLP/HTTP collector: then :func:`setup` (run by
``serve``'s app factory, ``worker`` and ``scheduler``) instruments FastAPI, SQLAlchemy, httpx2
and Celery and exports in batches. Off, nothing is instrumented and :func:`span` is an empty
``with``: no cost beyond a call.

How the context crosses what is not a call:

- Celery carries it in the task's headers (the Celery instrumentation);
- the local executor keeps it beside the job id until a thread takes the job
  (:func:`handing`, :func:`handed`);
- an execution keeps its fire's (or run-now request's) context in its ``details``
  (:func:`stored`, :func:`resumed`), so the export and the deliveries, made by whichever
  scheduler gets to them ticks later, join the trace of the fire.

Span attributes name ids, formats and channels; never a secret, a parameter value or a URL's
path or query (webhook URLs carry their secret there).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from broadsheet import __version__
from broadsheet.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

P = ParamSpec("P")
R = TypeVar("R")
Context = otel_context.Context
TRACE_KEY = "trace"  # where an execution's details keep its trace context
HANDOFF_MAX = 10_000  # contexts waiting for their job to be taken, at most (oldest dropped)
# Paths whose last segment is a signed token (artifact links, unsubscribe, embeds): the
# token is a credential, so a span shows the route, not it.
_TOKEN_PATHS = ("/artifacts/", "/unsubscribe/", "/embed/dashboards/")
_EXCLUDED_URLS = "/healthz,/readyz,/metrics,/static/"


class _RootSampler(Sampler):
    """Which root spans start a trace (their children follow them: ParentBased).

    - A query or an HTTP call with no operation around it: never. Background loops (the job
      poller, heartbeats, scheduler ticks with nothing due) run queries every second; as
      traces of their own they would bury the ones that matter.
    - A request: ``ratio`` of them, by trace id. Every request traced costs a busy server
      about a third of its speed in spans to make and send (bench/load.py).
    - Anything else (a scheduled fire, a job, a delivery round): always; there are few.
    """

    def __init__(self, ratio: float) -> None:
        self._requests = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        chooser = self._requests if kind is SpanKind.SERVER else ALWAYS_ON
        return chooser.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RootSampler(requests: {self._requests.get_description()})"


@dataclass
class _State:
    provider: TracerProvider | None = None
    tracer: trace.Tracer = field(default_factory=trace.NoOpTracer)
    undo: list[Callable[[], None]] = field(default_factory=list)
    handoff: OrderedDict[uuid.UUID, Context] = field(default_factory=OrderedDict)


_state = _State()
_lock = threading.Lock()


def setup(settings: Settings, service_name: str, *, exporter: SpanExporter | None = None) -> bool:
    """Trace this process if ``BROADSHEET_OTEL_ENDPOINT`` is set (or ``exporter`` is given,
    sent each span as it ends). Idempotent: the first call decides. Returns whether on."""
    with _lock:
        if _state.provider is not None:
            return True
        if exporter is not None:
            processor: Any = SimpleSpanProcessor(exporter)
        elif settings.otel_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(settings)))
        else:
            return False
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": service_name, "service.version": __version__}
            ),
            sampler=ParentBased(root=_RootSampler(settings.otel_sample_ratio)),
        )
        provider.add_span_processor(processor)
        _state.provider = provider
        _state.tracer = provider.get_tracer("broadsheet", __version__)
        _state.undo = _instrument_libraries(provider)
        return True


def traces_url(settings: Settings) -> str:
    """The collector's OTLP/HTTP traces URL: ``/v1/traces`` added to a bare endpoint."""
    endpoint = settings.otel_endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def _instrument_libraries(provider: TracerProvider) -> list[Callable[[], None]]:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    undo: list[Callable[[], None]] = []
    for instrumentor, options in (
        # Its declared range stops before SQLAlchemy 2.1, whose engine events it uses unchanged.
        (SQLAlchemyInstrumentor(), {"skip_dep_check": True}),
        (HTTPX2ClientInstrumentor(), {"request_hook": _hide_client_url}),
        (CeleryInstrumentor(), {}),  # type: ignore[no-untyped-call]
    ):
        instrumentor.instrument(tracer_provider=provider, **options)
        undo.append(instrumentor.uninstrument)
    return undo


def shutdown() -> None:
    """Flush and stop tracing, and take the instrumentation out (tests turn it off again)."""
    with _lock:
        provider, undo = _state.provider, _state.undo
        _state.provider, _state.tracer, _state.undo = None, trace.NoOpTracer(), []
        _state.handoff.clear()
    for step in undo:
        step()
    if provider is not None:
        provider.shutdown()


def active() -> bool:
    return _state.provider is not None


def instrument_app(app: FastAPI) -> None:
    """Server spans for the app's requests (not health checks, metrics or static files)."""
    if _state.provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_state.provider,
        excluded_urls=_EXCLUDED_URLS,
        server_request_hook=_hide_server_path,
        exclude_spans=["receive", "send"],
    )


def _hide_server_path(span: trace.Span, scope: Mapping[str, Any]) -> None:
    """A signed token in the path is a credential: the span keeps the path without it."""
    path = str(scope.get("path", ""))
    if not span.is_recording() or not any(p in path for p in _TOKEN_PATHS):
        return
    hidden = hide_tokens(path)
    for name in ("http.target", "url.path"):
        span.set_attribute(name, hidden)
    for name in ("http.url", "url.full"):
        span.set_attribute(name, hidden)


def hide_tokens(path: str) -> str:
    for prefix in _TOKEN_PATHS:
        head, found, _ = path.partition(prefix)
        if found:
            return f"{head}{prefix}***"
    return path


def _hide_client_url(span: trace.Span, request: Any) -> None:
    """Outbound URLs (webhooks, Slack and Teams hooks) carry their secret in the path or query:
    the span names the scheme, host and port only."""
    if not span.is_recording():
        return
    url = urlsplit(str(request.url))
    shown = urlunsplit((url.scheme, url.netloc.rpartition("@")[2], "/", "", ""))
    for name in ("http.url", "url.full"):
        span.set_attribute(name, shown)


def _attributes(values: Mapping[str, object]) -> dict[str, str | int | float | bool]:
    shown: dict[str, str | int | float | bool] = {}
    for name, value in values.items():
        if value is None:
            continue
        key = name if "." in name else f"broadsheet.{name}"
        shown[key] = value if isinstance(value, str | int | float | bool) else str(value)
    return shown


@contextmanager
def _span(name: str, parent: Context | None, values: Mapping[str, object]) -> Iterator[None]:
    with _state.tracer.start_as_current_span(name, context=parent, attributes=_attributes(values)):
        yield


def span(
    name: str, *, parent: Context | None = None, **values: object
) -> AbstractContextManager[None]:
    """``with span("job.query", dataset=...)``: a span, current inside (under ``parent`` if
    given); ``values`` become ``broadsheet.*`` attributes. Tracing off: nothing at all."""
    if _state.provider is None:
        return nullcontext()
    return _span(name, parent, values)


def annotate(**values: object) -> None:
    """More attributes on the current span (what became known inside it)."""
    if _state.provider is not None:
        trace.get_current_span().set_attributes(_attributes(values))


def current() -> Context | None:
    """This moment's context, to carry somewhere else (None when tracing is off)."""
    return otel_context.get_current() if _state.provider is not None else None


def stored(details: Mapping[str, Any] | None) -> Context | None:
    """The context an execution's ``details`` keep (its fire's), if any."""
    carrier = (details or {}).get(TRACE_KEY)
    if _state.provider is None or not isinstance(carrier, dict):
        return None
    return extract(carrier)


def carrier(context: Context | None = None) -> dict[str, str]:
    """``context`` (default: the current one) as W3C ``traceparent`` headers, to store."""
    headers: dict[str, str] = {}
    if _state.provider is not None:
        inject(headers, context=context)
    return headers


def remembered() -> dict[str, Any]:
    """What an execution's ``details`` keep of the current trace, to go on with it later."""
    return {TRACE_KEY: carrier()} if _state.provider is not None else {}


@contextmanager
def resumed(context: Context | None) -> Iterator[None]:
    """Run the block in ``context`` (as if called from where it was taken)."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def within(context: Context | None, function: Callable[P, R]) -> Callable[P, R]:
    """``function``, to be run in ``context`` (by a thread that does not have it)."""
    if context is None:
        return function

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with resumed(context):
            return function(*args, **kwargs)

    return run


def handing(job_id: uuid.UUID, context: Context | None) -> None:
    """Keep ``context`` for whoever dispatches or runs ``job_id`` in this process next."""
    if context is None:
        return
    with _lock:
        _state.handoff[job_id] = context
        while len(_state.handoff) > HANDOFF_MAX:
            _state.handoff.popitem(last=False)


def handed(job_id: uuid.UUID) -> Context | None:
    """The context kept for ``job_id`` (once), if any."""
    if _state.provider is None:
        return None
    with _lock:
        return _state.handoff.pop(job_id, None)


class FireSpans:
    """The ``schedule.fire`` spans of a tick's fires: each the root of its execution's trace.

    A fire's span covers the moment it was recorded; its context goes into the execution's
    ``details`` (for the export and the deliveries) and to the dispatch of its job.
    """

    def __init__(self) -> None:
        self.spans: dict[uuid.UUID, trace.Span] = {}

    def start(self, schedule_id: uuid.UUID, **values: object) -> dict[str, Any]:
        """The fire's span started; returns what its execution's ``details`` keep of it."""
        if _state.provider is None:
            return {}
        fire = _state.tracer.start_span(
            "schedule.fire",
            context=Context(),  # a root: not part of the tick that found it due
            kind=SpanKind.PRODUCER,
            attributes=_attributes({"schedule_id": schedule_id, **values}),
        )
        self.spans[schedule_id] = fire
        return {TRACE_KEY: carrier(trace.set_span_in_context(fire, Context()))}

    def end(self, recorded: Mapping[uuid.UUID, uuid.UUID | None]) -> None:
        """End the spans; a recorded fire's job gets its context. ``recorded``: schedule id →
        job id of the fires this tick recorded (another scheduler recorded the rest)."""
        for schedule_id, fire in self.spans.items():
            if schedule_id not in recorded:
                fire.set_attribute("broadsheet.duplicate", True)
            elif (job_id := recorded[schedule_id]) is not None:
                handing(job_id, trace.set_span_in_context(fire, Context()))
            fire.end()
