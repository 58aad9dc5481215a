"""Source URLs a tenant admin may not register: Broadsheet's own metadata database under any
name, TLS files outside the tenant's folders, drivers we do not ship; and whatever a driver
says on ``/test`` is an answer, never a 500."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.datasources import connector
from broadsheet.datasources.service import DataSourceService
from broadsheet.db import session_scope
from broadsheet.kit import dburl
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body

SOURCES = "/api/v1/datasources"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


def create(client: TestClient, admin: Caller, url: str, name: str = "src") -> Any:
    return client.post(SOURCES, json={"name": name, "url": url}, headers=admin.headers)


def assert_url_refused(response: Any, *words: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "url", error
    for word in words:
        assert word in error["message"], error


def mysql_url() -> str:
    url = os.environ.get("BROADSHEET_TEST_MYSQL_URL", "")
    if not url:
        service_missing("MariaDB (BROADSHEET_TEST_MYSQL_URL)")
    return url


def tenant_dir(settings: Settings) -> Path:
    folder = settings.source_dirs_for("acme")[0]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_postgres_metadata_database_is_refused_by_any_name(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("this run's metadata database is SQLite (see the file test)")
    ours = dburl.normalize(settings.database_url)
    user, database = ours.username, str(ours.database)
    assert ours.host in ("127.0.0.1", "localhost") and (ours.port or 5432) == 5432
    for url in (
        settings.database_url,
        f"postgresql://{user}@localhost/{database}",
        f"postgresql://{user}:any@127.0.0.1:5432/{database}",
        f"postgresql+psycopg://{user}@[::1]:5432/{database}",
        f"postgres://{user}@127.0.0.2/{database}",
        f"postgresql://{user}@0.0.0.0/{database}",
        f"postgresql://{user}@LOCALHOST:5432/{database}?sslmode=disable",
    ):
        assert_url_refused(create(client, admin, url), "metadata database")
    # The same server's other databases are other databases.
    other = ours.set(database=database.removesuffix("_meta"))
    made = create(client, admin, other.render_as_string(hide_password=False))
    assert made.status_code == 201, made.text
    assert client.post(f"{SOURCES}/{made.json()['id']}/test", headers=admin.headers).json()["ok"]


def test_the_sqlite_metadata_file_is_refused_through_links(
    settings: Settings, sessions: sessionmaker[Session], tenancy: Tenancy
) -> None:
    """An operator folder that holds Broadsheet's own file (the data folder itself, say):
    the file stays out, however it is named."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("this run's metadata database is PostgreSQL (see the server test)")
    ours = Path(str(dburl.normalize(settings.database_url).database)).resolve()
    wide = settings.model_copy(update={"file_source_dirs": [settings.data_dir]})
    folder = tenant_dir(settings)
    symlink = folder / f"{uuid.uuid4()}.db"
    symlink.symlink_to(ours)
    hardlink = folder / f"{uuid.uuid4()}.db"
    os.link(ours, hardlink)
    admin = tenancy.key("acme")
    try:
        with TestClient(create_app(wide, prepare=False), raise_server_exceptions=False) as client:
            for url in (
                f"sqlite:///{ours}",
                f"sqlite:///{ours.parent}/./sources/../{ours.name}",
                f"sqlite:///{symlink}",
                f"sqlite:///{hardlink}",
                f"sqlite:///{ours}-wal",
                f"duckdb:///{ours}",
            ):
                assert_url_refused(create(client, admin, url), "metadata database")
            other = folder / f"{uuid.uuid4()}.db"
            assert create(client, admin, f"sqlite:///{other}").status_code == 201
    finally:
        symlink.unlink()
        hardlink.unlink()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://127.0.0.1:5432/",  # libpq: PGUSER or the account's name, and its database
        "postgresql://127.0.0.1:5432/sales",
        "postgresql://:pw@db.internal/sales",
        "postgresql://reader@127.0.0.1:5432/",
        "postgresql://reader:pw@db.internal",
    ],
)
def test_a_postgres_url_names_a_user_and_a_database(
    client: TestClient, admin: Caller, url: str
) -> None:
    """Else libpq picks them from Broadsheet's environment: ``postgresql://127.0.0.1:5432/``
    passed the metadata-database check and then logged in as the account Broadsheet runs as,
    to the database of that name."""
    response = create(client, admin, url)
    assert_url_refused(response, "name the user" if "reader" not in url else "name the database")


