"""``--metrics-port`` of ``broadsheet worker`` and ``broadsheet scheduler``: their metrics on
``http://<BROADSHEET_HOST>:<port>/metrics``, behind the same token as the API server's, from
a small WSGI server in a thread of the process."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.errors import BroadsheetError
from broadsheet.metrics import access
from broadsheet.metrics.collectors import Scrape

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)
PATH = "/metrics"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds up the process's exit


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every few seconds is not worth a log line


def metrics_app(token: str, sessions: sessionmaker[Session] | None) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        error = access.refusal(token, environ.get("HTTP_AUTHORIZATION"))
        if environ.get("PATH_INFO") != PATH:
            error = access.refusal("", None)  # any other path does not exist
        if error is not None:
            return _problem(error, environ.get("PATH_INFO", ""), start_response)
        body = generate_latest(Scrape(sessions))
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    return app


def _problem(error: BroadsheetError, path: str, start_response: StartResponse) -> list[bytes]:
    body = json.dumps(error.problem(instance=path)).encode()
    headers = [("Content-Type", "application/problem+json"), ("Content-Length", str(len(body)))]
    if error.status == 401:
        headers.append(("WWW-Authenticate", "Bearer"))
    start_response(f"{error.status} {error.title}", headers)
    return [body]


def start(
    host: str, port: int, token: str, sessions: sessionmaker[Session] | None = None
) -> WSGIServer:
    """Serve in a daemon thread; ``shutdown()`` the returned server to stop."""
    server = make_server(
        host, port, metrics_app(token, sessions), server_class=_Server, handler_class=_Quiet
    )
    threading.Thread(target=server.serve_forever, name="broadsheet-metrics", daemon=True).start()
    log.info("metrics on http://%s:%s%s", host, server.server_port, PATH)
    return server
