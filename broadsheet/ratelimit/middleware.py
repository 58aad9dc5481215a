"""``RateLimit``: the ASGI middleware that counts each request before the app sees it.

Over budget: 429 ``problem+json`` with ``Retry-After``; every limited answer, refused or not,
says ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds) of the
budget closest to running out.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadsheet.errors import TooManyRequests
from broadsheet.middleware import send_problem
from broadsheet.ratelimit.backends import Backend
from broadsheet.ratelimit.rate import Decision
from broadsheet.ratelimit.rules import Rules, bucket

_WHOSE = {"key": "this API key", "session": "this session", "ip": "this address"}


class RateLimit:
    def __init__(self, app: ASGIApp, backend: Backend, rules: Rules) -> None:
        self.app = app
        self.backend = backend
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budgets = self.rules.budgets(scope["method"], scope["path"])
        if budgets is None:
            await self.app(scope, receive, send)
            return
        whose = bucket(scope)
        decision = await self.backend.hit(whose, budgets)
        if decision is None:  # the counts are out of reach: let it through
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            await self._refuse(scope, send, decision, whose)
            return
        extra = decision.headers()

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_budget)

    async def _refuse(self, scope: Scope, send: Send, decision: Decision, whose: str) -> None:
        spent = decision.tightest
        wait = spent.wait()
        error = TooManyRequests(
            f"{_WHOSE[whose.partition(':')[0]].capitalize()} made more than {spent.rate} "
            f"requests{' of this kind' if spent.rate.name == 'expensive' else ''}; "
            f"try again in {wait} s",
            retry_after=wait,
        )
        await send_problem(send, error, instance=scope["path"], headers=decision.headers())
