"""The web UI's two cookies, set one way.

- ``broadsheet_session``: the session token (``broadsheet.auth.web_sessions``).
- ``broadsheet_csrf``: a random value the sign-in form's CSRF token is bound to, before
  there is a session (``broadsheet.web.csrf``).

Both are HttpOnly (no script reads them), SameSite=Lax (not sent on another site's POSTs) and
Secure when the browser reached us over https or the public URL is https. Neither has an
expiry: closing the browser ends them; the server ends sessions on its own timeouts.
"""

from __future__ import annotations

from fastapi import Request, Response

from broadsheet.config import Settings

SESSION = "broadsheet_session"
PRE_SESSION = "broadsheet_csrf"


def secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def set_cookie(
    response: Response, request: Request, settings: Settings, name: str, value: str
) -> None:
    response.set_cookie(
        name,
        value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
    )


def clear_cookie(response: Response, request: Request, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=secure(request, settings)
    )


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
