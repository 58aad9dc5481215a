"""The permission matrix, generated from the real app: every API route, for every role, every
scope and one's own or another tenant's objects, answers as the permission table says.

- no key, or an unknown one: 401;
- a key whose user's role or whose scope does not reach the route's action: 403;
- otherwise, another tenant's object: 404; one's own: anything but 401 and 403.

Bodies are empty (``{}``), so writes mostly stop at validation (422): only the auth outcome
is asserted. Every route must name its action (``Allowed``/``WebAllowed``) or be listed as
public here, so a route added without a table entry fails this test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from broadsheet.auth.dependencies import Permission, current_user
from broadsheet.auth.permissions import PERMISSIONS, SCOPE_ORDER, Action
from broadsheet.auth.principal import Principal
from broadsheet.models import Role
from broadsheet.routing import api_router
from broadsheet.web.dependencies import PagePermission
from broadsheet.web.routing import PageRoute
from tests.dashboards.test_definitions import MONTHLY, board, report_id
from tests.factories import Caller, Tenancy, report_body
from tests.jobs.helpers import run

# Routes that take no API key: health, docs, metrics (their own token), signed links, embeds.
PUBLIC_API = {
    "/api/v1/artifacts/{token}",
    "/api/v1/unsubscribe/{token}",
}
PUBLIC_OTHER_PREFIXES = ("/healthz", "/readyz", "/metrics", "/embed/", "/favicon.ico")
# Pages anyone may open: sign-in and out, and the home page that sends you on.
PUBLIC_PAGES = {"/", "/login", "/logout"}
# Checked by a service on top of the route's action: cancelling someone else's job (the
# seeded job is the seeding admin's, so every caller here cancels someone else's).
ALSO_NEEDS = {("POST", "/api/v1/reports/jobs/{jobId}/cancel"): Action.job_cancel_any}
ROLES = (Role.viewer, Role.editor, Role.admin)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    action: Action | None

    def url(self, ids: dict[str, str]) -> str:
        return self.path.format(**{name: ids[name] for name in self.params})

    @property
    def params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


def checks(dependant: Dependant) -> Iterator[Permission | PagePermission]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, Permission | PagePermission):
            yield sub.call
        yield from checks(sub)


def routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute | None]]:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        for method in sorted(context.methods or {"GET"}):
            if method != "HEAD":
                yield method, context.path or "", route if isinstance(route, APIRoute) else None


def api_endpoints(app: FastAPI) -> list[Endpoint]:
    """Every API route with the one action it asks the table (None: public); fails for a
    route that names none, or more than one."""
    found, missing = [], []
    for method, path, route in routes(app):
        if route is None or not path.startswith("/api/"):
            continue
        actions = {c.action for c in checks(route.dependant)}
        if path in PUBLIC_API:
            assert not actions, f"{method} {path} is listed as public but asks {actions}"
            found.append(Endpoint(method, path, None))
        elif len(actions) == 1:
            found.append(Endpoint(method, path, actions.pop()))
        else:
            missing.append(f"{method} {path}: {sorted(actions) or 'no Allowed(action)'}")
    assert not missing, "API routes without exactly one permission-table action:\n" + "\n".join(
        missing
    )
    return found


def test_every_route_and_page_names_an_action_of_the_table(client: TestClient) -> None:
    app: Any = client.app
    assert api_endpoints(app)
    unchecked = []
    for method, path, route in routes(app):
        if (
            path.startswith("/api/")
            or path in ("/openapi.json", "/redoc")
            or path.startswith(("/docs", "/static"))
        ):
            continue
        actions = {c.action for c in checks(route.dependant)} if route else set()
        if isinstance(route, PageRoute):
            if path not in PUBLIC_PAGES and len(actions) != 1:
                unchecked.append(f"{method} {path}")
        elif not path.startswith(PUBLIC_OTHER_PREFIXES):
            unchecked.append(f"{method} {path}")
    assert not unchecked, "routes that ask the permission table nothing:\n" + "\n".join(unchecked)
    assert set(PERMISSIONS) == set(Action)


def expected_refusal(role: Role, scope: str, *actions: Action) -> bool:
    """Worked out from the table's rows alone: the role's and the scope's rank against the
    row's (not through broadsheet.auth.permissions' own check)."""
    return any(
        ROLES.index(role) < ROLES.index(PERMISSIONS[a].role)
        or SCOPE_ORDER.index(scope) < SCOPE_ORDER.index(PERMISSIONS[a].scope)
        for a in actions
    )


def schedule_body(report: str) -> dict[str, Any]:
    return {
        "reportId": report,
        "name": "matrix",
        "schedule": "0 0 1 * *",
        "parameters": {"startDate": "2025-05-01", "endDate": "2025-05-31"},
        "enabled": False,
        "recipients": [{"type": "email", "address": "team@company.com"}],
        "exportFormat": "csv",
    }


def valid_requests(report: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Bodies and queries that pass validation, for the routes that validate before they look
    the object up: sent to another tenant's objects, they must meet a 404, not a 422."""
    return {
        ("PUT", "/api/v1/reports/{reportId}"): {"json": report_body()},
        ("PUT", "/api/v1/dashboards/{dashboardId}"): {"json": board(report)},
        ("PUT", "/api/v1/schedules/{scheduleId}"): {"json": schedule_body(report)},
        ("PUT", "/api/v1/datasources/{sourceId}"): {
            "json": {"name": "other", "url": "postgresql://db.example/analytics"}
        },
        ("PUT", "/api/v1/event-subscriptions/{subscriptionId}"): {
            "json": {"url": "https://hooks.example/x", "types": ["broadsheet.job.completed"]}
        },
        ("GET", "/api/v1/reports/results/{resultId}/export"): {"params": {"format": "csv"}},
        ("GET", "/api/v1/dashboards/{dashboardId}/export"): {"params": {"format": "pdf"}},
    }


