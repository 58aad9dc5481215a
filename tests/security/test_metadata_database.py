"""No data source may name Broadsheet's own metadata database: not the same file (through
``..`` or a link), nor the same PostgreSQL server, port and database under another name."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broadsheet.app import create_app
from broadsheet.config import Settings
from broadsheet.kit import dburl
from tests.factories import Tenancy

SOURCES = "/api/v1/datasources"


def assert_refused(response: Any) -> None:
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "url"
    assert "Broadsheet's own metadata database" in error["message"]


def create(client: TestClient, headers: dict[str, str], url: str) -> Any:
    name = f"src-{uuid.uuid4().hex[:8]}"
    return client.post(SOURCES, json={"name": name, "url": url}, headers=headers)


def test_the_metadata_database_is_never_a_source(
    settings: Settings, tenancy: Tenancy, tmp_path: Path
) -> None:
    admin = tenancy.key("acme").headers
    ours = dburl.normalize(settings.database_url)
    # An operator folder that holds the metadata file, so only the metadata rule can refuse.
    wide = settings.model_copy(update={"file_source_dirs": [settings.data_dir, tmp_path]})
    with TestClient(create_app(wide, prepare=False), raise_server_exceptions=False) as client:
        if ours.get_backend_name() == "sqlite":
            path = Path(str(ours.database)).resolve()
            link = tmp_path / "innocent.db"
            link.symlink_to(path)
            for url in (
                f"sqlite:///{path}",
                f"sqlite:///{path.parent}/x/../{path.name}",
                f"sqlite:///{link}",
                f"duckdb:///{link}",
            ):
                assert_refused(create(client, admin, url))
        else:
            user, database = ours.username, ours.database
            for url in (
                f"postgresql://{user}@localhost:{ours.port or 5432}/{database}",
                f"postgresql://{user}:guess@127.0.0.1/{database}",
                f"postgresql+psycopg://{user}@[::1]:{ours.port or 5432}/{database}",
            ):
                assert_refused(create(client, admin, url))
            # The server's other databases are other databases.
            other = ours.set(database=str(database).removesuffix("_meta"))
            made = create(client, admin, other.render_as_string(hide_password=False))
            assert made.status_code == 201, made.text


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
def test_a_new_file_beside_the_metadata_one_is_allowed(
    settings: Settings, tenancy: Tenancy, scheme: str
) -> None:
    """The rule is about the one database, not the folder it is in."""
    admin = tenancy.key("acme").headers
    folder = settings.source_dirs_for("acme")[0]
    folder.mkdir(parents=True, exist_ok=True)
    with TestClient(create_app(settings, prepare=False)) as client:
        made = create(client, admin, f"{scheme}:///{folder / uuid.uuid4().hex}.db")
    assert made.status_code == 201, made.text
