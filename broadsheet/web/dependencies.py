"""Who is looking at a page, from the session cookie: the same ``Principal`` the API's key
gives, so pages call services exactly as endpoints do.

Annotated[Principal, WebAllowed(action)]  signed in (else 303 to /login?next=<this page>)
    and the permission table lets the user's role do ``action`` (else a 403 page); a session
    has every scope, so only the role counts
MaybeWebUser  the principal, or None (the sign-in pages only)

After sign-in the browser returns to ``next``: the page asked for, or — for a form posted
after the session ended — the page the form was on. ``next`` is only ever a path on this
site (:func:`local_path`), never another host.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request

from broadsheet import logs
from broadsheet.audit import context as audit_context
from broadsheet.auth import web_sessions
from broadsheet.auth.dependencies import Permission
from broadsheet.auth.permissions import Action
from broadsheet.auth.principal import Principal
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import BroadsheetError
from broadsheet.kit.time import utc_now
from broadsheet.web import cookies, csrf

LOGIN = "/login"
HOME = "/reports"
MAX_NEXT = 2000
_STATE_PRINCIPAL = "principal"


class SignInRequired(BroadsheetError):
    """No valid session: the page answers with a redirect to the sign-in form."""

    status = 401
    title = "Sign in required"

    def __init__(self, next_path: str | None) -> None:
        super().__init__("sign in to see this page")
        self.next_path = next_path

    @property
    def location(self) -> str:
        if not self.next_path or self.next_path == HOME:
            return LOGIN
        return f"{LOGIN}?{urlencode({'next': self.next_path})}"


def local_path(value: str | None) -> str | None:
    """``value`` if it is a path on this site (``/reports?page=2``), else None: no scheme,
    no host, no ``//host`` or ``/\\host`` (which browsers take as a host), no control
    characters, and not the sign-in page itself."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/"):
        return None
    if (
        value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in (LOGIN, "/logout"):
        return None
    return value


def current_principal(request: Request) -> Principal | None:
    """The principal a dependency found for this request, if any (for templates)."""
    principal: Principal | None = getattr(request.state, _STATE_PRINCIPAL, None)
    return principal


def maybe_web_user(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Principal | None:
    token = request.cookies.get(cookies.SESSION)
    principal = web_sessions.find(session, token, settings, utc_now()) if token else None
    setattr(request.state, _STATE_PRINCIPAL, principal)
    if principal is not None:
        logs.tag(tenant_id=principal.tenant_id)  # the request's later log lines name it
        audit_context.act_as_principal(principal)  # and its audit entries, the person
    return principal


def web_user(
    request: Request, principal: Annotated[Principal | None, Depends(maybe_web_user)]
) -> Principal:
    if principal is None:
        raise SignInRequired(_return_to(request))
    return principal


def _return_to(request: Request) -> str | None:
    """Where to come back after signing in: this page; for htmx, the page it is on; for a
    form, the page it was posted from (the form's target may answer only POST)."""
    if request.headers.get("HX-Request"):
        return _same_site_path(request, request.headers.get("HX-Current-URL"))
    if request.method not in csrf.SAFE_METHODS:
        return _same_site_path(request, request.headers.get("Referer"))
    query = request.url.query
    return local_path(request.url.path + (f"?{query}" if query else ""))


def _same_site_path(request: Request, url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.url.netloc:
        return None
    return local_path(parts.path + (f"?{parts.query}" if parts.query else ""))


class PagePermission(Permission):
    """The check for one action on a page: ``Permission``'s, for the signed-in person."""

    async def __call__(self, principal: Annotated[Principal, Depends(web_user)]) -> Principal:
        return self.allowed(principal)


def WebAllowed(action: Action | str) -> Any:
    """``caller: Annotated[Principal, WebAllowed("report.write")]``."""
    return Depends(PagePermission(action))


MaybeWebUser = Annotated[Principal | None, Depends(maybe_web_user)]
