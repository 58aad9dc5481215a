"""The embedded dashboard as a page: server-rendered HTML, with no scripts at all.

Widgets are laid out on the dashboard's 12-column grid (one column on narrow screens), in
grid order (by y, then x) so the page reads in that order with a screen reader or on a phone
too. Everything of the dashboard is text to the template (Jinja autoescape); only a text
widget's ``html``, which the data service rendered from Markdown and sanitised, is inserted
as HTML. A widget's content is drawn by ``widget_html``, which the web UI's dashboard page
shares.

While some widget's data is being generated the page reloads itself (a meta refresh, no
script) with ``?wait=N``, so the server holds the reload until the jobs are done; those
reloads are not counted as accesses.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from broadsheet.config import Settings
from broadsheet.dashboards.filters import QUERY_PREFIX
from broadsheet.dashboards.schemas import GRID_COLUMNS, DashboardDocument
from broadsheet.dashboards.widget_html import BUSY, TEMPLATES, in_grid_order, plain, view
from broadsheet.exports.base import in_zone, report_zone

ROW_HEIGHT_PX = 72
NARROW_PX = 720
# What the page asks the server to wait for on a reload, and how soon it reloads.
POLL_WAIT_SECONDS = 10
POLL_AFTER_SECONDS = 2


@dataclass(frozen=True)
class Page:
    html: str
    headers: dict[str, str]


def render(
    doc: DashboardDocument,
    settings: Settings,
    *,
    token: str,
    unlocked: Mapping[str, str],
) -> Page:
    """The page of ``doc``. ``unlocked`` are the ``p.`` values the page was asked with, kept
    on its reloads."""
    nonce = secrets.token_urlsafe(16)
    zone = report_zone(doc.timezone)
    updated = in_zone(doc.last_updated, zone)
    widgets = [
        view(w.model_dump(by_alias=True), f"w{i}", zone)
        for i, w in enumerate(in_grid_order(doc.widgets))
    ]
    busy = any(w.data.get("status") in BUSY for w in doc.widgets)
    refresh_url = None
    if busy:
        query = {f"{QUERY_PREFIX}{k}": v for k, v in unlocked.items()}
        refresh_url = "?" + urlencode({**query, "wait": POLL_WAIT_SECONDS})
    html = TEMPLATES.get_template("embed.html.j2").render(
        doc=doc,
        nonce=nonce,
        columns=GRID_COLUMNS,
        row_height=ROW_HEIGHT_PX,
        narrow=NARROW_PX,
        filters=_filters(doc),
        widgets=widgets,
        updated_iso=doc.last_updated.isoformat(),
        updated_text=f"{updated:%Y-%m-%d %H:%M} ({doc.timezone})",
        pdf_url=f"{token}/export?format=pdf",
        refresh_url=refresh_url,
        refresh_after=POLL_AFTER_SECONDS,
    )
    return Page(html, page_headers(settings, nonce))


def error_page(settings: Settings, title: str, message: str) -> Page:
    """A small page that says why the dashboard is not shown, and nothing of it."""
    nonce = secrets.token_urlsafe(16)
    message = message[:1].upper() + message[1:]  # problem details are clauses; this a page
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><style nonce="{nonce}">body{{font:15px/1.5 '
        "system-ui,sans-serif;color:#1c2430;max-width:36em;margin:2em auto;padding:0 1em}"
        f"</style></head><body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )
    return Page(html, page_headers(settings, nonce))


def page_headers(settings: Settings, nonce: str) -> dict[str, str]:
    """No script runs, from anywhere; styles only from the page's own nonce'd block; images
    from here (charts) or https (text widgets' pictures); framed only by the allowed
    origins. The token is in the URL, so no Referer carries it to a linked site."""
    policy = "; ".join(
        (
            "default-src 'none'",
            "img-src 'self' https:",
            f"style-src 'nonce-{nonce}'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {settings.embed_frame_ancestors}",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


# --- what the template shows ---------------------------------------------------------------


def _filters(doc: DashboardDocument) -> list[dict[str, str]]:
    shown = []
    for flt in doc.parameters:
        value = doc.filters.get(flt.name)
        labels = {o.get("value"): o.get("label") for o in flt.options or []}
        text = "—" if value is None else str(labels.get(value, plain(value)))
        shown.append({"label": flt.label, "value": text})
    return shown
