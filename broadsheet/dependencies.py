"""Request-scoped dependencies shared by every router: settings and the database session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from broadsheet.capacity import request_session
from broadsheet.config import Settings
from broadsheet.runtime import Runtime

# Dependencies that need no I/O are ``async``: a sync one would queue for a request thread,
# and a request that already holds a database connection must not queue for anything.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session once one of the request slots is free (see ``broadsheet.capacity``)."""
    async with request_session(request.app.state.sessions, request.app.state.db_slots) as s:
        yield s


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# scope="function": the commit happens before the response is sent, so a 201 means written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
