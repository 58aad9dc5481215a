"""The broadsheet command, run in-process (typer's runner) and as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from broadsheet.cli import app
from broadsheet.config import Settings

COMMANDS = ["serve", "worker", "scheduler", "migrate", "keys", "demo"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broadsheet", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert re.search(rf"│ {command}\s", result.output), command
    for command in [*COMMANDS, "keys create", "keys list", "keys revoke"]:
        sub = CliRunner().invoke(app, [*command.split(), "--help"])
        assert sub.exit_code == 0, (command, sub.output)
        assert "Usage:" in sub.output


def test_keys_create_prints_a_working_key(
    settings: Settings, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("BROADSHEET_SECRET_KEY", settings.secret_key)
    result = CliRunner().invoke(
        app, ["keys", "create", "--tenant", "acme", "--role", "viewer", "--name", "cli"]
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("bs_") and len(key) > 40
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/reports", headers=headers).status_code == 200

    listing = CliRunner().invoke(app, ["keys", "list", "--tenant", "acme"])
    assert "cli" in listing.output and "viewer" in listing.output
    assert key not in listing.output

    bad = CliRunner().invoke(
        app, ["keys", "create", "--tenant", "Not A Slug", "--role", "admin", "--name", "x"]
    )
    assert bad.exit_code == 1 and "lowercase" in bad.output
    bad_role = CliRunner().invoke(
        app, ["keys", "create", "--tenant", "acme", "--role", "owner", "--name", "x"]
    )
    assert bad_role.exit_code == 2


def test_fresh_data_dir_migrates_and_installs_the_demo(tmp_path: Path) -> None:
    """A real process with no configuration but a data dir: what `make run` relies on."""
    env = {"BROADSHEET_DATA_DIR": str(tmp_path)}
    for var in ("BROADSHEET_DATABASE_URL", "BROADSHEET_SECRET_KEY"):
        env[var] = ""
    demo = run(["demo"], env)
    assert demo.returncode == 0, demo.stderr
    assert "added data source portfolio_analytics" in demo.stdout
    assert "added report Monthly Performance Report" in demo.stdout
    again = run(["demo"], env)
    assert "complete already" in again.stdout
    assert (tmp_path / "broadsheet.db").exists()
    secret = tmp_path / "secret.key"
    assert secret.stat().st_mode & 0o777 == 0o600
    migrate = run(["migrate"], env)
    assert migrate.returncode == 0 and "to head" in migrate.stdout
