"""Embedded dashboards (issue 14, "Embedding"): tokens issued and signed by admins, the page,
its data and charts, tampered, expired, revoked and other tenants' tokens, fixed filters,
roles, the frame-ancestors policy and access counts — on SQLite and PostgreSQL, with the real
executor generating the widgets' results."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
import warnings
from datetime import UTC, datetime
from typing import Any

import jwt
import pdfplumber
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.dashboards import embed_page
from broadsheet.dashboards.schemas import DashboardDocument
from broadsheet.models import ReportJob, Role
from tests.factories import Caller, Tenancy

PRICES = "Price History"
MONTHLY = "Monthly Performance Report"
HOSTILE_NAME = "Desk <script>alert('name')</script> & co"
HOSTILE_MARKDOWN = (
    "## Notes\n\n<script>alert('md')</script>\n\n"
    "[click](javascript:alert('link')) and <img src=x onerror=alert('img')>\n"
)
OTHER_KEY = "an-application-key-that-is-not-the-tenants-0123"


def report_id(client: TestClient, caller: Caller, name: str) -> str:
    listed = client.get("/api/v1/reports", params={"q": name}, headers=caller.headers).json()
    return str(next(r["id"] for r in listed if r["name"] == name))


def board(prices: str, **overrides: Any) -> dict[str, Any]:
    """A chart, a metric, a text and a table over the demo's price history, with a ticker
    filter (enum) and a start-date filter setting all three reports."""
    dates = {"startDate": "2025-12-01", "endDate": "2025-12-31"}
    body: dict[str, Any] = {
        "name": HOSTILE_NAME,
        "description": "Prices of one ticker <b>this month</b>",
        "widgets": [
            {
                "id": "price",
                "type": "visualization",
                "title": "Price",
                "source": {"reportId": prices, "visualizationId": "ohlc", "parameters": dates},
                "position": {"x": 0, "y": 0},
                "size": {"width": 8, "height": 4},
            },
            {
                "id": "close",
                "type": "metric",
                "title": "First close",
                "source": {"reportId": prices, "parameters": dates, "column": "close"},
                "position": {"x": 8, "y": 0},
                "size": {"width": 4, "height": 2},
            },
            {
                "id": "notes",
                "type": "text",
                "source": {"markdown": HOSTILE_MARKDOWN},
                "position": {"x": 8, "y": 2},
                "size": {"width": 4, "height": 2},
            },
            {
                "id": "rows",
                "type": "report",
                "title": "Daily prices",
                "source": {"reportId": prices, "parameters": dates},
                "position": {"x": 0, "y": 4},
                "size": {"width": 12, "height": 4},
                "options": {"pageSize": 5},
            },
        ],
        "parameters": [
            {
                "name": "ticker",
                "label": "Ticker",
                "type": "enum",
                "defaultValue": "ACME",
                "options": [
                    {"value": "ACME", "label": "Acme Corp"},
                    {"value": "BRNX", "label": "Bronx Ltd"},
                ],
                "targets": [
                    {"widgetId": "price", "parameter": "ticker"},
                    {"widgetId": "close", "parameter": "ticker"},
                    {"widgetId": "rows", "parameter": "ticker"},
                ],
            },
            {
                "name": "since",
                "label": "Since",
                "type": "date",
                "defaultValue": "2025-12-01",
                "targets": [
                    {"widgetId": "price", "parameter": "startDate"},
                    {"widgetId": "close", "parameter": "startDate"},
                    {"widgetId": "rows", "parameter": "startDate"},
                ],
            },
        ],
    }
    body.update(overrides)
    return body


class Acme:
    """The acme tenant: a dashboard made by the editor, and a key of each role."""

    def __init__(self, client: TestClient, tenancy: Tenancy) -> None:
        tenancy.demo("acme")
        self.client = client
        self.editor = tenancy.key("acme", Role.editor, name="erin")
        self.admin = tenancy.key("acme", Role.admin, name="ada")
        self.viewer = tenancy.key("acme", Role.viewer, name="vic")
        self.prices = report_id(client, self.editor, PRICES)
        made = client.post(
            "/api/v1/dashboards", json=board(self.prices), headers=self.editor.headers
        )
        assert made.status_code == 201, made.text
        self.dashboard = made.json()
        self.id = self.dashboard["id"]

    def issue(self, caller: Caller | None = None, **body: Any) -> dict[str, Any]:
        answer = self.client.post(
            f"/api/v1/dashboards/{self.id}/embed",
            json=body,
            headers=(caller or self.editor).headers,
        )
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def secret(self) -> str:
        answer = self.client.get("/api/v1/embed/secret", headers=self.admin.headers)
        assert answer.status_code == 200, answer.text
        secret: str = answer.json()["secret"]
        return secret

    def sign(self, key: str | None = None, **claims: Any) -> str:
        """A token signed the way an application holding the secret would."""
        now = int(time.time())
        payload = {
            "dashboardId": self.id,
            "tenantId": self.tenant_id(),
            "parameters": {},
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
        } | claims
        return jwt.encode(payload, (key or self.secret()).encode(), algorithm="HS256")

    def tenant_id(self) -> str:
        token = self.issue()["token"]
        tenant: str = jwt.decode(token, options={"verify_signature": False})["tenantId"]
        return tenant

    def access_count(self) -> int:
        listed = self.client.get("/api/v1/dashboards", headers=self.editor.headers).json()
        count: int = next(d["accessCount"] for d in listed if d["id"] == self.id)
        return count


@pytest.fixture
def acme(client: TestClient, tenancy: Tenancy) -> Acme:
    return Acme(client, tenancy)


def data(client: TestClient, token: str, **params: Any) -> Any:
    return client.get(f"/embed/dashboards/{token}/data", params=params)


def ready(client: TestClient, token: str, **params: Any) -> dict[str, Any]:
    """The embed document once every widget's job has run."""
    answer = data(client, token, wait=30, **params)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    assert {w["id"]: w["data"]["status"] for w in document["widgets"]} == {
        "price": "ready",
        "close": "ready",
        "notes": "ready",
        "rows": "ready",
    }
    return document


