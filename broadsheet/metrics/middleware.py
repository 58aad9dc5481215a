"""Counts and times every HTTP request by the template of the route it matched, so
``/api/v1/reports/{reportId}`` is one series whatever the id; requests no route matched are
``unmatched``."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadsheet.metrics import record

UNMATCHED = "unmatched"


class RequestMetrics:
    """Pure ASGI: reads ``scope["route"]``, which routing sets on the shared scope, once the
    application has answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the application raises

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            record.request(route, scope["method"], status, time.perf_counter() - started)
