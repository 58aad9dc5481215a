"""Rate limits: a sliding window per key, session or address, in memory or in Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pydantic
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.app import create_app
from broadsheet.config import Executor, Settings
from broadsheet.ratelimit.backends import MemoryBackend, RedisBackend, make_backend
from broadsheet.ratelimit.rate import Rate
from broadsheet.ratelimit.rules import EXPENSIVE, Rules
from tests.factories import Caller, Tenancy

REPORTS = "/api/v1/reports"
START = 1_800_000_000.0  # a whole minute and a whole hour: windows start here


class Clock:
    """The limiter's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@contextmanager
def limited_client(
    settings: Settings, clock: Clock, *, address: str = "203.0.113.7", **limits: str
) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=limits), prepare=False)
    app.state.rate_limits.clock = clock  # the middleware holds the same backend
    with TestClient(app, raise_server_exceptions=False, client=(address, 50000)) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def admin(tenancy: Tenancy, sessions: sessionmaker[Session]) -> Caller:
    return tenancy.key("acme")


def budget(response: object) -> tuple[int, int, int]:
    headers = response.headers  # type: ignore[attr-defined]
    return (
        int(headers["RateLimit-Limit"]),
        int(headers["RateLimit-Remaining"]),
        int(headers["RateLimit-Reset"]),
    )


def test_rates_are_written_n_per_unit() -> None:
    assert Rate.parse("600/minute") == Rate(600, 60)
    assert Rate.parse(" 5 / Second ") == Rate(5, 1)
    assert Rate.parse("2/hours") == Rate(2, 3600)
    assert str(Rate(60, 60)) == "60/minute"
    for bad in ("", "600", "0/minute", "-1/minute", "600/day", "six/minute", "1.5/second"):
        with pytest.raises(ValueError, match="is not a rate"):
            Rate.parse(bad)


def test_a_bad_rate_stops_the_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings(rate_limit_generate="60 a minute")
    assert caught.value.errors()[0]["loc"] == ("rate_limit_generate",)
    from broadsheet.cli import _explained

    monkeypatch.setenv("BROADSHEET_RATE_LIMIT", "lots")
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings()
    assert _explained(caught.value)[0].startswith("BROADSHEET_RATE_LIMIT: 'lots' is not a rate")


def test_over_budget_answers_429_with_the_headers(
    settings: Settings, admin: Caller, clock: Clock
) -> None:
    with limited_client(settings, clock, rate_limit="3/minute") as client:
        seen = []
        for _ in range(3):
            answer = client.get(REPORTS, headers=admin.headers)
            assert answer.status_code == 200, answer.text
            seen.append(budget(answer))
        assert seen == [(3, 2, 60), (3, 1, 60), (3, 0, 60)]
        refused = client.get(REPORTS, headers=admin.headers)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["status"] == 429 and problem["title"] == "Too Many Requests"
        assert "3/minute" in problem["detail"] and problem["instance"] == REPORTS
        # Three in this minute weigh 2 of 3 twenty seconds into the next: one fits then.
        assert refused.headers["Retry-After"] == "80"
        assert budget(refused) == (3, 0, 80)
        assert refused.headers["X-Request-ID"]  # still inside the request id's middleware
        # Probes, the scrape and static files are never limited.
        assert client.get("/healthz").status_code == 200
        assert "RateLimit-Limit" not in client.get("/healthz").headers
        assert client.get("/static/does-not-exist.css").status_code == 404


def test_the_window_slides(settings: Settings, admin: Caller, clock: Clock) -> None:
    with limited_client(settings, clock, rate_limit="3/minute") as client:
        for _ in range(3):
            assert client.get(REPORTS, headers=admin.headers).status_code == 200
        clock.now = START + 59
        late = client.get(REPORTS, headers=admin.headers)
        assert late.status_code == 429 and late.headers["Retry-After"] == "21"
        # One second into the next minute the last one still weighs 59/60 of its three...
        clock.now = START + 61
        early = client.get(REPORTS, headers=admin.headers)
        assert early.status_code == 429
        assert early.headers["Retry-After"] == "19"  # ...until two thirds of it have slid out
        clock.now = START + 80
        again = client.get(REPORTS, headers=admin.headers)
        assert again.status_code == 200 and budget(again) == (3, 0, 40)
        assert client.get(REPORTS, headers=admin.headers).status_code == 429
        clock.now = START + 180  # two whole windows later nothing counts any more
        assert budget(client.get(REPORTS, headers=admin.headers)) == (3, 2, 60)


def test_each_key_and_address_has_its_own_budget(
    settings: Settings, tenancy: Tenancy, admin: Caller, clock: Clock
) -> None:
    other = tenancy.key("acme", name="other")
    with limited_client(settings, clock, rate_limit="2/minute") as client:
        for _ in range(2):
            assert client.get(REPORTS, headers=admin.headers).status_code == 200
        assert client.get(REPORTS, headers=admin.headers).status_code == 429
        assert client.get(REPORTS, headers=other.headers).status_code == 200
        # Without a key, the address's budget (spent on 401s here).
        assert client.get(REPORTS).status_code == 401
        assert client.get(REPORTS).status_code == 401
        assert client.get(REPORTS).status_code == 429


