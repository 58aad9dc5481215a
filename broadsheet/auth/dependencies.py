"""Who is calling, from ``Authorization: Bearer <api key>``, and whether the permission table
lets them: every endpoint takes its caller as ``Annotated[Principal, Allowed(action)]``.

No key, or an unknown, revoked or expired one: 401. A key whose user's role or whose scopes
do not reach the action: 403 naming the action and what it needs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from broadsheet import logs
from broadsheet.audit import context as audit_context
from broadsheet.auth import permissions, service
from broadsheet.auth.permissions import Action
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep
from broadsheet.errors import Forbidden, Unauthorized

bearer = HTTPBearer(auto_error=False, description="An API key from `broadsheet keys create`.")


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    principal = service.authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the API key is unknown, revoked or expired")
    logs.tag(tenant_id=principal.tenant_id)  # the request's later log lines name it
    audit_context.act_as_principal(principal)  # the request's audit entries name the key
    return principal


class Permission:
    """The check for one action; its ``action`` tells tests which row of the table a route
    uses (a route without one fails the permission matrix)."""

    def __init__(self, action: Action | str) -> None:
        self.action = Action(action)
        permissions.rule(self.action)  # an action missing from the table fails at import

    # async: no I/O, so no queueing for a request thread while the session holds a connection.
    async def __call__(self, principal: Annotated[Principal, Depends(current_user)]) -> Principal:
        return self.allowed(principal)

    def allowed(self, principal: Principal) -> Principal:
        """The principal, if the table lets it perform the action; else 403 saying why."""
        why = permissions.refusal(principal, self.action)
        if why:
            raise Forbidden(why)
        return principal


def Allowed(action: Action | str) -> Any:
    """``caller: Annotated[Principal, Allowed("report.run")]``: the key's principal, once the
    table allows it the action."""
    return Depends(Permission(action))
