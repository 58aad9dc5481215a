"""Errors on pages are pages: a 404, 403, 429 or 500 in the site's look, never JSON.

``broadsheet.problems`` calls :func:`page` for every error; it answers for page paths and
leaves the API, embedded dashboards, health checks and the API's docs to problem+json (by
returning None). A page without a session goes to the sign-in form instead.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from broadsheet.capacity import request_session
from broadsheet.errors import BroadsheetError, Overloaded, TooManyRequests
from broadsheet.web import cookies, headers
from broadsheet.web.dependencies import SignInRequired, current_principal, maybe_web_user
from broadsheet.web.rendering import render

NOT_PAGES = ("/api/", "/embed/", "/docs/")
NOT_PAGE_PATHS = frozenset(
    {"/api", "/embed", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz"}
)
TITLES = {
    400: "Something in the request was wrong",
    403: "You cannot do that",
    404: "Page not found",
    405: "Page not found",
    409: "That clashes with what is there",
    410: "That link has expired",
    413: "That was too large",
    422: "Something you entered was wrong",
    429: "Too many tries",
    500: "Sorry, something went wrong",
    503: "Broadsheet is busy",
}
NOT_FOUND_TEXT = (
    "If you typed the address, check it is correct. If you followed a link, what it led to "
    "may have been deleted, or belong to another tenant."
)


def is_page(path: str) -> bool:
    return path not in NOT_PAGE_PATHS and not path.startswith(NOT_PAGES)


async def page(request: Request, error: BroadsheetError) -> Response | None:
    """The error as a page, for a page path; None for every other path."""
    if not is_page(request.url.path):
        return None
    if isinstance(error, SignInRequired):
        return _to_sign_in(request, error)
    if current_principal(request) is None and error.status in (404, 405):
        await _find_principal(request)  # so the page has its navigation
    status = error.status
    extra = {}
    if isinstance(error, TooManyRequests | Overloaded):
        extra["Retry-After"] = str(error.retry_after)
    message = NOT_FOUND_TEXT if status in (404, 405) else error.detail
    return render(
        request,
        "error.html.j2",
        {
            "status": status,
            "heading": TITLES.get(status, "Something went wrong"),
            "message": message,
            "errors": error.errors or [],
        },
        status_code=status,
        headers=extra,
    )


def _to_sign_in(request: Request, error: SignInRequired) -> Response:
    settings = cookies.settings_of(request)
    if request.headers.get("HX-Request"):
        # htmx would swap the sign-in page into a fragment: it navigates the page instead.
        response: Response = Response(status_code=401, headers={"HX-Redirect": error.location})
    else:
        response = RedirectResponse(error.location, status_code=303)
    if request.cookies.get(cookies.SESSION):  # it named no live session
        cookies.clear_cookie(response, request, settings, cookies.SESSION)
    headers.secure(response.headers)
    return response


async def _find_principal(request: Request) -> None:
    if not request.cookies.get(cookies.SESSION):
        return
    try:
        async with request_session(request.app.state.sessions, request.app.state.db_slots) as s:
            await run_in_threadpool(maybe_web_user, request, s, cookies.settings_of(request))
    except Overloaded:
        pass  # the page is shown without navigation rather than not at all