def assert_denied(client: TestClient, token: str) -> None:
    """401 and nothing of the dashboard, on every embed route."""
    for path in ("data", "export?format=pdf", f"charts/{uuid.uuid4()}/ohlc.svg"):
        answer = client.get(f"/embed/dashboards/{token}/{path}")
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "Desk" not in answer.text
    page = client.get(f"/embed/dashboards/{token}")
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert "Desk" not in page.text and "Acme Corp" not in page.text
    assert "frame-ancestors" in page.headers["content-security-policy"]


# --- issuing ---------------------------------------------------------------------------------


def test_issue_then_view_page_data_and_charts(
    client: TestClient, acme: Acme, sessions: sessionmaker[Session], settings: Settings
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    link = acme.issue(acme.admin, parameters={"ticker": "BRNX"})
    token = link["token"]
    assert link["url"] == f"{settings.base_url}/embed/dashboards/{token}"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, acme.secret().encode(), algorithms=["HS256"])
    assert set(claims) == {"dashboardId", "tenantId", "parameters", "iat", "exp", "jti"}
    assert claims["dashboardId"] == acme.id
    assert claims["parameters"] == {"ticker": "BRNX"}
    assert claims["exp"] - claims["iat"] == 3600  # the default
    assert datetime.fromisoformat(link["expiresAt"]) == datetime.fromtimestamp(claims["exp"], UTC)
    assert claims["iat"] >= before.timestamp()
    assert acme.issue()["token"] != acme.issue()["token"]  # each has its own jti

    document = ready(client, token)
    assert document["id"] == acme.id
    assert document["name"] == HOSTILE_NAME
    assert document["filters"] == {"ticker": "BRNX", "since": "2025-12-01"}
    widgets = {w["id"]: w["data"] for w in document["widgets"]}
    assert widgets["price"]["parameters"]["ticker"] == "BRNX"
    assert widgets["rows"]["totalRows"] > 5 and len(widgets["rows"]["rows"]) == 5
    svg_url = widgets["price"]["svgUrl"]
    prefix = f"{settings.base_url}/embed/dashboards/{token}/charts/{widgets['price']['resultId']}/"
    assert svg_url == prefix + "ohlc.svg"

    chart = client.get(svg_url.removeprefix(settings.base_url))  # no API key
    assert chart.status_code == 200, chart.text
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.content.lstrip().startswith(b"<svg")

    page = client.get(f"/embed/dashboards/{token}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Bronx Ltd" in html and "2025-12-01" in html  # the filters and their values
    assert (
        f'<img class="chart" src="{token}/charts/{widgets["price"]["resultId"]}/ohlc.svg"' in html
    )
    assert "First 5 of" in html and '<th scope="col" class="num">close</th>' in html
    assert 'http-equiv="refresh"' not in html  # every widget is ready: no reloading
    # Grid order: the chart, the metric, the text, then the table below them.
    order = [html.index(f'id="w{i}"') for i in range(4)]
    assert order == sorted(order)
    assert html.index("Price</h2>") < html.index("First close</h2>") < html.index("Daily prices")

    # Jobs an embedded view queued were made for the dashboard's creator, as a dashboard's.
    with sessions() as session:
        jobs = session.scalars(select(ReportJob)).all()
    assert jobs
    assert {str(j.created_by) for j in jobs} == {acme.dashboard["createdBy"]}
    assert {j.trigger for j in jobs} == {"dashboard"}


def test_issue_checks_its_body(client: TestClient, acme: Acme) -> None:
    url = f"/api/v1/dashboards/{acme.id}/embed"

    def fields(body: dict[str, Any]) -> list[str]:
        answer = client.post(url, json=body, headers=acme.editor.headers)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        return [e["field"] for e in answer.json()["errors"]]

    for expires in (59, 86_401, "3600", True, 60.5, None):
        assert fields({"expiresIn": expires}) == ["expiresIn"], expires
    assert fields({"parameters": {"region": "south"}}) == ["parameters.region"]
    assert fields({"parameters": {"ticker": 5}}) == ["parameters.ticker"]
    assert fields({"parameters": {"ticker": "ZZZZ"}}) == ["parameters.ticker"]
    assert fields({"parameters": {"since": "yesterday"}}) == ["parameters.since"]
    assert fields({"parameters": {"since": True, "nope": 1}}) == [
        "parameters.since",
        "parameters.nope",
    ]
    assert fields({"parameters": [], "extra": 1}) == ["parameters", "extra"]
    for expires in (60, 86_400):
        link = acme.issue(expiresIn=expires, parameters={"since": "2025-12-15"})
        claims = jwt.decode(link["token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == expires


def test_roles_and_tenancy(client: TestClient, tenancy: Tenancy, acme: Acme) -> None:
    url = f"/api/v1/dashboards/{acme.id}/embed"
    assert client.post(url, json={}, headers=acme.viewer.headers).status_code == 403
    assert client.post(url, json={}).status_code == 401
    assert client.post(url, json={}, headers=acme.admin.headers).status_code == 201
    missing = f"/api/v1/dashboards/{uuid.uuid4()}/embed"
    assert client.post(missing, json={}, headers=acme.editor.headers).status_code == 404
    for caller in (acme.editor, acme.viewer):
        assert client.get("/api/v1/embed/secret", headers=caller.headers).status_code == 403
        rotate = client.post("/api/v1/embed/secret/rotate", headers=caller.headers)
        assert rotate.status_code == 403
    assert client.get("/api/v1/embed/secret").status_code == 401

    tenancy.demo("globex")
    gus = tenancy.key("globex", Role.admin, name="gus")
    assert client.post(url, json={}, headers=gus.headers).status_code == 404
    theirs = client.get("/api/v1/embed/secret", headers=gus.headers).json()["secret"]
    assert theirs != acme.secret()  # each tenant has its own

    # Globex's secret signs nothing of acme's: not acme's dashboard under globex's id, nor
    # under acme's id.
    globex_id = jwt.decode(
        client.post(
            f"/api/v1/dashboards/{made_for(client, gus)}/embed", json={}, headers=gus.headers
        ).json()["token"],
        options={"verify_signature": False},
    )["tenantId"]
    assert_denied(client, acme.sign(theirs, tenantId=globex_id))
    assert_denied(client, acme.sign(theirs))

    # A deleted dashboard's tokens open nothing.
    token = acme.issue()["token"]
    assert (
        client.delete(f"/api/v1/dashboards/{acme.id}", headers=acme.editor.headers).status_code
        == 204
    )
    assert_denied(client, token)


def made_for(client: TestClient, caller: Caller) -> str:
    prices = report_id(client, caller, PRICES)
    made = client.post(
        "/api/v1/dashboards", json=board(prices, name="Globex"), headers=caller.headers
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


# --- tokens that open nothing --------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_tokens(client: TestClient, acme: Acme) -> None:
    token = acme.issue(parameters={"ticker": "BRNX"})["token"]
    assert data(client, token).status_code == 200
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})

    flipped = _b64(claims | {"parameters": {"ticker": "ACME"}})
    assert_denied(client, f"{header}.{flipped}.{signature}")
    longer = _b64(claims | {"exp": claims["exp"] + 86_400})
    assert_denied(client, f"{header}.{longer}.{signature}")
    assert_denied(client, f"{header}.{payload}.{signature[:-2]}AA")
    assert_denied(client, acme.sign(OTHER_KEY))  # signed with another key
    unsigned = _b64({"alg": "none", "typ": "JWT"})
    assert_denied(client, f"{unsigned}.{payload}.")
    assert_denied(client, f"{unsigned}.{flipped}.")
    # The right key under another algorithm is still not a token of ours.
    with warnings.catch_warnings():  # PyJWT warns that the key is short for HS512: it is
        warnings.simplefilter("ignore")
        other_algorithm = jwt.encode(claims, acme.secret().encode(), algorithm="HS512")
    assert_denied(client, other_algorithm)
    for malformed in ("x", "a.b.c", f"{header}.{payload}", "eyJ" * 10):
        assert_denied(client, malformed)
    # A claim missing, or of the wrong type, even when properly signed.
    assert_denied(client, acme.sign(jti=None))
    assert_denied(client, acme.sign(dashboardId="not-a-uuid"))
    assert_denied(client, acme.sign(parameters=["BRNX"]))
    assert_denied(client, acme.sign(iat="yesterday"))


def test_expired_token_and_one_an_admin_signed(client: TestClient, acme: Acme) -> None:
    secret = acme.secret()
    now = int(time.time())
    fresh = acme.sign(secret, parameters={"ticker": "BRNX"})
    assert ready(client, fresh)["filters"]["ticker"] == "BRNX"  # an admin may sign their own
    assert client.get(f"/embed/dashboards/{fresh}").status_code == 200

    expired = acme.sign(secret, iat=now - 600, exp=now - 300)
    assert_denied(client, expired)
    answer = data(client, expired)
    assert "expired" in answer.json()["detail"]
    # Its holder cannot make it young again without the key.
    claims = jwt.decode(expired, options={"verify_signature": False})
    header, _, signature = expired.split(".")
    assert_denied(client, f"{header}.{_b64(claims | {'exp': now + 600})}.{signature}")


def test_rotation_revokes_every_token(client: TestClient, acme: Acme) -> None:
    old_secret = acme.secret()
    assert acme.secret() == old_secret  # made once, then read back
    issued = acme.issue()["token"]
    signed = acme.sign(old_secret)
    assert data(client, issued).status_code == 200
    assert data(client, signed).status_code == 200

    rotated = client.post("/api/v1/embed/secret/rotate", headers=acme.admin.headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != old_secret
    assert acme.secret() == new_secret
    assert_denied(client, issued)
    assert_denied(client, signed)
    assert_denied(client, acme.sign(old_secret))

    again = acme.issue()["token"]
    assert jwt.decode(again, new_secret.encode(), algorithms=["HS256"])["dashboardId"] == acme.id
    assert data(client, again).status_code == 200
    assert data(client, acme.sign(new_secret)).status_code == 200


def test_secret_is_encrypted_at_rest(acme: Acme, sessions: sessionmaker[Session]) -> None:
    from broadsheet.models import Tenant

    secret = acme.secret()
    with sessions() as session:
        stored = session.scalar(select(Tenant.embed_secret).where(Tenant.slug == "acme"))
    assert stored and secret not in stored


# --- filters --------------------------------------------------------------------------------


def test_fixed_filters_cannot_be_changed(client: TestClient, acme: Acme) -> None:
    token = acme.issue(parameters={"ticker": "BRNX"})["token"]
    for params in ({"p.ticker": "ACME"}, {"p.ticker": "BRNX"}):
        answer = data(client, token, **params)
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        page = client.get(f"/embed/dashboards/{token}", params=params)
        assert page.status_code == 403 and "Acme Corp" not in page.text
    unlocked = ready(client, token, **{"p.since": "2025-12-15"})
    assert unlocked["filters"] == {"ticker": "BRNX", "since": "2025-12-15"}
    close = next(w for w in unlocked["widgets"] if w["id"] == "close")["data"]
    assert close["parameters"]["startDate"] == "2025-12-15"

    def field_of(**params: Any) -> str:
        answer = data(client, token, **params)
        assert answer.status_code == 422, answer.text
        return str(answer.json()["errors"][0]["field"])

    assert field_of(**{"p.region": "south"}) == "p.region"
    assert field_of(**{"p.since": "soon"}) == "p.since"
    for wait in (-1, 31, "x"):
        assert field_of(wait=wait) == "wait"
    bad_page = client.get(f"/embed/dashboards/{token}", params={"wait": 99})
    assert bad_page.status_code == 422 and bad_page.headers["content-type"].startswith("text/html")


def test_a_lock_the_dashboard_no_longer_has_opens_nothing(client: TestClient, acme: Acme) -> None:
    token = acme.issue(parameters={"ticker": "BRNX"})["token"]
    changed = dict(acme.dashboard)
    changed["parameters"] = [
        dict(changed["parameters"][0], name="symbol"),
        changed["parameters"][1],
    ]
    saved = client.put(f"/api/v1/dashboards/{acme.id}", json=changed, headers=acme.editor.headers)
    assert saved.status_code == 200, saved.text
    # The renamed filter would otherwise be open to the holder: ?p.symbol=ACME.
    assert_denied(client, token)


def test_charts_only_of_the_dashboard_and_its_fixed_values(
    client: TestClient, acme: Acme, settings: Settings
) -> None:
    acme_doc = client.get(
        f"/api/v1/dashboards/{acme.id}", params={"wait": 30}, headers=acme.editor.headers
    ).json()
    acme_chart = next(w for w in acme_doc["widgets"] if w["id"] == "price")["data"]["resultId"]
    assert acme_chart

    token = acme.issue(parameters={"ticker": "BRNX"})["token"]
    document = ready(client, token)
    brnx_chart = next(w for w in document["widgets"] if w["id"] == "price")["data"]["resultId"]
    base = f"/embed/dashboards/{token}/charts"
    assert client.get(f"{base}/{brnx_chart}/ohlc.svg").status_code == 200
    # ACME's chart is the dashboard's, but this token fixes the ticker to BRNX.
    assert client.get(f"{base}/{acme_chart}/ohlc.svg").status_code == 404
    # Not a visualization of the dashboard, not SVG, not a result.
    assert client.get(f"{base}/{brnx_chart}/other.svg").status_code == 404
    assert client.get(f"{base}/{brnx_chart}/ohlc.png").status_code == 404
    assert client.get(f"{base}/{uuid.uuid4()}/ohlc.svg").status_code == 404
    assert client.get(f"{base}/not-an-id/ohlc.svg").status_code == 404
    # Open to everyone: the same token with no lock serves ACME's.
    open_token = acme.issue()["token"]
    answer = client.get(f"/embed/dashboards/{open_token}/charts/{acme_chart}/ohlc.svg")
    assert answer.status_code == 200


# --- the page ------------------------------------------------------------------------------


def test_page_is_escaped_and_scriptless(client: TestClient, acme: Acme) -> None:
    token = acme.issue()["token"]
    ready(client, token)
    page = client.get(f"/embed/dashboards/{token}")
    assert page.status_code == 200
    html = page.text
    assert "<script" not in html.lower()
    assert "Desk &lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt; &amp; co" in html
    assert "Prices of one ticker &lt;b&gt;this month&lt;/b&gt;" in html
    # The hostile Markdown is text, never a link or an element with a handler.
    assert 'href="javascript' not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=" in html
    assert "<h2>Notes</h2>" in html  # the sanitised html of the text widget
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert "script-src" not in directives  # so default-src 'none' forbids every script
    assert directives["frame-ancestors"] == "'self'"
    assert directives["style-src"].startswith("'nonce-")
    nonce = directives["style-src"].removeprefix("'nonce-").rstrip("'")
    assert f'<style nonce="{nonce}">' in html
    assert page.headers["referrer-policy"] == "no-referrer"
    again = client.get(f"/embed/dashboards/{token}").headers["content-security-policy"]
    assert again != policy  # a nonce per page


def test_frame_ancestors_from_the_setting(
    settings: Settings, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    origins = "https://app.example.com   https://*.example.org:8443"
    configured = settings.model_copy(update={"embed_allowed_origins": origins})
    with TestClient(create_app(configured, prepare=False), raise_server_exceptions=False) as c:
        acme = Acme(c, tenancy)
        token = acme.issue()["token"]
        for path in (token, "not-a-token"):
            policy = c.get(f"/embed/dashboards/{path}").headers["content-security-policy"]
            assert "frame-ancestors https://app.example.com https://*.example.org:8443" in policy
    for bad in ("https://a.com; script-src *", "javascript:alert(1)", "https://a.com,https://b"):
        with pytest.raises(ValidationError):
            Settings(embed_allowed_origins=bad)
    env_style = Settings(embed_allowed_origins="'self' https://a.example")
    assert env_style.embed_frame_ancestors == "'self' https://a.example"


def pending_document(unlocked_status: str) -> DashboardDocument:
    now = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
    widget = {
        "type": "metric",
        "source": {},
        "size": {"width": 4, "height": 2},
        "options": {},
    }
    return DashboardDocument.model_validate(
        {
            "id": uuid.uuid4(),
            "name": "Board",
            "description": None,
            "createdAt": now,
            "updatedAt": now,
            "createdBy": str(uuid.uuid4()),
            "tags": [],
            "version": 1,
            "layout": {"type": "grid", "columns": 12},
            "refreshInterval": 300,
            "timezone": "Europe/Paris",
            "parameters": [
                {"name": "since", "label": "Since", "type": "date", "targets": []},
            ],
            "filters": {"since": "2025-12-15"},
            "lastUpdated": now,
            "widgets": [
                widget
                | {
                    "id": "later",
                    "title": "Below",
                    "position": {"x": 0, "y": 2},
                    "data": {
                        "status": unlocked_status,
                        "value": 3,
                        "change": -1.5,
                        "changePercent": -33.33,
                    },
                },
                widget
                | {
                    "id": "broken",
                    "title": "Broken <i>one</i>",
                    "position": {"x": 0, "y": 0},
                    "data": {"status": "failed", "error": "no column <x>"},
                },
            ],
        }
    )


def test_page_of_pending_and_failed_widgets(settings: Settings) -> None:
    page = embed_page.render(
        pending_document("pending"), settings, token="tok", unlocked={"since": "2025-12-15"}
    )
    html = page.html
    assert "Loading: the data is being generated." in html
    assert 'aria-busy="true"' in html
    # Reloads keep the page's own filter values and wait for the jobs server-side.
    assert 'http-equiv="refresh" content="2;url=?p.since=2025-12-15&amp;wait=10"' in html
    assert "This widget could not be loaded: no column &lt;x&gt;" in html
    assert html.index("Broken &lt;i&gt;one&lt;/i&gt;") < html.index("Below")  # grid order
    assert "2026-01-02 10:30 (Europe/Paris)" in html

    refreshing = embed_page.render(
        pending_document("refreshing"), settings, token="tok", unlocked={}
    ).html
    assert "Updating: showing the previous data." in refreshing
    assert "▼ down -1.5 (-33.3 %) since the previous result" in refreshing
    assert 'url=?wait=10"' in refreshing

    done = embed_page.render(pending_document("ready"), settings, token="tok", unlocked={}).html
    assert "http-equiv" not in done


def test_export_pdf(client: TestClient, acme: Acme) -> None:
    token = acme.issue(parameters={"ticker": "BRNX"})["token"]
    answer = client.get(f"/embed/dashboards/{token}/export", params={"format": "pdf"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="desk-script-alert-name-script-co_')
    with pdfplumber.open(io.BytesIO(answer.content)) as document:
        text = "\n".join(page.extract_text() or "" for page in document.pages)
    assert "Bronx Ltd" in text or "BRNX" in text  # the fixed filter's value
    assert "Daily prices" in text and "First close" in text
    assert acme.access_count() == 1  # an export counts, like the API's

    fixed = client.get(f"/embed/dashboards/{token}/export", params={"p.ticker": "ACME"})
    assert fixed.status_code == 403
    other = client.get(f"/embed/dashboards/{token}/export", params={"format": "csv"})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "format"
    assert acme.access_count() == 1  # refused exports are not


# --- access counts -------------------------------------------------------------------------


def test_page_loads_count_accesses_and_data_calls_do_not(client: TestClient, acme: Acme) -> None:
    token = acme.issue()["token"]
    ready(client, token)
    assert acme.access_count() == 0  # the data calls
    assert client.get(f"/embed/dashboards/{token}").status_code == 200
    assert client.get(f"/embed/dashboards/{token}").status_code == 200
    assert acme.access_count() == 2
    assert client.get(f"/embed/dashboards/{token}", params={"wait": 0}).status_code == 200
    assert data(client, token).status_code == 200
    assert acme.access_count() == 2  # the page's reloads and data calls are not visits
    # Refused loads are not visits either.
    assert client.get(f"/embed/dashboards/{token}", params={"p.since": "x"}).status_code == 422
    assert client.get(f"/embed/dashboards/{token}x").status_code == 401
    assert acme.access_count() == 2
