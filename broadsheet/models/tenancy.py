from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broadsheet.kit.time import utc_now
from broadsheet.models.base import Base, JSONType, tenant_fk, uuid_pk


class Role(StrEnum):
    """admin ⊃ editor ⊃ viewer.

    Viewers read; editors also write reports; admins also manage data sources and keys.
    """

    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    def allows(self, needed: Role) -> bool:
        order = [Role.viewer, Role.editor, Role.admin]
        return order.index(self) >= order.index(needed)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Email recipients must be at one of these domains (None or empty: any domain).
    allowed_email_domains: Mapped[list[str] | None] = mapped_column(JSONType)
    # Signs webhooks whose recipient has no secret of its own; encrypted at rest.
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    # Signs dashboard embed tokens (HS256); encrypted at rest. Rotating it revokes them all.
    embed_secret: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"
    # Sign-in looks a person up by email alone: the same email may be a user in several tenants.
    __table_args__ = (UniqueConstraint("tenant_id", "email"), Index("idx_users_email", "email"))

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # argon2id (PHC string); None: the user cannot sign in to the web UI (API keys only).
    password_hash: Mapped[str | None] = mapped_column(Text)

    tenant: Mapped[Tenant] = relationship(lazy="joined")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = tenant_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so a person can tell keys apart in a listing.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]
    # When a request last came with it, to the minute (``auth.service.LAST_USED_PRECISION``).
    last_used_at: Mapped[datetime | None]
    # What the key may do besides its user's role allowing it (``broadsheet.auth.permissions``):
    # a JSON list of "read", "run", "write", "admin".
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Refused (401) from this instant on; None: never expires.
    expires_at: Mapped[datetime | None]
    # Rotation: the key that replaced this one, which keeps working until ``grace_until``.
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    grace_until: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")
