"""BROADSHEET_DATASOURCE_ALLOWED_HOSTS: network sources reach only the listed names, wildcards
and networks, checked on save and again on the address resolved at every connection, which
then goes to that address. Real PostgreSQL; the resolver is the test's."""

from __future__ import annotations

import os
from typing import Any

import pydantic
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.datasources import connector
from broadsheet.datasources.hostguard import HostAllowlist
from broadsheet.kit import dburl
from tests.conftest import service_missing
from tests.factories import Tenancy
from tests.security.resolver import Resolver

SOURCES = "/api/v1/datasources"
SETTING = "BROADSHEET_DATASOURCE_ALLOWED_HOSTS"


def postgres_at(host: str) -> str:
    """The test PostgreSQL database, named by ``host`` (which the test's resolver answers)."""
    url = os.environ.get("BROADSHEET_TEST_DATABASE_URL", "")
    if not url:
        service_missing("PostgreSQL (BROADSHEET_TEST_DATABASE_URL)")
    return dburl.normalize(url).set(host=host).render_as_string(hide_password=False)


def with_hosts(settings: Settings, hosts: str) -> Settings:
    return Settings(**{**settings.model_dump(), "datasource_allowed_hosts": hosts})


def create(client: TestClient, headers: dict[str, str], name: str, url: str) -> Any:
    return client.post(SOURCES, json={"name": name, "url": url}, headers=headers)


def test_a_bad_entry_stops_the_start_naming_the_setting() -> None:
    for bad in ("10.0.0.0/33", "db.example.com/5432", "*.", "exa mple,com"):
        with pytest.raises(pydantic.ValidationError) as caught:
            Settings(datasource_allowed_hosts=bad)
        (error,) = caught.value.errors()
        assert error["loc"] == ("datasource_allowed_hosts",)


def test_sources_are_limited_to_the_listed_hosts_on_save(
    settings: Settings, tenancy: Tenancy, resolver: Resolver
) -> None:
    resolver.answer("pg.allowed.test", ["127.0.0.1"])
    resolver.answer("pg.elsewhere.test", ["127.0.0.1"])
    resolver.answer("pg.private.test", ["10.9.9.9"])
    admin = tenancy.key("acme").headers
    strict = with_hosts(settings, "*.allowed.test 127.0.0.0/8 db.example.test")
    with TestClient(create_app(strict, prepare=False), raise_server_exceptions=False) as client:
        made = create(client, admin, "named", postgres_at("pg.allowed.test"))
        assert made.status_code == 201, made.text
        # libpq cannot resolve pg.allowed.test itself: connecting proves it went to the
        # address the guard resolved and checked.
        tested = client.post(f"{SOURCES}/{made.json()['id']}/test", headers=admin).json()
        assert tested["ok"], tested
        assert create(client, admin, "cidr", postgres_at("pg.elsewhere.test")).status_code == 201
        refused = create(client, admin, "private", postgres_at("pg.private.test"))
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["errors"]
        assert error["field"] == "url"
        assert "resolves to 10.9.9.9" in error["message"]
        assert SETTING in error["message"]
    # Empty, the default: any host.
    assert not HostAllowlist.parse("")


def test_the_host_is_checked_again_at_every_connection(
    settings: Settings, resolver: Resolver
) -> None:
    """A name that resolved to an allowed address when the source was checked and to another
    one at the next connection (DNS rebinding) does not connect."""
    allowlist = HostAllowlist.parse("127.0.0.0/8")
    resolver.answer("pg.rebind.test", ["127.0.0.1"])
    url = connector.parse_source_url(postgres_at("pg.rebind.test"), [], allowed_hosts=allowlist)
    engine = connector.make_source_engine(url, allowlist)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT 1")) == 1
        engine.dispose()  # the next checkout makes a new connection
        resolver.answer("pg.rebind.test", ["10.9.9.9"])
        with pytest.raises(OperationalError) as caught, engine.connect():
            pass
        assert f"pg.rebind.test resolves to 10.9.9.9, which {SETTING} does not allow" in str(
            caught.value
        )
    finally:
        engine.dispose()
