"""A real HTTP server on 127.0.0.1 for the HTTP channels' tests, and what they send through it.

:class:`RecordingServer` runs in a thread, records every request (method, path, headers, body)
and answers each with what its ``respond`` function says, by default an empty 200. The channels
under test talk to it over plain http on loopback, which :func:`loopback_settings` allows.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import orjson

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import Artifact, Parcel


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # with the query, as sent
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body, one value a name."""
        return {name: values[0] for name, values in parse_qs(self.body.decode()).items()}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        return cls(status, orjson.dumps(data), {"Content-Type": "application/json"})


Responder = Callable[[Recorded], Reply]


class RecordingServer:
    """Use as a context manager; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.respond: Responder = respond or (lambda _request: Reply())
        self.requests: list[Recorded] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll, because shutdown() waits for serve_forever to look.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._record_and_answer()

            def do_GET(self) -> None:
                self._record_and_answer()

            def _record_and_answer(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Recorded(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length),
                )
                # Recorded before the answer goes out, so a client that has its answer sees it.
                server.requests.append(request)
                reply = server.respond(request)
                # A client that gave up waiting (the timeout tests) is not there to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(reply)

            def _answer(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests assert on what was recorded; access logs are noise

        return Handler


def loopback_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that let the channels reach a RecordingServer: http on loopback."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": "sqlite:///" + str(tmp_path / "x.db"),
        "secret_key": "test-secret-key-for-broadsheet",
        "demo": False,
        "webhook_allow_private": True,
        "webhook_allow_http": True,
        "delivery_timeout_seconds": 5,
        **overrides,
    }
    return Settings(**values)


ARTIFACT_BYTES = b"region,revenue\r\nNorth,1200.50\r\nSouth,980.00\r\n"
FIRED = datetime(2024, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Berlin


def make_parcel(tmp_path: Path, **overrides: Any) -> Parcel:
    """A parcel of a small real CSV export in ``tmp_path``."""
    path = tmp_path / "weekly-sales.csv"
    path.write_bytes(ARTIFACT_BYTES)
    values: dict[str, Any] = {
        "delivery_id": uuid.UUID("0d6f3a52-9b1e-4c7a-8f2d-5e4b3a291c10"),
        "tenant_id": uuid.UUID("1e7a4b63-ac2f-4d8b-902e-6f5c4b3a2d21"),
        "execution_id": uuid.UUID("2f8b5c74-bd30-4e9c-a13f-70d65c4b3e32"),
        "schedule_id": uuid.UUID("3a9c6d85-ce41-4fad-b240-81e76d5c4f43"),
        "report_id": uuid.UUID("4bad7e96-df52-40be-8351-92f87e6d5a54"),
        "result_id": uuid.UUID("5cbe8fa7-e063-41cf-9462-a3098f7e6b65"),
        "report_name": "Weekly sales",
        "schedule_name": "Monday morning",
        "scheduled_for": FIRED,
        "timezone": "Europe/Berlin",
        "parameters": {"region": ["North", "South"], "since": "2024-02-26"},
        "summary": [("Revenue", "€2,180.50"), ("Orders", "42")],
        "row_count": 2,
        "artifact": Artifact(
            path=path,
            filename="weekly-sales.csv",
            media_type="text/csv",
            format="csv",
            size=len(ARTIFACT_BYTES),
        ),
        "attach": True,
        "artifact_url": "https://reports.example.com/a/5cbe8fa7.csv?expires=1710000000&sig=abc123",
        "result_url": "https://reports.example.com/results/5cbe8fa7",
        **overrides,
    }
    return Parcel(**values)
