"""``page_router()``: every page router is made here, so every page route checks CSRF first
and answers with the pages' security headers.

The CSRF check runs before FastAPI reads anything else of the request — before the database
session, the signed-in user or any form field — so a refused request has done nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from broadsheet.web import csrf, headers


class PageRoute(APIRoute):
    # Only the sign-in form accepts a token bound to the pre-session cookie.
    accepts_pre_session = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        pre_session = self.accepts_pre_session

        async def checked(request: Request) -> Response:
            if request.method not in csrf.SAFE_METHODS:
                await csrf.verify(request, pre_session=pre_session)
            response = await handler(request)
            headers.secure(response.headers)
            return response

        return checked


class SignInFormRoute(PageRoute):
    accepts_pre_session = True


def page_router(route_class: type[PageRoute] = PageRoute) -> APIRouter:
    """A router for pages: HTML by default, left out of the API's OpenAPI document."""
    return APIRouter(
        route_class=route_class, include_in_schema=False, default_response_class=HTMLResponse
    )
