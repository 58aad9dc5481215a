"""The headers every page response carries (the API and embedded dashboards set their own).

Scripts and styles come only from this origin, so nothing injected into a page runs: no
inline ``<script>``, no ``style=`` attribute (dashboard grids use classes), no ``eval``
(charts use Vega's expression interpreter). Pages are never framed; forms post only here.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)
SECURITY = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Pages carry a CSRF token and the tenant's data: no cache keeps them.
PAGE_CACHE = "no-store"


def secure(headers: MutableHeaders) -> None:
    """Add the security headers a response has not set itself."""
    for name, value in SECURITY.items():
        headers.setdefault(name, value)
