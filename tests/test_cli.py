"""The broadsheet command, run in-process (typer's runner) and as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from broadsheet.cli import app
from broadsheet.config import Settings
from broadsheet.exports.filenames import content_disposition
from broadsheet.generate_cli import export_name
from tests.factories import Tenancy

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


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The in-process CLI on the tests' database and data dir (with its demo data)."""
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("BROADSHEET_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("BROADSHEET_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("BROADSHEET_DEFAULT_TENANT", "acme")
    return settings


def one_error(result: Result) -> str:
    """The failure said in one line of its own, with status 1 and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def generated(cli_env: Settings) -> str:
    """A result id of the Usage Summary over the first week of 2024, made by ``run``."""
    done = CliRunner().invoke(
        app, ["run", "Usage Summary", "-p", "startDate=2024-01-01", "-p", "endDate=2024-01-07"]
    )
    assert done.exit_code == 0, done.output
    found = re.search(r"result ([0-9a-f-]{36}): ([0-9,]+) rows", done.output)
    assert found and int(found[2]) > 0, done.output
    return found[1]


def test_export_into_a_folder_takes_the_download_name(
    cli_env: Settings, tenancy: Tenancy, client: TestClient, tmp_path: Path
) -> None:
    tenancy.demo("acme")
    result_id = generated(cli_env)
    into = tmp_path / "exports"
    into.mkdir()
    done = CliRunner().invoke(app, ["export", result_id, "-f", "csv", "-o", str(into)])
    assert done.exit_code == 0, done.output
    (written,) = into.iterdir()
    api = client.get(
        f"/api/v1/reports/results/{result_id}/export?format=csv",
        headers=tenancy.key("acme").headers,
    )
    assert f'filename="{written.name}"' in api.headers["content-disposition"]
    assert written.read_bytes() == api.content and api.content.count(b"\r\n") > 1
    assert f"wrote {written}" in done.output

    named = tmp_path / "mine.json"
    again = CliRunner().invoke(app, ["export", result_id, "-f", "json", "-o", str(named)])
    assert again.exit_code == 0 and named.read_text().startswith("{"), again.output

    ran = CliRunner().invoke(
        app,
        [
            *["run", "Usage Summary", "-p", "startDate=2024-01-08", "-p", "endDate=2024-01-14"],
            *["-f", "ndjson", "-o", str(into)],
        ],
    )
    assert ran.exit_code == 0, ran.output
    assert len(list(into.glob("usage-summary_*.ndjson"))) == 1


def test_export_names_a_unicode_report_as_the_download_does() -> None:
    at = datetime(2024, 5, 6, 13, 0, tzinfo=UTC)
    assert export_name(content_disposition("月次報告", at, "Asia/Tokyo", "csv")) == (
        "月次報告_2024-05-06_2200.csv"
    )
    assert export_name(content_disposition("Weekly P&L", at, "UTC", "pdf")) == (
        "weekly-p-l_2024-05-06_1300.pdf"
    )


def test_export_to_a_path_it_cannot_write_is_one_line(
    cli_env: Settings, tenancy: Tenancy, tmp_path: Path
) -> None:
    tenancy.demo("acme")
    result_id = generated(cli_env)
    too_long = tmp_path / ("x" * 300 + ".csv")
    line = one_error(
        CliRunner().invoke(app, ["export", result_id, "-f", "csv", "-o", str(too_long)])
    )
    assert "cannot write" in line and "too long" in line
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    line = one_error(
        CliRunner().invoke(app, ["export", result_id, "-f", "csv", "-o", str(a_file / "x.csv")])
    )
    assert "no folder" in line and str(a_file) in line
    assert list(tmp_path.iterdir()) == [a_file]
    # A trailing slash means a folder: a missing one is an error, never a file of its name.
    for meant in (tmp_path / "missing", a_file):
        line = one_error(
            CliRunner().invoke(app, ["export", result_id, "-f", "csv", "-o", f"{meant}/"])
        )
        assert "no folder" in line and str(meant) in line
    assert list(tmp_path.iterdir()) == [a_file] and a_file.read_text() == ""


def test_export_of_an_unknown_result_is_one_line(cli_env: Settings, tenancy: Tenancy) -> None:
    tenancy.demo("acme")
    unknown = str(uuid.uuid4())
    assert one_error(CliRunner().invoke(app, ["export", unknown, "-f", "csv"])) == (
        f"error: no result {unknown}"
    )
    theirs = generated(cli_env)  # acme's result is no other tenant's
    tenancy.key("other")
    line = one_error(CliRunner().invoke(app, ["export", theirs, "-f", "csv", "--tenant", "other"]))
    assert line == f"error: no result {theirs}"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["export", "not-a-uuid", "-f", "csv"], "not a result id"),
        (["export", "00000000-0000-0000-0000-000000000000", "-f", "xls"], "'xls' is not a format"),
        (
            ["export", "00000000-0000-0000-0000-000000000000", "-f", "csv", "--tenant", "nope"],
            "no tenant 'nope'",
        ),
        (
            [
                "export",
                "00000000-0000-0000-0000-000000000000",
                "-f",
                "csv",
                "-o",
                "/no/such/dir/x.csv",
            ],
            "no folder '/no/such/dir'",
        ),
        (["run", "No Such Report"], "no report called 'No Such Report'"),
        (["run", "00000000-0000-0000-0000-000000000000"], "no report called"),
        (["run", "Usage Summary", "--tenant", "nope"], "no tenant 'nope'"),
        (["run", "Usage Summary", "-p", "startDate"], "--param takes name=value"),
        (
            ["run", "Usage Summary", "-p", "startDate=soon", "-p", "endDate=2024-01-07"],
            "startDate: 'soon' is not a date",
        ),
        (["run", "Usage Summary", "-p", "startDate=2024-01-01"], "endDate"),
        (["run", "Usage Summary", "-f", "docx"], "'docx' is not a format"),
        (["run", "Usage Summary", "-o", "x.csv"], "--output needs --format"),
        (["keys", "revoke", "not-a-uuid"], "not a key id"),
        (["keys", "revoke", "00000000-0000-0000-0000-000000000000"], "no API key"),
        (["keys", "list", "--tenant", "nope"], "no tenant 'nope'"),
        (
            [
                "keys",
                "create",
                "--tenant",
                "acme",
                "--role",
                "viewer",
                "--name",
                "x",
                "--email",
                "x",
            ],
            "'x' is not an email address",
        ),
        (
            ["keys", "create", "--tenant", "Not A Slug", "--role", "viewer", "--name", "x"],
            "lowercase",
        ),
        (["demo", "--tenant", "Not A Slug"], "lowercase"),
        (["migrate", "no-such-revision"], "no-such-revision"),
        (["worker", "--pool", "gevent-ish"], "unknown pool"),
        (["worker", "--queues", "urgent"], "unknown queue(s) urgent"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_bad_arguments_are_one_line_never_a_traceback(
    cli_env: Settings, tenancy: Tenancy, args: list[str], said: str
) -> None:
    tenancy.demo("acme")
    assert said in one_error(CliRunner().invoke(app, args))


def test_bad_settings_and_an_absent_database_are_one_line(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BROADSHEET_PORT", "eighty")
    line = one_error(CliRunner().invoke(app, ["keys", "list"]))
    assert line.startswith("error: BROADSHEET_PORT: ") and "integer" in line
    monkeypatch.delenv("BROADSHEET_PORT")
    monkeypatch.setenv("BROADSHEET_DB_POOL_SIZE", "8")
    monkeypatch.setenv("BROADSHEET_REQUEST_THREADS", "2")
    line = one_error(CliRunner().invoke(app, ["keys", "list"]))
    assert line == ("error: BROADSHEET_REQUEST_THREADS must be at least BROADSHEET_DB_POOL_SIZE"), (
        line
    )
    monkeypatch.delenv("BROADSHEET_REQUEST_THREADS")
    for url in ("ftp://host/x", "s3://", "file://"):
        monkeypatch.setenv("BROADSHEET_STORAGE_URL", url)
        line = one_error(CliRunner().invoke(app, ["export", "x", "-f", "csv"]))
        assert line == "error: BROADSHEET_STORAGE_URL: use file:///path or s3://bucket/prefix"
    monkeypatch.delenv("BROADSHEET_STORAGE_URL")
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    for command in (["keys", "list"], ["serve"], ["scheduler"], ["demo"]):
        line = one_error(CliRunner().invoke(app, command))
        assert line.startswith("error: the database: ") and "refused" in line, command
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    line = one_error(CliRunner().invoke(app, ["keys", "list"]))
    assert line.endswith("; run broadsheet migrate")
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", "not a url")
    line = one_error(CliRunner().invoke(app, ["migrate"]))
    assert line.startswith("error: the database: ") and "URL" in line


def test_out_of_range_options_are_usage_errors() -> None:
    for args in (["serve", "--port", "99999"], ["export", "x", "-f", "pdf", "--pdf-max-rows", "0"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "Invalid value" in result.output, result.output


def test_a_real_process_says_one_line_on_stderr(cli_env: Settings, tenancy: Tenancy) -> None:
    tenancy.demo("acme")
    unknown = str(uuid.uuid4())
    done = run(["export", unknown, "--format", "csv"], {})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == f"error: no result {unknown}"
