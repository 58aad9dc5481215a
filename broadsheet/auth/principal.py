from __future__ import annotations

import uuid
from dataclasses import dataclass

from broadsheet.models.tenancy import Role


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind an API key, in one tenant, with one role."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    name: str
    email: str | None
    role: Role
