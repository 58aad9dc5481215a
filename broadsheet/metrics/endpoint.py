"""``GET /metrics`` on the API server: the Prometheus text format, behind the metrics token.
Not in ``/openapi.json``: it is for the operator's scraper, not for API clients."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from broadsheet import problems
from broadsheet.errors import NotFound
from broadsheet.metrics import access
from broadsheet.metrics.collectors import Scrape
from broadsheet.runtime import Runtime

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    error = access.refusal(runtime.settings.metrics_token, request.headers.get("authorization"))
    if isinstance(error, NotFound):
        # Exactly what a path that does not exist answers.
        raise HTTPException(status_code=404)
    if error is not None:
        return problems.respond(error, request)  # problem+json: a scraper is no browser
    # The scrape's database gauges use the background pool: a scrape never takes one of the
    # connections requests are counted against.
    return Response(generate_latest(Scrape(runtime.sessions)), media_type=CONTENT_TYPE_LATEST)
