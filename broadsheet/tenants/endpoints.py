"""``/api/v1/tenant``: the caller's tenant and its delivery settings (admins).

- ``allowedEmailDomains``: email recipients must be at one of these (or their subdomains);
  empty allows any. Checked when a schedule is saved and when its deliveries are planned.
- ``webhookSecret``: signs webhooks whose recipient has no secret of its own. Made on first
  read in the Standard Webhooks form (``whsec_`` + base64 of 32 random bytes, signing with
  those bytes, so receivers pass it as shown to the spec's libraries), shown only to admins,
  encrypted at rest; ``POST /api/v1/tenant/webhook-secret`` makes a new one (receivers must
  then be given it). One made before that form signs with its UTF-8 bytes until replaced.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.dependencies import Allowed
from broadsheet.auth.principal import Principal
from broadsheet.auth.service import webhook_secret
from broadsheet.config import Settings
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.kit.schema import ApiInput, ApiModel
from broadsheet.routing import api_router

router = api_router("/api/v1/tenant", "tenant")
DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+$")


def _domain(value: str) -> str:
    value = value.strip().lower()
    if not DOMAIN.match(value):
        raise ValueError(f"{value!r} is not a domain name")
    return value


class TenantSettings(ApiModel):
    slug: str
    name: str
    allowed_email_domains: list[str]
    webhook_secret: str = Field(
        description="Signs webhooks whose recipient has no secret of its own: `whsec_` + "
        "base64, as the Standard Webhooks libraries take it (`Webhook(secret)`). One made "
        "before that form signs with its UTF-8 bytes until rotated."
    )


class TenantSettingsWrite(ApiInput):
    allowed_email_domains: list[Annotated[str, AfterValidator(_domain)]] = Field(max_length=100)


@router.get("", response_model=TenantSettings, summary="The tenant's delivery settings")
def get_tenant(
    caller: Annotated[Principal, Allowed("tenant.admin")],
    session: SessionDep,
    settings: SettingsDep,
) -> TenantSettings:
    return _shown(session, settings, caller)


@router.patch("", response_model=TenantSettings, summary="Change the tenant's settings")
def update_tenant(
    body: TenantSettingsWrite,
    caller: Annotated[Principal, Allowed("tenant.admin")],
    session: SessionDep,
    settings: SettingsDep,
) -> TenantSettings:
    tenant = _tenant(session, caller)
    # Audited as tenant.updated with the change (broadsheet.audit.tracking).
    tenant.allowed_email_domains = sorted(set(body.allowed_email_domains))
    return _shown(session, settings, caller)


@router.post("/webhook-secret", response_model=TenantSettings, summary="New webhook secret")
def rotate_webhook_secret(
    caller: Annotated[Principal, Allowed("tenant.admin")],
    session: SessionDep,
    settings: SettingsDep,
) -> TenantSettings:
    tenant = _tenant(session, caller)
    # Audited as tenant.updated, the secret by name only: {"webhookSecret": {"changed": true}}.
    webhook_secret(tenant, settings, rotate=True)
    return _shown(session, settings, caller)


def _tenant(session: Session, caller: Principal) -> models.Tenant:
    tenant = session.get(models.Tenant, caller.tenant_id)
    assert tenant is not None  # the caller's key belongs to it
    return tenant


def _shown(session: Session, settings: Settings, caller: Principal) -> TenantSettings:
    tenant = _tenant(session, caller)
    return TenantSettings(
        slug=tenant.slug,
        name=tenant.name,
        allowed_email_domains=tenant.allowed_email_domains or [],
        webhook_secret=webhook_secret(tenant, settings),
    )
