"""Event subscriptions: a tenant's URLs that are pushed its events (admins manage them).

The ``secret`` signs each request as the Standard Webhooks spec says (as webhook recipients'
do, see :mod:`broadsheet.kit.webhook_secrets`); it is required on create, encrypted at rest
and never answered — an update without one keeps it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx2
from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.deliveries.recipients import secrets_cipher
from broadsheet.errors import ValidationFailed
from broadsheet.events.outbox import EventType
from broadsheet.kit import webhook_secrets
from broadsheet.kit.pagination import Page
from broadsheet.kit.schema import ApiInput, ApiModel
from broadsheet.kit.tenancy import get_owned
from broadsheet.kit.time import utc_now

Subscription = models.EventSubscription


class EventSubscriptionWrite(ApiInput):
    url: str = Field(min_length=1, max_length=1000, description="Where events are POSTed.")
    types: list[EventType] = Field(min_length=1, description="The event types sent to it.")
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="Signs the requests (write-only; required on create, kept when an update "
        "leaves it out): `whsec_` + the base64 of at least 24 bytes, signing with those bytes "
        "as the Standard Webhooks libraries do, or any other text, signing with its UTF-8 "
        "bytes.",
    )

    @field_validator("url")
    @classmethod
    def _web_url(cls, url: str) -> str:
        try:
            parsed = httpx2.URL(url)
        except (httpx2.InvalidURL, ValueError, TypeError):
            raise ValueError("not a valid URL") from None
        if parsed.scheme not in ("https", "http") or not parsed.host:
            raise ValueError("use an http(s) URL")
        if parsed.userinfo:
            raise ValueError("the URL must not carry credentials")
        return url

    @field_validator("types")
    @classmethod
    def _unique(cls, types: list[EventType]) -> list[EventType]:
        return list(dict.fromkeys(types))

    @field_validator("secret")
    @classmethod
    def _secret_signs(cls, secret: str | None) -> str | None:
        problem = webhook_secrets.problem(secret) if secret is not None else None
        if problem:
            raise ValueError(problem)
        return secret


class EventSubscriptionOut(ApiModel):
    id: uuid.UUID
    url: str
    types: list[EventType]
    has_secret: bool = Field(True, description="Always true: the secret is write-only.")
    position: str = Field(description="The id of the last event it has looked at.")
    created_at: datetime
    updated_at: datetime


def shown(row: Subscription) -> EventSubscriptionOut:
    return EventSubscriptionOut(
        id=row.id,
        url=row.url,
        types=row.types,
        position=str(row.position),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SubscriptionService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    def list(self, tenant_id: uuid.UUID, page: Page) -> tuple[list[Subscription], int]:
        query = select(Subscription).where(Subscription.tenant_id == tenant_id)
        return page.fetch(self.session, query.order_by(Subscription.created_at, Subscription.id))

    def get(self, tenant_id: uuid.UUID, subscription_id: uuid.UUID) -> Subscription:
        return get_owned(
            self.session, Subscription, tenant_id, subscription_id, "event subscription"
        )

    def create(self, caller: Principal, body: EventSubscriptionWrite) -> Subscription:
        if body.secret is None:
            raise ValidationFailed.field("secret", "required: at least 16 characters")
        self._check_url(body.url)
        now = utc_now()
        row = Subscription(
            tenant_id=caller.tenant_id,
            url=body.url,
            types=list(body.types),
            secret=secrets_cipher(self.settings).encrypt(body.secret),
            # From now on: a new subscription is not sent the events kept from before it.
            position=self._last_event(caller.tenant_id),
            created_by=caller.user_id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def update(
        self, caller: Principal, subscription_id: uuid.UUID, body: EventSubscriptionWrite
    ) -> Subscription:
        row = self.get(caller.tenant_id, subscription_id)
        self._check_url(body.url)
        row.url = body.url
        row.types = list(body.types)
        if body.secret is not None:
            row.secret = secrets_cipher(self.settings).encrypt(body.secret)
        row.updated_at = utc_now()
        self.session.flush()
        return row

    def delete(self, tenant_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
        self.session.delete(self.get(tenant_id, subscription_id))
        self.session.flush()

    def _check_url(self, url: str) -> None:
        # Refused now rather than failing every send later; the outbound-address guard
        # checks the resolved addresses again at each send (DNS can change in between).
        if url.lower().startswith("http:") and not self.settings.webhook_allow_http:
            raise ValidationFailed.field(
                "url", "plain http is not allowed (BROADSHEET_WEBHOOK_ALLOW_HTTP allows it)"
            )

    def _last_event(self, tenant_id: uuid.UUID) -> int:
        newest = self.session.scalar(
            select(models.Event.id)
            .where(models.Event.tenant_id == tenant_id)
            .order_by(models.Event.id.desc())
            .limit(1)
        )
        return newest or 0
