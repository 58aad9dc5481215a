"""Who is acting, from where, in which request: what every audit entry written meanwhile says.

:class:`AuditScope` (ASGI middleware) opens a scope per HTTP request with the client address
and ``X-Request-ID``; the authentication dependencies then name the actor (:func:`act_as`).
Outside a request (the scheduler, workers, the CLI) the actor is ``system``.

The scope is one mutable object held by a context variable: FastAPI runs sync dependencies in
worker threads with a *copy* of the context, so a variable set there would be lost, while an
object changed there is the same object the rest of the request sees.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from broadsheet import logs

if TYPE_CHECKING:  # the audit trail is below auth: auth calls it, not the other way round
    from broadsheet.auth.principal import Principal

ActorType = Literal["user", "key", "embed", "system"]


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None = None

    def __str__(self) -> str:
        return f"{self.type}:{self.id}" if self.id else self.type


SYSTEM = Actor("system")


@dataclass
class RequestScope:
    ip: str | None
    actor: Actor = SYSTEM


@dataclass(frozen=True)
class Context:
    """What an audit entry says about where it came from."""

    actor: Actor
    ip: str | None
    request_id: str | None


_scope: ContextVar[RequestScope | None] = ContextVar("broadsheet_audit_scope", default=None)


def current() -> Context:
    scope = _scope.get()
    if scope is None:
        return Context(SYSTEM, None, logs.request_id.get())
    return Context(scope.actor, scope.ip, logs.request_id.get())


def act_as(actor: Actor) -> None:
    """The request's actor from now on (no effect outside a request)."""
    scope = _scope.get()
    if scope is not None:
        scope.actor = actor


def act_as_principal(principal: Principal) -> None:
    """A key's caller is the key; a signed-in person is the user."""
    if principal.key_id is not None:
        act_as(Actor("key", str(principal.key_id)))
    else:
        act_as(Actor("user", str(principal.user_id)))


class AuditScope:
    """Opens each HTTP request's scope (pure ASGI: no task of its own, so the context it sets
    is the one the endpoint and its dependencies run in)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = _scope.set(RequestScope(ip=client[0][:45] if client else None))
        try:
            await self.app(scope, receive, send)
        finally:
            _scope.reset(token)