def test_a_postgres_client_certificate_comes_with_its_key(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    """libpq takes a missing key from ``PGSSLKEY`` or ``~/.postgresql/postgresql.key``:
    Broadsheet's own, with whichever certificate a tenant names."""
    folder = tenant_dir(settings)
    base = f"postgresql://u@db.internal/x?sslmode=require&sslcert={folder / 'c.pem'}"
    assert_url_refused(create(client, admin, base), "sslcert needs sslkey")
    made = create(client, admin, f"{base}&sslkey={folder / 'c.key'}")
    assert made.status_code == 201, made.text


def test_the_metadata_check_fills_broadsheets_own_url_as_libpq_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Broadsheet's own connection takes a missing port and database from PGPORT and
    PGDATABASE (a source's never do): the comparison uses what it really connects to."""
    monkeypatch.setenv("PGPORT", "5433")
    monkeypatch.setenv("PGDATABASE", "meta")
    ours = dburl.normalize("postgresql://127.0.0.1")
    same = connector.parse_source_url("postgresql://x@localhost:5433/meta", [])
    assert connector.is_metadata_database(same, ours)
    other = connector.parse_source_url("postgresql://x@localhost/meta", [])
    assert not connector.is_metadata_database(other, ours)  # 5432: a source ignores PGPORT
    monkeypatch.delenv("PGDATABASE")
    monkeypatch.setenv("PGUSER", "bs")
    assert connector.is_metadata_database(
        connector.parse_source_url("postgresql://x@localhost:5433/bs", []), ours
    )


@pytest.mark.parametrize(
    "option",
    [
        "ssl_ca=/etc/shadow",
        "ssl_cert=/etc/passwd",
        "ssl_key=/etc/ssl/private/x.key",
        "ssl_ca=../../../etc/shadow",
    ],
)
def test_mysql_file_options_outside_the_tenants_folders_are_refused(
    client: TestClient, admin: Caller, option: str
) -> None:
    response = create(client, admin, f"{mysql_url()}?{option}")
    assert_url_refused(response, "URL option", "tenant's folders")


@pytest.mark.parametrize("option", ["sslrootcert=/etc/shadow", "sslcert=/etc/passwd"])
def test_postgres_file_options_outside_the_tenants_folders_are_refused(
    client: TestClient, admin: Caller, option: str
) -> None:
    response = create(client, admin, f"postgresql://u@db.internal/x?sslmode=require&{option}")
    assert_url_refused(response, "URL option", "tenant's folders")


def test_a_file_option_in_the_tenants_folder_is_tested_without_a_500(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    """A CA file that is not a certificate: the TLS library raises its own error, which the
    connection test reports."""
    not_a_cert = tenant_dir(settings) / f"{uuid.uuid4()}.pem"
    not_a_cert.write_text("not a certificate\n")
    made = create(client, admin, f"{mysql_url()}?ssl_ca={not_a_cert}")
    assert made.status_code == 201, made.text
    tested = client.post(f"{SOURCES}/{made.json()['id']}/test", headers=admin.headers)
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is False and tested.json()["error"], tested.json()


def test_an_unknown_mysql_charset_is_refused(client: TestClient, admin: Caller) -> None:
    assert_url_refused(create(client, admin, f"{mysql_url()}?charset=bogus"), "charset")
    assert create(client, admin, f"{mysql_url()}?charset=utf8mb4").status_code == 201


def test_an_option_given_twice_is_refused(client: TestClient, admin: Caller) -> None:
    response = create(client, admin, f"{mysql_url()}?charset=utf8mb4&charset=latin1")
    assert_url_refused(response, "more than once")


@pytest.mark.parametrize(
    "scheme", ["sqlite+aiosqlite", "postgresql+asyncpg", "postgresql+psycopg2", "mysql+mysqldb"]
)
def test_drivers_we_do_not_ship_are_refused(
    client: TestClient, admin: Caller, settings: Settings, scheme: str
) -> None:
    where = f"/{tenant_dir(settings) / 'x.db'}" if scheme.startswith("sqlite") else "u@h/d"
    assert_url_refused(create(client, admin, f"{scheme}://{where}"), "unsupported driver")


def test_a_stored_source_refused_by_newer_rules_is_a_422_not_a_500(
    client: TestClient, admin: Caller, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """A source saved before a rule (here: written straight to the database) is refused on
    /test and when a report on it is saved, naming the field, never a 500."""
    made = create(client, admin, f"sqlite:///{tenant_dir(settings) / 'o.db'}", name="old")
    assert made.status_code == 201, made.text
    source_id = made.json()["id"]
    with session_scope(sessions) as session:
        cipher = DataSourceService(session, settings).cipher
        session.execute(
            update(models.DataSource)
            .where(models.DataSource.id == uuid.UUID(source_id))
            .values(
                url_encrypted=cipher.encrypt(f"sqlite+aiosqlite:///{tenant_dir(settings)}/o.db")
            )
        )
    tested = client.post(f"{SOURCES}/{source_id}/test", headers=admin.headers)
    assert_url_refused(tested, "unsupported driver")
    body = report_body(dataSource="old", query="SELECT 1 AS x", parameters=[], visualizations=[])
    saved = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert saved.status_code == 422, saved.text
    (error,) = saved.json()["errors"]
    assert error["field"] == "dataSource" and "unsupported driver" in error["message"]
