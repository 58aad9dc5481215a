"""The embedded dashboard as a page: server-rendered HTML, with no scripts at all.

Widgets are laid out on the dashboard's 12-column grid (one column on narrow screens), in
grid order (by y, then x) so the page reads in that order with a screen reader or on a phone
too. Everything of the dashboard is text to the template (Jinja autoescape); only a text
widget's ``html``, which the data service rendered from Markdown and sanitised, is inserted
as HTML.

While some widget's data is being generated the page reloads itself (a meta refresh, no
script) with ``?wait=N``, so the server holds the reload until the jobs are done; those
reloads are not counted as accesses.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from broadsheet.config import Settings
from broadsheet.dashboards.filters import QUERY_PREFIX
from broadsheet.dashboards.schemas import GRID_COLUMNS, DashboardDocument, WidgetStatus
from broadsheet.exports.base import in_zone, report_zone

ROW_HEIGHT_PX = 72
NARROW_PX = 720
# What the page asks the server to wait for on a reload, and how soon it reloads.
POLL_WAIT_SECONDS = 10
POLL_AFTER_SECONDS = 2
BUSY = (WidgetStatus.pending, WidgetStatus.refreshing)
KIND_LABELS = {"visualization": "Chart", "report": "Table", "metric": "Metric", "text": "Text"}

TEMPLATES = Environment(
    loader=PackageLoader("broadsheet.dashboards", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


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
        _widget(i, w.model_dump(by_alias=True))
        for i, w in enumerate(sorted(doc.widgets, key=lambda w: (w.position["y"], w.position["x"])))
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
        text = "—" if value is None else str(labels.get(value, _plain(value)))
        shown.append({"label": flt.label, "value": text})
    return shown


def _widget(index: int, widget: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = widget["data"]
    kind = str(widget["type"])
    shown: dict[str, Any] = {
        "dom_id": f"w{index}",
        "type": kind,
        "title": widget.get("title") or KIND_LABELS.get(kind, kind),
        "state": str(data.get("status")),
        "busy": data.get("status") in BUSY,
        "error": data.get("error"),
        "column": widget["position"]["x"] + 1,
        "row": widget["position"]["y"] + 1,
        "width": widget["size"]["width"],
        "height": widget["size"]["height"],
    }
    if kind == "visualization":
        shown["chart_url"] = data.get("svgUrl")
    elif kind == "report":
        shown.update(_table(data))
    elif kind == "metric":
        shown["value"] = "—" if data.get("value") is None else _plain(data["value"])
        shown["change"] = _change(data.get("change"), data.get("changePercent"))
    elif kind == "text":
        shown["html"] = data.get("html") or ""
    return shown


def _table(data: dict[str, Any]) -> dict[str, Any]:
    columns = [c for c in data.get("columns") or [] if isinstance(c, dict)]
    rows = data.get("rows") or []
    values = [[row.get(c["name"]) for c in columns] for row in rows]
    # A column's numbers share their decimals, so they line up on the right.
    places = [
        max((_decimals(v) for v in column if _is_number(v)), default=None)
        for column in zip(*values, strict=True)
    ] or [None] * len(columns)
    cells = [
        [
            {"text": _plain(v, places[i] if _is_number(v) else None), "numeric": _is_number(v)}
            for i, v in enumerate(row)
        ]
        for row in values
    ]
    heads = [{"name": c["name"], "numeric": places[i] is not None} for i, c in enumerate(columns)]
    total = int(data.get("totalRows") or len(rows))
    caption = f"First {len(rows):,} of {total:,} rows" if total > len(rows) else f"{total:,} rows"
    return {"columns": heads, "rows": cells, "caption": caption}


def _decimals(value: float) -> int:
    """The decimals :func:`_plain` shows of a number (four at most)."""
    if isinstance(value, int):
        return 0
    text = f"{value:.4f}".rstrip("0")
    return len(text) - text.index(".") - 1


def _change(change: Any, percent: Any) -> dict[str, str] | None:
    if not _is_number(change):
        return None
    direction = "up" if change > 0 else "down" if change < 0 else "flat"
    arrow = {"up": "▲", "down": "▼", "flat": "■"}[direction]
    words = {"up": "up", "down": "down", "flat": "unchanged"}[direction]
    text = f"{arrow} {words} {_signed(change)}"
    if _is_number(percent):
        text += f" ({_signed(percent, places=1)} %)"
    return {"direction": direction, "text": f"{text} since the previous result"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _signed(value: float, places: int | None = None) -> str:
    return ("+" if value > 0 else "") + _plain(value, places)


def _plain(value: Any, places: int | None = None) -> str:
    """A value as a reader sees it: grouped digits, at most four decimals, dates as given."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.{4 if places is None else places}f}"
        return text.rstrip("0").rstrip(".") if "." in text and places is None else text
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
