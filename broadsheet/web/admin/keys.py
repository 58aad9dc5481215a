"""``/admin/keys``: the tenant's API keys (admins), through ``broadsheet.auth.accounts``.

- ``GET /admin/keys``: each key's name, prefix, user and role, when it was made, when it was
  last used (to the minute), and whether it is revoked; ``Revoke`` for the live ones; and
  ``Create key`` (a name, a user).
- ``POST /admin/keys``: the key is made and shown on the page that answers, once, with a
  note to copy it now: only its hash is kept, so no page can show it again.
- ``POST /admin/keys/{id}/revoke``: requests with the key get 401 from then on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy.orm import Session

from broadsheet.auth import accounts
from broadsheet.dependencies import SessionDep
from broadsheet.errors import ValidationFailed
from broadsheet.kit.ids import parse_id
from broadsheet.models import ApiKey
from broadsheet.web.dependencies import WebAdmin
from broadsheet.web.forms import Form, FormState
from broadsheet.web.moments import Moment, maybe_moment, moment
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import page_router

router = page_router()


@dataclass(frozen=True)
class KeyRow:
    key: ApiKey
    created: Moment
    revoked: Moment | None
    last_used: Moment | None


DONE = {"revoked": "The key is revoked: requests made with it are refused from now on."}


@router.get("/admin/keys")
def key_list(
    request: Request, caller: WebAdmin, session: SessionDep, done: str | None = None
) -> Response:
    state = FormState({"userId": str(caller.user_id)})
    return _page(request, caller.tenant_id, session, state, notice=DONE.get(done or ""))


@router.post("/admin/keys")
def create_key(request: Request, caller: WebAdmin, form: Form, session: SessionDep) -> Response:
    typed = {name: str(form.get(name) or "") for name in ("name", "userId")}
    try:
        try:
            user_id = uuid.UUID(typed["userId"])
        except ValueError:
            raise ValidationFailed.field("userId", "choose a user of this tenant") from None
        issued = accounts.issue_key(session, caller.tenant_id, user_id, typed["name"])
    except ValidationFailed as error:
        state = FormState.failed(typed, error)
        return _page(request, caller.tenant_id, session, state, status_code=422)
    # Shown in this answer only (pages are no-store, so no cache keeps it either).
    state = FormState({"userId": typed["userId"]})
    return _page(request, caller.tenant_id, session, state, issued=issued, status_code=201)


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(key_id: str, caller: WebAdmin, session: SessionDep) -> Response:
    accounts.revoke_key(session, caller.tenant_id, parse_id(key_id, "API key"))
    return see_other("/admin/keys?done=revoked")


def _page(
    request: Request,
    tenant_id: uuid.UUID,
    session: Session,
    state: FormState,
    *,
    notice: str | None = None,
    issued: accounts.IssuedKey | None = None,
    status_code: int = 200,
) -> Response:
    members = accounts.members(session, tenant_id)
    return render(
        request,
        "admin/keys.html.j2",
        {
            "form": state,
            "keys": [
                KeyRow(
                    k,
                    moment(k.created_at),
                    maybe_moment(k.revoked_at),
                    maybe_moment(k.last_used_at),
                )
                for k in accounts.keys(session, tenant_id)
            ],
            "users": [(str(m.user.id), _who(m.user.name, m.user.email)) for m in members],
            "notice": notice,
            "issued": issued,
        },
        status_code=status_code,
    )


def _who(name: str, email: str | None) -> str:
    return f"{name} ({email})" if email and email != name else name
