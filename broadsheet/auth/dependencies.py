"""Who is calling, from ``Authorization: Bearer <api key>``.

CurrentUser  any valid key      Editor  editor or admin      Admin  admin only
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from broadsheet.auth import service
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep
from broadsheet.errors import Forbidden, Unauthorized
from broadsheet.models import Role

bearer = HTTPBearer(auto_error=False, description="An API key from `broadsheet keys create`.")


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    principal = service.authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    # async: no I/O, so no queueing for a request thread while the session holds a connection.
    async def check(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
        if not principal.role.allows(role):
            raise Forbidden(f"this needs the {role} role; the key's user is {principal.role}")
        return principal

    return check


CurrentUser = Annotated[Principal, Depends(current_user)]
Editor = Annotated[Principal, Depends(require(Role.editor))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