def test_a_generate_counts_against_both_budgets(
    settings: Settings, admin: Caller, clock: Clock
) -> None:
    generate = f"{REPORTS}/{uuid.uuid4()}/generate"
    limits = {"rate_limit": "5/minute", "rate_limit_generate": "2/minute"}
    with limited_client(settings, clock, **limits) as c:
        first = c.post(generate, json={}, headers=admin.headers)
        assert first.status_code == 404  # counted whatever it answers
        assert budget(first) == (2, 1, 60)  # the tighter budget is the one told
        assert c.post(generate, json={}, headers=admin.headers).status_code == 404
        refused = c.post(generate, json={}, headers=admin.headers)
        assert refused.status_code == 429 and budget(refused)[:2] == (2, 0)
        assert "of this kind" in refused.json()["detail"]
        # The refused one took nothing from the general budget: 5 - 2 generates = 3 reads.
        for remaining in (2, 1, 0):
            answer = c.get(REPORTS, headers=admin.headers)
            assert answer.status_code == 200 and budget(answer) == (5, remaining, 60)
        assert c.get(REPORTS, headers=admin.headers).status_code == 429


def test_the_expensive_routes_are_real_routes(settings: Settings) -> None:
    rules = Rules.from_settings(settings)
    assert rules.expensive_route("POST", f"{REPORTS}/{uuid.uuid4()}/generate")
    assert rules.expensive_route("HEAD", f"/dashboards/{uuid.uuid4()}/pdf")
    assert rules.expensive_route("GET", f"{REPORTS}/{uuid.uuid4()}/generate") is None
    assert rules.expensive_route("POST", f"{REPORTS}/{uuid.uuid4()}") is None
    documented = create_app(settings, prepare=False).openapi()["paths"]
    for method, template in EXPENSIVE:
        if template.startswith("/api/"):
            assert method.lower() in documented[template], template


def test_sign_in_is_limited_per_address(
    settings: Settings, sessions: sessionmaker[Session], clock: Clock
) -> None:
    from tests.web.helpers import sign_in

    with limited_client(settings, clock, rate_limit_generate="2/minute") as client:
        assert sign_in(client, "nobody@acme.test", "wrong password 1").status_code == 401
        assert sign_in(client, "nobody@acme.test", "wrong password 2").status_code == 401
        refused = sign_in(client, "nobody@acme.test", "wrong password 3")
        assert refused.status_code == 429 and refused.headers["Retry-After"]
        # A bearer header does not buy a sign-in a budget of its own.
        spoofed = client.post("/login", headers={"Authorization": "Bearer made-up"})
        assert spoofed.status_code == 429
        assert client.get("/login").status_code == 200  # the form itself is a plain page
    # Another address has a budget of its own.
    backend = MemoryBackend(clock)
    rules = Rules.from_settings(settings.model_copy(update={"rate_limit_generate": "1/minute"}))
    spend = rules.budgets("POST", "/login")
    assert spend is not None and len(spend) == 2
    assert backend.hit_now("ip:203.0.113.7", spend).allowed
    assert not backend.hit_now("ip:203.0.113.7", spend).allowed
    assert backend.hit_now("ip:198.51.100.9", spend).allowed


def test_redis_is_shared_by_every_app(
    settings: Settings, admin: Caller, clock: Clock, redis_url: str
) -> None:
    limits = {"rate_limit": "4/minute", "redis_url": redis_url}
    with (
        limited_client(settings, clock, **limits) as one,
        limited_client(settings, clock, **limits) as two,
    ):
        assert isinstance(one.app.state.rate_limits, RedisBackend)  # type: ignore[attr-defined]
        assert budget(one.get(REPORTS, headers=admin.headers))[1] == 3
        assert budget(two.get(REPORTS, headers=admin.headers))[1] == 2
        assert budget(one.get(REPORTS, headers=admin.headers))[1] == 1
        assert budget(two.get(REPORTS, headers=admin.headers))[1] == 0
        refused = one.get(REPORTS, headers=admin.headers)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "75"
        assert two.get(REPORTS, headers=admin.headers).status_code == 429
        # The same sliding arithmetic as in memory.
        clock.now = START + 61
        assert two.get(REPORTS, headers=admin.headers).status_code == 429
        clock.now = START + 75  # 4 * 45/60 = 3 used: one fits
        assert one.get(REPORTS, headers=admin.headers).status_code == 200
        assert two.get(REPORTS, headers=admin.headers).status_code == 429


def test_redis_generate_counts_against_both(
    settings: Settings, admin: Caller, clock: Clock, redis_url: str
) -> None:
    limits = {"rate_limit": "3/minute", "rate_limit_generate": "1/minute", "redis_url": redis_url}
    generate = f"{REPORTS}/{uuid.uuid4()}/generate"
    with limited_client(settings, clock, **limits) as client:
        assert client.post(generate, json={}, headers=admin.headers).status_code == 404
        assert client.post(generate, json={}, headers=admin.headers).status_code == 429
        assert budget(client.get(REPORTS, headers=admin.headers))[1] == 1
        assert budget(client.get(REPORTS, headers=admin.headers))[1] == 0
        assert client.get(REPORTS, headers=admin.headers).status_code == 429


def test_without_redis_requests_go_through(
    settings: Settings, admin: Caller, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = {"rate_limit": "1/minute", "redis_url": "redis://127.0.0.1:9/0"}
    with limited_client(settings, clock, **dead) as client:
        for _ in range(3):
            answer = client.get(REPORTS, headers=admin.headers)
            assert answer.status_code == 200 and "RateLimit-Limit" not in answer.headers
    assert "rate limits are off" in caplog.text


def test_which_store_counts(settings: Settings) -> None:
    assert isinstance(make_backend(settings), MemoryBackend)
    celery = settings.model_copy(
        update={"executor": Executor.celery, "broker_url": "redis://h:6379/2"}
    )
    backend = make_backend(celery)
    assert isinstance(backend, RedisBackend) and backend.url == "redis://h:6379/2"
    rabbit = celery.model_copy(update={"broker_url": "amqp://guest@h//"})
    assert isinstance(make_backend(rabbit), MemoryBackend)
    own = rabbit.model_copy(update={"redis_url": "redis://r:6379/3"})
    assert getattr(make_backend(own), "url", None) == "redis://r:6379/3"
