"""``api_router()``: every API router is made here, so each parses JSON the same strict way.

Python's parser accepts ``NaN`` and ``Infinity``, which are not JSON: PostgreSQL's JSONB
refuses them and other clients could not read them back. They are a 400 here, like any
other malformed body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from broadsheet.problems import PROBLEM_RESPONSES


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_constant=_reject_constant)
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def api_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(
        prefix=prefix, tags=[tag], route_class=StrictJSONRoute, responses=PROBLEM_RESPONSES
    )
