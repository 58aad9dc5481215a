"""Which budgets a request spends, and whose they are.

Every limited request spends the general budget (``BROADSHEET_RATE_LIMIT``); the expensive
ones — generate, run now, exports, dashboard refresh and sign-in, in the API and on the pages
— also spend the tight one (``BROADSHEET_RATE_LIMIT_GENERATE``). They are named here by
method and route template, matched the way the router matches them.

Whose: an API key's (a hash of the bearer token, so no database read comes first), a web
session's (a hash of its cookie), or else the client address's. Sign-in is always counted
against the address: guessing passwords must not get a budget per attempt's session.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from starlette.requests import cookie_parser
from starlette.routing import compile_path
from starlette.types import Scope

from broadsheet.config import Settings
from broadsheet.ratelimit.rate import Rate
from broadsheet.web.cookies import SESSION as SESSION_COOKIE

# The same operations as the permission table's run actions, in the API and on the pages.
EXPENSIVE: tuple[tuple[str, str], ...] = (
    ("POST", "/api/v1/reports/{reportId}/generate"),
    ("POST", "/api/v1/schedules/{scheduleId}/run"),
    ("GET", "/api/v1/reports/results/{resultId}/export"),
    ("GET", "/api/v1/dashboards/{dashboardId}/export"),
    ("POST", "/api/v1/dashboards/{dashboardId}/refresh"),
    ("POST", "/reports/{report_id}/run"),
    ("POST", "/schedules/{schedule_id}/run"),
    ("GET", "/results/{result_id}/download/{fmt}"),
    ("GET", "/dashboards/{dashboard_id}/pdf"),
    ("POST", "/login"),
)
SIGN_IN = ("POST", "/login")
# Probes, the scrape and the pages' files: answered to anyone, as often as they ask.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNLIMITED_PREFIXES = ("/static/",)


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, method: str, template: str) -> Route:
        return cls(method, template, compile_path(template)[0])


@dataclass(frozen=True)
class Rules:
    general: Rate
    expensive: Rate
    routes: tuple[Route, ...] = tuple(Route.of(m, t) for m, t in EXPENSIVE)

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        expensive = replace(Rate.parse(settings.rate_limit_generate), name="expensive")
        return cls(Rate.parse(settings.rate_limit), expensive)

    def budgets(self, method: str, path: str) -> list[Rate] | None:
        """The budgets a request spends; None for the paths that are never limited."""
        if path in UNLIMITED_PATHS or path.startswith(UNLIMITED_PREFIXES):
            return None
        if self.expensive_route(method, path) is not None:
            return [self.general, self.expensive]
        return [self.general]

    def expensive_route(self, method: str, path: str) -> str | None:
        method = "GET" if method == "HEAD" else method
        for route in self.routes:
            if route.method == method and route.pattern.match(path):
                return route.template
        return None


def bucket(scope: Scope) -> str:
    """Whose budget a request spends: ``key:…``, ``session:…`` or ``ip:…``."""
    address = scope["client"][0] if scope.get("client") else "unknown"
    if (scope["method"], scope["path"]) == SIGN_IN:
        return f"ip:{address}"
    headers = dict(scope["headers"])
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return f"key:{_digest(token.strip())}"
    session = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(SESSION_COOKIE)
    if session:
        return f"session:{_digest(session.encode())}"
    return f"ip:{address}"


def _digest(secret: bytes) -> str:
    # Not the key's stored hash: the counters' names must not be usable to look keys up.
    return hashlib.blake2b(secret, digest_size=16, person=b"broadsheet-rl").hexdigest()
