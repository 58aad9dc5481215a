"""``/login``, ``/logout`` and ``/``.

- ``GET /login?next=/path``: the form (``Email``, ``Password``, ``Sign in``). Signed in
  already: straight on to ``next``.
- ``POST /login``: a new session and a 303 to ``next`` (a path on this site) or ``/reports``.
  A wrong email or password is a 401 with the form again; a throttled one a 429 saying how
  long to wait; an email and password right in several tenants bring a ``Tenant`` field.
- ``POST /logout`` (``Sign out``): the session ends; 303 to ``/login``.
- ``GET /``: 303 to ``/reports`` when signed in, else to ``/login``.
"""

from __future__ import annotations

from fastapi import Request, Response

from broadsheet.auth import web_sessions
from broadsheet.auth.sign_in import ChooseTenant, TenantChoice, sign_in
from broadsheet.dependencies import SessionDep, SettingsDep
from broadsheet.errors import TooManyRequests, Unauthorized
from broadsheet.kit.time import utc_now
from broadsheet.web import cookies
from broadsheet.web.dependencies import HOME, LOGIN, MaybeWebUser, local_path
from broadsheet.web.forms import Form, FormState
from broadsheet.web.rendering import render, see_other
from broadsheet.web.routing import SignInFormRoute, page_router

router = page_router()
form_router = page_router(SignInFormRoute)
MAX_EMAIL = 320
MISSING = {"email": "enter your email address", "password": "enter your password"}


@router.get("/")
def home(principal: MaybeWebUser) -> Response:
    return see_other(HOME if principal else LOGIN)


@router.get(LOGIN)
def login_form(request: Request, principal: MaybeWebUser, next: str | None = None) -> Response:
    if principal is not None:
        return see_other(local_path(next) or HOME)
    return _form(request, FormState(), local_path(next))


@form_router.post(LOGIN)
def login(request: Request, form: Form, session: SessionDep, settings: SettingsDep) -> Response:
    email = str(form.get("email", "")).strip()[:MAX_EMAIL]
    password = str(form.get("password", ""))
    tenant = str(form.get("tenant", "")).strip() or None
    next_path = local_path(str(form.get("next", "")))
    typed = {"email": email, "tenant": tenant or ""}  # never the password
    given = {"email": email, "password": password}
    missing = {name: MISSING[name] for name, value in given.items() if not value}
    if missing:
        return _form(request, FormState(typed, missing), next_path, status_code=422)
    now = utc_now()
    # The failures sign_in counts must be saved: its refusals are answered with a page
    # (which commits), never raised (which would roll them back).
    try:
        principal = sign_in(
            session,
            email=email,
            password=password,
            tenant=tenant,
            address=request.client.host if request.client else "unknown",
            now=now,
        )
    except TooManyRequests as error:
        state = FormState(typed, {"": error.detail})
        return _form(
            request,
            state,
            next_path,
            status_code=429,
            headers={"Retry-After": str(error.retry_after)},
        )
    except Unauthorized as error:
        return _form(request, FormState(typed, {"": error.detail}), next_path, status_code=401)
    except ChooseTenant as error:
        return _form(request, FormState(typed), next_path, tenants=error.tenants)
    token = web_sessions.open_session(
        session,
        principal,
        settings,
        now,
        replacing=request.cookies.get(cookies.SESSION),
        user_agent=request.headers.get("User-Agent"),
        ip=request.client.host if request.client else None,
    )
    response = see_other(next_path or HOME)
    cookies.set_cookie(response, request, settings, cookies.SESSION, token)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    token = request.cookies.get(cookies.SESSION)
    if token:
        web_sessions.end_session(session, token)
    response = see_other(LOGIN)
    cookies.clear_cookie(response, request, settings, cookies.SESSION)
    return response


def _form(
    request: Request,
    state: FormState,
    next_path: str | None,
    *,
    tenants: list[TenantChoice] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "login.html.j2",
        {
            "form": state,
            "next": next_path or "",
            "tenants": [
                (t.slug, f"{t.name} ({t.slug})" if t.name != t.slug else t.slug)
                for t in tenants or []
            ],
        },
        status_code=status_code,
        headers=headers,
    )