def seed(client: TestClient, tenancy: Tenancy, tenant: str) -> dict[str, str]:
    """One object of each kind in ``tenant``, by the path parameter that names it."""
    tenancy.demo(tenant)
    admin = tenancy.key(tenant, Role.admin, name="seeder")
    monthly = report_id(client, admin, MONTHLY)
    job = run(client, admin, monthly, {"startDate": "2025-05-01", "endDate": "2025-05-31"})
    assert job["status"] == "completed", job
    dashboard = client.post("/api/v1/dashboards", json=board(monthly), headers=admin.headers)
    schedule = client.post("/api/v1/schedules", json=schedule_body(monthly), headers=admin.headers)
    assert dashboard.status_code == 201 and schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["id"]
    execution = client.post(f"/api/v1/schedules/{schedule_id}/run", headers=admin.headers)
    assert execution.status_code == 202, execution.text
    spare = tenancy.key(tenant, Role.viewer, name="spare")
    listed = client.get("/api/v1/keys", headers=admin.headers).json()
    source = client.get("/api/v1/datasources", headers=admin.headers).json()[0]
    return {
        "reportId": monthly,
        "jobId": job["id"],
        "resultId": job["resultId"],
        "vizFile": "perf-chart.svg",
        "dashboardId": dashboard.json()["id"],
        "scheduleId": schedule_id,
        "executionId": execution.json()["id"],
        "sourceId": source["id"],
        "keyId": next(k["id"] for k in listed if k["name"] == "spare" and spare),
        # Kinds this test does not make yet: an unknown id (another tenant's is as unknown).
        "subscriptionId": str(uuid.uuid4()),
        "token": "not-a-token",
    }


def call(
    client: TestClient,
    endpoint: Endpoint,
    ids: dict[str, str],
    key: str | None,
    valid: dict[str, Any] | None = None,
) -> int:
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {key}"} if key else {}}
    if endpoint.method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    kwargs.update(valid or {})
    return client.request(endpoint.method, endpoint.url(ids), **kwargs).status_code


def test_every_route_role_scope_and_tenant_answers_as_the_table_says(
    client: TestClient, tenancy: Tenancy
) -> None:
    endpoints = api_endpoints(client.app)  # type: ignore[arg-type]
    own, other = seed(client, tenancy, "acme"), seed(client, tenancy, "globex")
    keys: dict[tuple[Role, str], Caller] = {
        (role, scope): tenancy.key("acme", role, name=f"m-{scope}", scopes=[scope])
        for role in ROLES
        for scope in SCOPE_ORDER
    }
    wrong: list[str] = []
    for endpoint in endpoints:
        if endpoint.action is not None:
            wrong += check(client, endpoint, keys, own, other)
    assert not wrong, "\n".join(wrong)


def check(
    client: TestClient,
    endpoint: Endpoint,
    keys: dict[tuple[Role, str], Caller],
    own: dict[str, str],
    other: dict[str, str],
) -> list[str]:
    """What the route answers that the table does not say (nothing, if all is well)."""
    assert endpoint.action is not None
    wrong = []
    for key in (None, "bs_not-a-key-at-all"):
        if (got := call(client, endpoint, own, key)) != 401:
            wrong.append(f"{endpoint.method} {endpoint.path} key={key}: {got}, not 401")
    extra = ALSO_NEEDS.get((endpoint.method, endpoint.path))
    valid = valid_requests(own["reportId"]).get((endpoint.method, endpoint.path))
    for (role, scope), caller in keys.items():
        where = f"{endpoint.method} {endpoint.path} {role}/{scope}"
        refused = expected_refusal(role, scope, endpoint.action)
        got = call(client, endpoint, own, caller.key)
        if refused or (extra and expected_refusal(role, scope, extra)):
            if got != 403:
                wrong.append(f"{where} own: {got}, not 403")
        elif got in (401, 403):
            wrong.append(f"{where} own: {got}, not allowed")
        if endpoint.params:
            got = call(client, endpoint, other, caller.key, valid)
            if got != (403 if refused else 404):
                wrong.append(f"{where} other tenant: {got}, not {403 if refused else 404}")
    return wrong


@pytest.mark.parametrize("scope", SCOPE_ORDER)
def test_a_refusal_names_the_action_and_what_it_needs(
    client: TestClient, tenancy: Tenancy, scope: str
) -> None:
    caller = tenancy.key("acme", Role.admin, name="scoped", scopes=[scope])
    answer = client.get("/api/v1/keys", headers=caller.headers)
    if scope != "admin":
        assert answer.status_code == 403
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == (
            "key.admin (list, create, rotate and revoke API keys) needs a key with the admin "
            f"scope; this key has: {scope}"
        )
    else:
        assert answer.status_code == 200


def test_a_route_without_an_action_fails_the_matrix() -> None:
    router = api_router("/api/v1/unlisted", "unlisted")

    @router.get("")
    def unlisted(caller: Annotated[Principal, Depends(current_user)]) -> str:
        return caller.name

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(AssertionError, match=r"GET /api/v1/unlisted: no Allowed\(action\)"):
        api_endpoints(app)
