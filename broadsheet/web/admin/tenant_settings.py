"""``/admin/tenant``: the tenant's delivery settings, as ``/api/v1/tenant`` reads and changes
them (the page calls the same functions): the email domains recipients must be at, and the
webhook secret that signs webhooks without one of their own — shown to admins, made anew
with ``Make a new secret`` (receivers must then be given it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from pydantic import ValidationError

from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import ValidationFailed
from broadsheet.tenants import endpoints as tenant
from broadsheet.web.dependencies import WebAllowed
from broadsheet.web.forms import Form, FormState
from broadsheet.web.input_errors import invalid
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import page_router

router = page_router()
DONE = {
    "saved": "The allowed email domains are saved.",
    "rotated": "There is a new webhook secret: give it to every receiver that checks it.",
}


@router.get("/admin/tenant")
def tenant_page(
    request: Request,
    caller: Annotated[Principal, WebAllowed("tenant.admin")],
    session: SessionDep,
    settings: SettingsDep,
    done: str | None = None,
) -> Response:
    shown = tenant.get_tenant(caller, session, settings)
    state = FormState({"allowedEmailDomains": "\n".join(shown.allowed_email_domains)})
    return render(
        request,
        "admin/tenant.html.j2",
        {"tenant": shown, "form": state, "notice": DONE.get(done or "")},
    )


@router.post("/admin/tenant")
def save_domains(
    request: Request,
    caller: Annotated[Principal, WebAllowed("tenant.admin")],
    form: Form,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    typed = str(form.get("allowedEmailDomains") or "")
    domains = [d.strip() for d in typed.replace(",", "\n").splitlines() if d.strip()]
    try:
        try:
            body = tenant.TenantSettingsWrite.model_validate({"allowedEmailDomains": domains})
        except ValidationError as exc:
            raise invalid(exc, "the domains are not valid") from None
    except ValidationFailed as error:
        # One field on the page holds them all: each message names the domain it is about.
        messages = [e["message"] for e in error.errors or []]
        state = FormState(
            {"allowedEmailDomains": typed}, {"allowedEmailDomains": "; ".join(messages)}
        )
        shown = tenant.get_tenant(caller, session, settings)
        return render(
            request,
            "admin/tenant.html.j2",
            {"tenant": shown, "form": state, "notice": None},
            status_code=422,
        )
    tenant.update_tenant(body, caller, session, settings)
    return see_other("/admin/tenant?done=saved")


@router.post("/admin/tenant/webhook-secret")
def rotate_secret(
    caller: Annotated[Principal, WebAllowed("tenant.admin")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    tenant.rotate_webhook_secret(caller, session, settings)
    return see_other("/admin/tenant?done=rotated")
