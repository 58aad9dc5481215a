"""``/admin/keys``: the tenant's API keys (admins), through ``broadsheet.auth.accounts``.

- ``GET /admin/keys``: each key's name, prefix, user and role, scopes, when it was made,
  when it expires, when it was last used (to the minute), and whether it is revoked, expired
  or rotated; ``Revoke`` for the live ones; and ``Create key`` (a name, a user, its scopes
  and an optional expiry date, at 00:00 UTC).
- ``POST /admin/keys``: the key is made and shown on the page that answers, once, with a
  note to copy it now: only its hash is kept, so no page can show it again.
- ``POST /admin/keys/{id}/revoke``: requests with the key get 401 from then on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from broadsheet.auth import accounts, keys
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep
from broadsheet.errors import ValidationFailed
from broadsheet.kit.ids import parse_id
from broadsheet.kit.time import utc_now
from broadsheet.models import ApiKey
from broadsheet.web.dependencies import WebAllowed
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
    expires: Moment | None
    live: bool


SCOPES = [
    ("read", "Read", "reports, dashboards, schedules and results"),
    ("run", "Run", "also generate, run now and export"),
    ("write", "Write", "also create, change and delete"),
    ("admin", "Admin", "also users, keys and tenant settings"),
]


DONE = {"revoked": "The key is revoked: requests made with it are refused from now on."}


@router.get("/admin/keys")
def key_list(
    request: Request,
    caller: Annotated[Principal, WebAllowed("key.admin")],
    session: SessionDep,
    done: str | None = None,
) -> Response:
    state = FormState({"userId": str(caller.user_id), "scopes": [s for s, _, _ in SCOPES]})
    return _page(request, caller.tenant_id, session, state, notice=DONE.get(done or ""))


@router.post("/admin/keys")
def create_key(
    request: Request,
    caller: Annotated[Principal, WebAllowed("key.admin")],
    form: Form,
    session: SessionDep,
) -> Response:
    typed: dict[str, Any] = {n: str(form.get(n) or "") for n in ("name", "userId", "expiresOn")}
    typed["scopes"] = [str(v) for v in form.getlist("scopes")]
    try:
        try:
            user_id = uuid.UUID(typed["userId"])
        except ValueError:
            raise ValidationFailed.field("userId", "choose a user of this tenant") from None
        issued = accounts.issue_key(
            session,
            caller.tenant_id,
            user_id,
            typed["name"],
            scopes=typed["scopes"] or None,  # none ticked: all the user's role can use
            expires_at=_expiry(typed["expiresOn"]),
        )
    except ValidationFailed as error:
        state = FormState.failed(typed, error)
        return _page(request, caller.tenant_id, session, state, status_code=422)
    # Shown in this answer only (pages are no-store, so no cache keeps it either).
    state = FormState({"userId": typed["userId"], "scopes": typed["scopes"]})
    return _page(request, caller.tenant_id, session, state, issued=issued, status_code=201)


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(
    key_id: str, caller: Annotated[Principal, WebAllowed("key.admin")], session: SessionDep
) -> Response:
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
    now = utc_now()
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
                    maybe_moment(k.expires_at),
                    keys.is_live(k, now),
                )
                for k in accounts.keys_of(session, tenant_id)
            ],
            "scopes": SCOPES,
            "users": [(str(m.user.id), _who(m.user.name, m.user.email)) for m in members],
            "notice": notice,
            "issued": issued,
        },
        status_code=status_code,
    )


def _expiry(text: str) -> datetime | None:
    """The key expires at the start (UTC) of the day chosen; none chosen: never."""
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed.field("expiresOn", "enter a date, like 2027-01-31") from None
    expires = datetime.combine(day, time(), UTC)
    if expires <= utc_now():
        raise ValidationFailed.field("expiresOn", "choose a day after today")
    return expires


def _who(name: str, email: str | None) -> str:
    return f"{name} ({email})" if email and email != name else name
