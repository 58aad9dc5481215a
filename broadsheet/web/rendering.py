"""Rendering pages: one Jinja environment, and the context every page gets.

``render(request, "reports/list.html.j2", {...})`` gives an ``HTMLResponse``; a template
extends ``base.html.j2`` and fills its blocks (``title``, ``main``, optionally ``head`` and
``scripts``). Every template sees:

- ``principal``: who is signed in (None on the sign-in and error pages of strangers);
- ``csrf_token`` and ``csrf_input`` (the hidden field, for every ``<form method="post">``);
- ``form``: a ``FormState`` (empty unless the page passes its own);
- ``path``: the page's path (the navigation marks where you are);
- ``static(name)``: a versioned ``/static`` URL;
- ``datalist(id, options)``: a ``<datalist>`` of options that never change while the server
  runs (time zones, holiday calendars), made once.

``fragment(request, template, block, {...})`` renders one block of a page (htmx swaps), with
the same context, so a fragment and its page never drift apart.

Everything is autoescaped: names, SQL and Markdown sources a user typed render as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from broadsheet.web import cookies, csrf, headers
from broadsheet.web.dependencies import current_principal
from broadsheet.web.forms import FormState, field_id
from broadsheet.web.static_files import static_url


def _sentence(text: str) -> str:
    """A message as a sentence: services' messages are clauses (``use at least 12 …``)."""
    text = str(text).strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else f"{text}."


@cache
def datalist(dom_id: str, options: tuple[str, ...] | tuple[tuple[str, str], ...]) -> Markup:
    """A ``<datalist>`` whose options (each a value, or a value and its label) are fixed for
    the process: made once, as a Jinja loop over the ~600 IANA zones took a millisecond or
    two of every schedule form for the same HTML."""
    return Markup('<datalist id="{}">{}</datalist>').format(
        dom_id, Markup("").join(_option(option) for option in options)
    )


def _option(option: str | tuple[str, str]) -> Markup:
    if isinstance(option, str):
        return Markup('<option value="{}">').format(option)
    return Markup('<option value="{}">{}</option>').format(*option)


TEMPLATES = Environment(
    loader=PackageLoader("broadsheet.web", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.globals["static"] = static_url
TEMPLATES.globals["datalist"] = datalist
TEMPLATES.filters["field_id"] = field_id
TEMPLATES.filters["sentence"] = _sentence


def context(request: Request, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    token = csrf.token_for(request)
    return {
        "principal": current_principal(request),
        "csrf_token": token,
        "csrf_input": Markup('<input type="hidden" name="{}" value="{}">').format(
            csrf.FIELD, token
        ),
        "form": FormState(),
        "path": request.url.path,
        **(values or {}),
    }


def render(
    request: Request,
    template: str,
    values: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(context(request, values))
    return _page(request, html, status_code, headers)


def fragment(
    request: Request,
    template: str,
    block: str,
    values: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    page = TEMPLATES.get_template(template)
    html = "".join(page.blocks[block](page.new_context(context(request, values))))
    return _page(request, html, status_code, headers)


def see_other(location: str) -> RedirectResponse:
    """After a form: go to ``location`` (a GET), so a reload does not post again."""
    return RedirectResponse(location, status_code=303)


def _page(
    request: Request, html: str, status_code: int, extra: Mapping[str, str] | None
) -> HTMLResponse:
    response = HTMLResponse(html, status_code=status_code, headers=dict(extra or {}))
    response.headers["Cache-Control"] = headers.PAGE_CACHE
    headers.secure(response.headers)
    minted = csrf.new_pre_session(request)
    if minted:
        cookies.set_cookie(
            response, request, cookies.settings_of(request), cookies.PRE_SESSION, minted
        )
    return response
