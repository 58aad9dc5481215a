"""``/static``: the pages' stylesheet and scripts, with their content's digest in their URLs;
and ``/favicon.ico``.

Templates link ``{{ static('app.css') }}`` → ``/static/app.css?v=<digest>``: a browser keeps
a versioned file for a year and asks again only when the file changed (its URL changed with
it); a URL without ``v`` is revalidated on every use (ETag).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from broadsheet.web import headers

DIRECTORY = Path(__file__).parent / "static"
PREFIX = "/static"
LONG_CACHE = "public, max-age=31536000, immutable"


@cache
def digest(name: str) -> str:
    return hashlib.sha256((DIRECTORY / name).read_bytes()).hexdigest()[:16]


def static_url(name: str) -> str:
    return f"{PREFIX}/{name}?v={digest(name)}"


class CachedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = LONG_CACHE if versioned else "no-cache"
        headers.secure(response.headers)
        return response


def files() -> CachedStaticFiles:
    return CachedStaticFiles(directory=DIRECTORY)


async def favicon() -> Response:
    """``/favicon.ico``: what a browser asks for on a page that names no icon (an embedded
    dashboard, a PDF or JSON opened in a tab), answered with the pages' icon, not a 404."""
    response = Response(icon_bytes("favicon.svg"), media_type="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    headers.secure(response.headers)
    return response


@cache
def icon_bytes(name: str) -> bytes:
    return (DIRECTORY / name).read_bytes()
