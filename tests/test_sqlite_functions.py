"""No SQLite connection of Broadsheet's runs ``fts3_tokenizer`` (it takes and reveals memory
addresses: the two-argument form crashes the process) or ``load_extension``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from broadsheet.config import Settings
from broadsheet.datasources import connector
from broadsheet.db import make_engine
from tests.factories import Caller, Tenancy, report_body


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


@pytest.fixture
def fts_file(settings: Settings) -> Path:
    """A tenant's SQLite file holding an FTS4 table, as a search index would."""
    path = settings.source_dirs_for("acme")[0] / f"{uuid.uuid4()}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIRTUAL TABLE notes USING fts4(body)")
    conn.execute("INSERT INTO notes VALUES ('quarterly numbers'), ('weekly numbers')")
    conn.commit()
    conn.close()
    return path


def test_the_leaking_form_works_on_a_plain_connection_so_the_guard_is_what_stops_it() -> None:
    leaked = sqlite3.connect(":memory:").execute("SELECT fts3_tokenizer('simple')").fetchone()
    assert isinstance(leaked[0], bytes) and len(leaked[0]) == 8  # an address


def test_a_report_calling_fts3_tokenizer_is_refused_when_saved(
    client: TestClient, admin: Caller, fts_file: Path
) -> None:
    made = client.post(
        "/api/v1/datasources",
        json={"name": "search", "url": f"sqlite:///{fts_file}"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    for query in (
        "SELECT fts3_tokenizer('simple') AS r",
        "SELECT FTS3_Tokenizer('simple', X'4141414141414141') AS r",
        "SELECT load_extension('/tmp/x') AS r",
    ):
        body = report_body(
            name=f"Probe {uuid.uuid4()}",
            dataSource="search",
            query=query,
            parameters=[],
            visualizations=[],
            datasets={"hits": "SELECT body FROM notes WHERE notes MATCH 'numbers'"},
        )
        refused = client.post("/api/v1/reports", json=body, headers=admin.headers)
        assert refused.status_code == 422, (query, refused.text)
        (error,) = refused.json()["errors"]
        assert error["field"] == "query" and "not authorized" in error["message"], error
    # The source itself is fine: its FTS table can be searched.
    body = report_body(
        name="Search",
        dataSource="search",
        query="SELECT body FROM notes WHERE notes MATCH 'weekly'",
        parameters=[],
        visualizations=[],
    )
    assert client.post("/api/v1/reports", json=body, headers=admin.headers).status_code == 201


def test_the_crashing_form_is_refused_and_the_process_lives(fts_file: Path) -> None:
    """Run where a crash cannot take the test run with it: a child process."""
    program = (
        "import sys\n"
        "from sqlalchemy import text\n"
        "from sqlalchemy.engine import make_url\n"
        "from broadsheet.datasources import connector\n"
        "engine = connector.make_source_engine(make_url(sys.argv[1]))\n"
        "with engine.connect() as conn:\n"
        "    try:\n"
        "        conn.execute(text(\"SELECT fts3_tokenizer('simple', X'4141414141414141')\"))\n"
        "        conn.execute(text(\"SELECT * FROM notes WHERE notes MATCH 'numbers'\")).all()\n"
        "    except Exception as exc:\n"
        "        print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, f"sqlite:///{fts_file}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "refused:" in done.stdout and "not authorized" in done.stdout


def test_the_metadata_database_refuses_them_too(tmp_path: Path) -> None:
    for engine in (
        make_engine(f"sqlite:///{tmp_path / 'meta.db'}"),
        connector.make_source_engine(
            connector.parse_source_url(f"sqlite:///{tmp_path / 'meta.db'}", [tmp_path])
        ),
    ):
        try:
            with engine.connect() as conn:
                with pytest.raises(OperationalError, match="not authorized"):
                    conn.execute(text("SELECT fts3_tokenizer('simple')"))
                assert conn.execute(text("SELECT upper('ok')")).scalar() == "OK"
        finally:
            engine.dispose()
