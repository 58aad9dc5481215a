from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broadsheet.auth.permissions import ALL_SCOPES, Scope
from broadsheet.models.tenancy import Role, Tenant, User


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind an API key or a web session, in one tenant, with one
    role and the key's scopes."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    name: str
    email: str | None
    role: Role
    # A key's scopes (its rights are its user's role and these together); every scope for a
    # web session and for Broadsheet's own work.
    scopes: frozenset[Scope] = ALL_SCOPES
    # The API key the request came with, None for a web session or Broadsheet itself.
    key_id: uuid.UUID | None = None


# What a Principal is made of, in its order: a key's and a session's lookups select these
# after their own columns, and make the principal from them with ``principal_from``.
PRINCIPAL_COLUMNS = (User.id, Tenant.id, Tenant.slug, User.name, User.email, User.role)


def principal_from(values: Sequence[Any]) -> Principal:
    user_id, tenant_id, slug, name, email, role = values
    return Principal(user_id, tenant_id, slug, name, email, Role(role))
