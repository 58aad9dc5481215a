"""Pure ASGI middleware: a cap on request body size, applied before any parsing; and each
request's id. ``send_problem`` answers an error from any middleware, before the application
and its exception handlers."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadsheet import logs
from broadsheet.errors import BroadsheetError, PayloadTooLarge


async def send_problem(
    send: Send,
    error: BroadsheetError,
    *,
    instance: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """``error`` as a whole ``problem+json`` answer, with ``headers`` added."""
    body = json.dumps(error.problem(instance=instance)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Answers 413 for a declared Content-Length over the cap, and stops a chunked body that
    grows past it, so a huge upload never reaches JSON parsing or memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(send)
            return
        seen = 0
        rejected = False

        async def limited_receive() -> Message:
            # Past the cap, answer 413 ourselves and tell the app the client went away, so
            # it stops reading; whatever it tries to send afterwards is dropped.
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    rejected = True
                    await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _reject(self, send: Send) -> None:
        error = PayloadTooLarge(f"the request body is larger than {self.max_bytes} bytes")
        await send_problem(send, error)


REQUEST_ID_HEADER = b"x-request-id"
# An id a proxy or client sent is kept when it is plain (it ends up in logs and headers);
# anything else is replaced by one of ours.
_USABLE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class RequestId:
    """``X-Request-ID``: the request's own when it sent a usable one, else a new one; echoed
    on the response, kept in ``scope["state"]["request_id"]``, and on every log line written
    while the request is answered (``logs.request_id``, with ``logs.scope`` for the facts
    learnt later, such as the tenant)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = given if _USABLE_ID.match(given) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        token = logs.request_id.set(request_id.decode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, request_id)]}
            await send(message)

        try:
            # A scope of the request's own: the tenant the auth dependency learns (in a
            # worker thread) shows on the request's later lines, and no other request's.
            with logs.scope():
                await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)
