"""CSRF: every unsafe request to a page carries a token only this site's pages can know.

The token is an HMAC, under the secret key, of the browser's session cookie. Before sign-in
there is no session, so the sign-in form's token is bound to a random pre-session cookie
instead, and only routes that say so (the sign-in form) accept that binding. Nothing is
stored: the check needs no database, so :class:`broadsheet.web.routing.PageRoute` makes it
before anything else — a POST without a valid token is a 403 whether or not it came with a
session. Signing in makes a new session, and so a new token.

Forms send the token as the field ``csrf_token`` (templates: ``{{ csrf_input }}``); htmx and
scripts send it as the header ``X-CSRF-Token`` (static/vendor/csrf.js reads it from the
page's ``<meta name="csrf-token">``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from broadsheet.errors import Forbidden
from broadsheet.web import cookies
from broadsheet.web.forms import read_form

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STATE_NEW_PRE_SESSION = "broadsheet_new_pre_session"


def token(secret: str, binding: str) -> str:
    key = hashlib.sha256(f"broadsheet:csrf:{secret}".encode()).digest()
    return hmac.new(key, binding.encode(), hashlib.sha256).hexdigest()


def token_for(request: Request) -> str:
    """The token a page puts in its forms: bound to the session cookie if the browser has
    one, else to its pre-session cookie (made now if missing; see :func:`new_pre_session`)."""
    binding = request.cookies.get(cookies.SESSION) or request.cookies.get(cookies.PRE_SESSION)
    if not binding:
        binding = getattr(request.state, _STATE_NEW_PRE_SESSION, None)
        if binding is None:
            binding = secrets.token_urlsafe(32)
            setattr(request.state, _STATE_NEW_PRE_SESSION, binding)
    return token(cookies.settings_of(request).resolved_secret_key, binding)


def new_pre_session(request: Request) -> str | None:
    """The pre-session value :func:`token_for` made for this request, which the response
    must set as a cookie, or None."""
    value: str | None = getattr(request.state, _STATE_NEW_PRE_SESSION, None)
    return value


async def verify(request: Request, *, pre_session: bool) -> None:
    """Refuse (403) an unsafe request whose token is missing or not this browser's."""
    sent = request.headers.get(HEADER) or (await read_form(request)).get(FIELD)
    # Every key, newest first: a page served before a key rotation still posts its form.
    keys = cookies.settings_of(request).resolved_secret_keys
    bindings = [request.cookies.get(cookies.SESSION)]
    if pre_session:
        bindings.append(request.cookies.get(cookies.PRE_SESSION))
    if isinstance(sent, str) and any(
        # As bytes: compare_digest refuses a str that is not ASCII, and anyone can send one.
        hmac.compare_digest(sent.encode(), token(secret, binding).encode())
        for binding in bindings
        if binding
        for secret in keys
    ):
        return
    raise Forbidden(
        "the form has expired or did not come from this site's own page; "
        "go back, reload the page and try again"
    )
