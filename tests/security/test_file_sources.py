"""SQLite and DuckDB sources only in the tenant's folders (its own, the shared one, and
BROADSHEET_FILE_SOURCE_DIRS), however the path is spelled: ``..`` and symbolic links are
resolved before the check. DuckDB opens them with external access off and its configuration
locked. Real files and links in temporary folders, through the API."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.datasources import connector
from tests.factories import Caller, Tenancy

SOURCES = "/api/v1/datasources"


def make_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".duckdb":
        duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1 AS a").close()
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (a INTEGER)")
        conn.close()
    return path


def scheme(path: Path) -> str:
    return "duckdb" if path.suffix == ".duckdb" else "sqlite"


def create(client: TestClient, caller: Caller, url: str) -> Any:
    body = {"name": f"src-{uuid.uuid4().hex[:8]}", "url": url}
    return client.post(SOURCES, json=body, headers=caller.headers)


def assert_refused(response: Any) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "url"
    assert "must lie in one of this tenant's folders" in error["message"]


@pytest.fixture
def own_dir(settings: Settings) -> Path:
    folder = settings.source_dirs_for("acme")[0]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("suffix", [".db", ".duckdb"])
def test_files_outside_the_tenants_folders_are_refused_however_spelled(
    client: TestClient, tenancy: Tenancy, own_dir: Path, tmp_path: Path, suffix: str
) -> None:
    admin = tenancy.key("acme")
    outside = make_file(tmp_path / "elsewhere" / f"secret{suffix}")
    inside = make_file(own_dir / f"{uuid.uuid4().hex}{suffix}")
    link = own_dir / f"{uuid.uuid4().hex}{suffix}"
    link.symlink_to(outside)
    folder_link = own_dir / f"dir-{uuid.uuid4().hex}"
    folder_link.symlink_to(outside.parent, target_is_directory=True)
    other_tenant = make_file(own_dir.parent / "globex" / f"{uuid.uuid4().hex}{suffix}")
    dots = "/".join([".."] * len(own_dir.parts))
    try:
        for path in (
            str(outside),
            f"{own_dir}/{dots}{outside}",  # up past the root and down again
            f"{own_dir}/../globex/{other_tenant.name}",  # another tenant's folder
            str(link),  # a link in the tenant's folder to a file outside
            f"{folder_link}/{outside.name}",  # through a linked folder
        ):
            assert_refused(create(client, admin, f"{scheme(outside)}:///{path}"))
        made = create(client, admin, f"{scheme(inside)}:///{inside}")
        assert made.status_code == 201, made.text
    finally:
        link.unlink()
        folder_link.unlink()


def test_an_operator_folder_admits_its_files_and_nothing_beside_it(
    settings: Settings, tenancy: Tenancy, tmp_path: Path
) -> None:
    extra = tmp_path / "operator"
    allowed = make_file(extra / "sales.duckdb")
    beside = make_file(tmp_path / "beside.duckdb")
    wide = settings.model_copy(update={"file_source_dirs": [extra]})
    admin = tenancy.key("acme")
    with TestClient(create_app(wide, prepare=False), raise_server_exceptions=False) as client:
        assert create(client, admin, f"duckdb:///{allowed}").status_code == 201
        assert_refused(create(client, admin, f"duckdb:///{extra}/../{beside.name}"))


def test_duckdb_sources_have_external_access_off_and_locked(tmp_path: Path) -> None:
    """Even a query that passed no check cannot read a file beside the source, attach
    another, load an extension or turn the setting back on."""
    source = make_file(tmp_path / "source.duckdb")
    (tmp_path / "beside.csv").write_text("a\n1\n")
    engine = connector.make_source_engine(connector.parse_source_url(
        f"duckdb:///{source}", [tmp_path]))  # fmt: skip
    try:
        for sql, said in (
            (f"SELECT * FROM read_csv('{tmp_path}/beside.csv')", "disabled by configuration"),
            (f"SELECT * FROM '{tmp_path}/beside.csv'", "disabled by configuration"),
            (f"ATTACH '{tmp_path}/other.duckdb' AS o", "disabled by configuration"),
            ("LOAD httpfs", "disabled"),
            ("SET enable_external_access = true", "locked"),
            ("SET autoload_known_extensions = true", "locked"),
        ):
            with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
                conn.execute(text(sql))
            assert said in str(caught.value), sql
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        engine.dispose()
    assert not (tmp_path / "other.duckdb").exists()
