"""``/admin/users``: the tenant's users and their roles (admins), through
``broadsheet.auth.accounts``.

- ``GET /admin/users``: each user with role, whether they can sign in, and their keys; a
  role changes by its own small form (``Change role``; 303 back, the page says so). The
  tenant's last admin stays one (a 409 said on the page).
- ``GET|POST /admin/users/new`` (``Email``, ``Name``, ``Role``, ``Password``): a user who signs
  in with that password, by the rules of ``broadsheet users create``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Request, Response
from sqlalchemy.orm import Session

from broadsheet.auth import accounts
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep
from broadsheet.errors import Conflict, ValidationFailed
from broadsheet.kit.ids import parse_id
from broadsheet.models import Role
from broadsheet.web.dependencies import HOME, WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import page_router

router = page_router()
ROLES = [(r.value, r.value.capitalize()) for r in (Role.viewer, Role.editor, Role.admin)]
ROLE_NAMES = {value for value, _ in ROLES}
DONE = {"created": "The user is added: they can sign in now.", "role": "The role is changed."}


@router.get("/admin/users")
def user_list(
    request: Request,
    caller: Annotated[Principal, WebAllowed("user.admin")],
    session: SessionDep,
    done: str | None = None,
) -> Response:
    return _list(request, caller.tenant_id, session, DONE.get(done or ""), None)


@router.post("/admin/users/{user_id}/role")
def change_role(
    user_id: str,
    request: Request,
    caller: Annotated[Principal, WebAllowed("user.admin")],
    form: Form,
    session: SessionDep,
) -> Response:
    ident = parse_id(user_id, "user")
    role = str(form.get("role") or "")
    try:
        if role not in ROLE_NAMES:
            raise ValidationFailed.field("role", "choose viewer, editor or admin")
        accounts.set_role(session, caller.tenant_id, ident, Role(role))
    except (Conflict, ValidationFailed) as refused:  # refused before anything changed
        return _list(request, caller.tenant_id, session, None, refused.detail, refused.status)
    if ident == caller.user_id and role != Role.admin:  # no longer an admin: these pages close
        return see_other(HOME)
    return see_other("/admin/users?done=role")


def _list(
    request: Request,
    tenant_id: uuid.UUID,
    session: Session,
    notice: str | None,
    problem: str | None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/users.html.j2",
        {
            "members": accounts.members(session, tenant_id),
            "roles": ROLES,
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.get("/admin/users/new")
def new_user(request: Request, caller: Annotated[Principal, WebAllowed("user.admin")]) -> Response:
    return _form(request, FormState({"role": Role.viewer.value}))


@router.post("/admin/users/new")
def create_user(
    request: Request,
    caller: Annotated[Principal, WebAllowed("user.admin")],
    form: Form,
    session: SessionDep,
) -> Response:
    typed = {name: str(form.get(name) or "") for name in ("email", "name", "role")}
    try:
        if typed["role"] not in ROLE_NAMES:
            raise ValidationFailed.field("role", "choose viewer, editor or admin")
        accounts.add_user(
            session,
            caller,
            email=typed["email"],
            role=Role(typed["role"]),
            password=str(form.get("password") or ""),
            name=typed["name"].strip() or None,
        )
    except ValidationFailed as error:  # what was typed comes back, never the password
        return _form(request, FormState.failed(typed, error), status_code=422)
    return see_other("/admin/users?done=created")


def _form(request: Request, state: FormState, *, status_code: int = 200) -> Response:
    return render(
        request, "admin/user_form.html.j2", {"form": state, "roles": ROLES}, status_code=status_code
    )
