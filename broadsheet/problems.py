"""The one place errors become responses: RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from broadsheet.errors import (
    BadRequest,
    BroadsheetError,
    Overloaded,
    TooManyRequests,
    ValidationFailed,
)

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def respond(error: BroadsheetError, request: Request) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    if isinstance(error, Overloaded | TooManyRequests):
        headers = {"Retry-After": str(error.retry_after)}
    return JSONResponse(
        error.problem(instance=request.url.path),
        status_code=error.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def field_name(loc: Sequence[Any]) -> str:
    """``("body", "parameters", 0, "type")`` → ``parameters[0].type``."""
    name = ""
    for part in loc[1:]:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or str(loc[0]) if loc else "body"


def from_validation(exc: RequestValidationError) -> BroadsheetError:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {})
        return BadRequest(f"the body is not valid JSON: {ctx.get('error', 'malformed')}")
    fields = [{"field": field_name(e["loc"]), "message": _message(e)} for e in errors]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return ValidationFailed(detail, errors=fields)


def _message(error: dict[str, Any]) -> str:
    if error.get("type") in ("enum", "literal_error"):
        # Every allowed value, plainly: "'docx' is not allowed; use one of: pdf, excel, csv".
        allowed = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        if allowed:
            given = repr(error.get("input"))
            given = given if len(given) <= 60 else given[:57] + "..."  # a body may be 1 MB
            return f"{given} is not allowed; use one of: {', '.join(allowed)}"
    message = str(error.get("msg", "invalid"))
    # Pydantic prefixes errors raised in our validators; the field already says where.
    return message.removeprefix("Value error, ")


# Renders an error as a page for the requests it claims (the web UI's), else returns None.
ErrorPage = Callable[[Request, BroadsheetError], Awaitable[Response | None]]


def install(app: FastAPI, *, pages: ErrorPage | None = None) -> None:
    """Every error becomes problem+json — or, for a request ``pages`` claims, its page."""

    async def answer(request: Request, error: BroadsheetError) -> Response:
        if pages is not None:
            page = await pages(request, error)
            if page is not None:
                return page
        return respond(error, request)

    @app.exception_handler(BroadsheetError)
    async def _ours(request: Request, exc: BroadsheetError) -> Response:
        return await answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return await answer(request, from_validation(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        error = BroadsheetError(str(exc.detail))
        error.status = exc.status_code
        error.title = _title(exc.status_code)
        return await answer(request, error)

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _no_database(request: Request, exc: Exception) -> Response:
        return await answer(request, _database_unavailable(request, exc))

    app.add_exception_handler(ClientDisconnect, _client_gone)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        error = BroadsheetError("an unexpected error occurred; it has been logged")
        try:
            return await answer(request, error)
        except Exception:  # the error page itself failed: the plain answer still goes out
            log.exception("the error page failed on %s %s", request.method, request.url.path)
            return respond(error, request)


def _database_unavailable(request: Request, exc: Exception) -> Overloaded:
    """503 with ``Retry-After`` when requests cannot have the metadata database."""
    if isinstance(exc, PoolTimeout):
        # Every connection stayed busy for the pool's whole timeout: overloaded, not broken.
        log.warning("no database connection in time on %s %s", request.method, request.url.path)
        return Overloaded("the server is busy; retry shortly")
    # The database does not answer (restarting, unreachable, connections cut): unavailable
    # for now, not broken, so clients and load balancers retry. Source queries' own errors
    # never get here: they become the job's or the request's error.
    log.warning(
        "the database did not answer on %s %s: %s",
        request.method,
        request.url.path,
        type(getattr(exc, "orig", exc)).__name__,
    )
    return Overloaded("the database is unavailable; retry shortly", retry_after=5)


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client went away while its body was read (a browser dropping an htmx request it
    # replaced): no one to answer and nothing broken, so no error in the log either.
    log.info("client went away during %s %s", request.method, request.url.path)
    return Response(status_code=400)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": text}
    for code, text in {
        400: "Malformed request",
        401: "No or unknown API key",
        403: "The role does not allow it",
        404: "Unknown id (or another tenant's)",
        409: "Conflict with the stored state",
        413: "Body too large",
        422: "Invalid field(s), named in `errors`",
        503: "Busy, or the database is unavailable: retry (see `Retry-After`)",
    }.items()
}
