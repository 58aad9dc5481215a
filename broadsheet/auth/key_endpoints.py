"""``/api/v1/keys``: the tenant's API keys (``key.admin``).

- ``GET``: every key, newest first, paged; never the key itself (only its hash is kept).
- ``POST {name, role, scopes, expiresAt}``: 201 with the key, shown this once, and its id.
  The key acts as a user of its own, named like the key and given ``role`` (as
  ``broadsheet keys create`` without ``--email`` does), so changing a person's role never
  changes what a program's key may do. Without ``scopes`` it gets every scope its role can
  use.
- ``DELETE /{keyId}``: revoked; requests with it get 401 from then on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Path, Response, status
from pydantic import AwareDatetime, Field
from sqlalchemy import select

from broadsheet.auth import accounts, keys
from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.permissions import Scope
from broadsheet.auth.principal import Principal
from broadsheet.auth.service import ensure_user
from broadsheet.dependencies import SessionDep
from broadsheet.kit.ids import parse_id
from broadsheet.kit.pagination import PageDep
from broadsheet.kit.schema import ApiInput, ApiModel
from broadsheet.models import ApiKey, Role, Tenant
from broadsheet.routing import api_router

router = api_router("/api/v1/keys", "keys")

KeyId = Annotated[str, Path(alias="keyId", description="An API key's id.")]


class ApiKeyInfo(ApiModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    user_id: uuid.UUID
    role: Role = Field(description="The role of the key's user.")
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="To the minute.")
    revoked_at: datetime | None
    replaced_by: uuid.UUID | None = Field(description="The key that replaced it (rotation).")
    grace_until: datetime | None = Field(description="A rotated key works until then.")

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyInfo:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            user_id=row.user_id,
            role=Role(row.user.role),
            scopes=[Scope(s) for s in row.scopes],
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            replaced_by=row.replaced_by,
            grace_until=row.grace_until,
        )


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The key: shown in this answer only.")


class ApiKeyWrite(ApiInput):
    name: str = Field(min_length=1, max_length=accounts.MAX_NAME)
    role: Role
    scopes: list[Scope] | None = Field(
        default=None,
        min_length=1,
        description="read, run, write, admin; absent: every scope the role can use.",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="A future instant.")


@router.get("", response_model=list[ApiKeyInfo], summary="The tenant's API keys")
def list_keys(
    caller: Annotated[Principal, Allowed("key.admin")], session: SessionDep, page: PageDep
) -> list[ApiKeyInfo]:
    query = (
        select(ApiKey)
        .where(ApiKey.tenant_id == caller.tenant_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    rows, total = page.fetch(session, query)
    return page.answer([ApiKeyInfo.of(row) for row in rows], total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key (shown once)",
)
def create_key(
    body: ApiKeyWrite, caller: Annotated[Principal, Allowed("key.admin")], session: SessionDep
) -> ApiKeyCreated:
    scopes = keys.scopes_for(body.role, body.scopes)
    expires_at = keys.check_expiry(body.expires_at)
    tenant = session.get(Tenant, caller.tenant_id)
    assert tenant is not None  # the caller belongs to it
    user = ensure_user(session, tenant, name=body.name, role=body.role, email=None)
    made = keys.make(
        session,
        tenant_id=tenant.id,
        user_id=user.id,
        name=body.name,
        scopes=scopes,
        expires_at=expires_at,
    )
    session.refresh(made.row)
    return ApiKeyCreated(**ApiKeyInfo.of(made.row).model_dump(), key=made.key)


@router.delete("/{keyId}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key")
def revoke_key(
    key_id: KeyId, caller: Annotated[Principal, Allowed("key.admin")], session: SessionDep
) -> Response:
    accounts.revoke_key(session, caller.tenant_id, parse_id(key_id, "API key"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
