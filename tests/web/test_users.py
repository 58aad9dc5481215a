"""Who can sign in: `broadsheet users create`, the bootstrap admin's password, and the demo
admin a fresh embedded install makes and shows once."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pydantic
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from broadsheet import startup
from broadsheet.cli import app
from broadsheet.config import Settings
from broadsheet.db import make_engine, make_sessionmaker, session_scope
from broadsheet.models import ApiKey, Role, Tenant, User
from tests.web.helpers import PASSWORD, add_user, page_client, sign_in


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("BROADSHEET_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("BROADSHEET_SECRET_KEY", settings.secret_key)
    return settings


def _users(sessions: sessionmaker[Session]) -> list[tuple[str, str | None, str, str]]:
    with session_scope(sessions) as session:
        rows = session.execute(
            select(Tenant.slug, User.email, User.role, User.name)
            .join(Tenant, User.tenant_id == Tenant.id)
            .order_by(Tenant.slug, User.email)
        )
        return [(slug, email, role, name) for slug, email, role, name in rows]


def test_users_create_reads_the_password_from_stdin(
    cli_env: Settings, sessions: sessionmaker[Session]
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "users",
            "create",
            "--tenant",
            "newco",
            "--email",
            "Eve@NewCo.test",
            "--role",
            "editor",
            "--password-stdin",
        ],
        input=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "eve@newco.test in tenant newco, role editor: created" in result.output
    assert PASSWORD not in result.output
    assert _users(sessions) == [("newco", "eve@newco.test", "editor", "eve")]  # tenant made
    with page_client(cli_env) as web:
        assert sign_in(web, "eve@newco.test").status_code == 303


def test_users_create_prompts_for_the_password_twice(
    cli_env: Settings, sessions: sessionmaker[Session]
) -> None:
    args = ["--tenant", "acme", "--email", "max@acme.test", "--role", "viewer"]
    result = CliRunner().invoke(
        app,
        ["users", "create", *args, "--name", "Max Mustermann"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden as typed
    assert _users(sessions) == [("acme", "max@acme.test", "viewer", "Max Mustermann")]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--email", "a@acme.test"], "eleven char\n", "password: use at least 12 characters"),
        (["--email", "a@acme.test"], "\n", "password: use at least 12 characters"),
        (["--email", "not-an-email"], f"{PASSWORD}\n", "--email: 'not-an-email' is not an email"),
        (["--email", "a@acme.test", "--name", " "], f"{PASSWORD}\n", "--name: give the user"),
        (["--email", "a@acme.test", "--tenant", "Bad Slug"], f"{PASSWORD}\n", "tenant: use 1-63"),
    ],
)
def test_users_create_refuses_bad_input(
    cli_env: Settings, sessions: sessionmaker[Session], args: list[str], stdin: str, message: str
) -> None:
    if "--tenant" not in args:
        args = [*args, "--tenant", "acme"]
    result = CliRunner().invoke(
        app, ["users", "create", "--role", "admin", "--password-stdin", *args], input=stdin
    )
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert _users(sessions) == []


def test_users_create_gives_an_existing_user_a_password(
    cli_env: Settings, sessions: sessionmaker[Session]
) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--tenant",
            "acme",
            "--role",
            "viewer",
            "--name",
            "Robo",
            "--email",
            "robo@acme.test",
        ],
    )
    assert made.exit_code == 0, made.output
    user = add_user(sessions, email="robo@acme.test", role=Role.viewer)
    assert not user.created  # the key's user, now with a password
    with page_client(cli_env) as web:
        sign_in(web, "robo@acme.test")
        assert web.get("/probe").status_code == 200
        result = runner.invoke(
            app,
            [
                "users",
                "create",
                "--tenant",
                "acme",
                "--email",
                "robo@acme.test",
                "--role",
                "editor",
                "--password-stdin",
            ],
            input="a different long password\n",
        )
        assert result.exit_code == 0, result.output
        assert "updated" in result.output
        assert web.get("/probe").status_code == 303  # signed out everywhere
    assert _users(sessions) == [("acme", "robo@acme.test", "editor", "Robo")]
    with session_scope(sessions) as session:
        assert session.scalar(select(ApiKey.revoked_at)) is None  # its key still works


def test_the_help_names_the_users_command() -> None:
    for command in (["users", "--help"], ["users", "create", "--help"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
    assert "--password-stdin" in CliRunner().invoke(app, ["users", "create", "--help"]).output


# --- at start-up -----------------------------------------------------------------------------


def test_the_bootstrap_admin_signs_in_with_the_configured_password(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    configured = settings.model_copy(
        update={
            "bootstrap_admin_key": "bs_bootstrap-key-0123456789",
            "bootstrap_admin_email": "ops@example.com",
            "bootstrap_admin_password": "the ops password",
            "default_tenant": "ops",
        }
    )
    startup.prepare(configured, sessions)
    assert _users(sessions) == [("ops", "ops@example.com", "admin", "bootstrap admin")]
    with page_client(configured) as web:
        assert sign_in(web, "ops@example.com", "the ops password").status_code == 303
    # A password changed since is kept at the next start.
    add_user(sessions, tenant="ops", email="ops@example.com", password="changed in the ui")
    startup.prepare(configured, sessions)
    with page_client(configured) as web:
        assert sign_in(web, "ops@example.com", "the ops password").status_code == 401
        assert sign_in(web, "ops@example.com", "changed in the ui").status_code == 303


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"bootstrap_admin_email": "ops@example.com", "bootstrap_admin_password": "short"},
            "BROADSHEET_BOOTSTRAP_ADMIN_PASSWORD: use at least 12 characters",
        ),
        (
            {"bootstrap_admin_password": "long enough password"},
            "BROADSHEET_BOOTSTRAP_ADMIN_PASSWORD needs BROADSHEET_BOOTSTRAP_ADMIN_EMAIL",
        ),
    ],
)
def test_a_bootstrap_password_that_cannot_work_is_refused(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Settings(**values)  # type: ignore[arg-type]


def _fresh(tmp_path: Path, **values: object) -> tuple[Settings, sessionmaker[Session]]:
    """A fresh embedded install: its own data dir, the default SQLite database in it."""
    given: dict[str, object] = {
        "database_url": "",  # whatever the environment or a .env file says
        "bootstrap_admin_email": "",
        "bootstrap_admin_password": "",
        **values,
    }
    settings = Settings(data_dir=tmp_path, secret_key="a-test-secret", demo=False, **given)  # type: ignore[arg-type]
    engine = make_engine(settings.resolved_database_url)
    return settings, make_sessionmaker(engine)


def test_a_fresh_embedded_start_makes_a_demo_admin_and_says_its_password_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, sessions = _fresh(tmp_path)
    with caplog.at_level(logging.INFO, logger="broadsheet.startup"):
        startup.prepare(settings, sessions)
    said = [r.getMessage() for r in caplog.records if "/login" in r.getMessage()]
    assert len(said) == 1
    found = re.search(r"sign in at (\S+)/login as (\S+) with the password (\S+) ", said[0])
    assert found
    base, email, password = found.groups()
    assert base == "http://127.0.0.1:8000" and email == "admin@example.com"
    assert len(password) >= 12
    with page_client(settings) as web:
        answer = sign_in(web, email, password)
        assert answer.status_code == 303
        assert "Demo admin" in web.get("/probe/admin").text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="broadsheet.startup"):
        startup.prepare(settings, sessions)
    assert not [r for r in caplog.records if password in r.getMessage()]
    assert len(_users(sessions)) == 1
    sessions.kw["bind"].dispose()


@pytest.mark.parametrize(
    "values",
    [
        {"bootstrap_admin_email": "ops@example.com"},  # the operator named the first admin
        {"database_url": "SQLITE"},  # not the embedded default database
    ],
)
def test_no_demo_admin_when_the_install_is_configured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, values: dict[str, str]
) -> None:
    if values.get("database_url") == "SQLITE":
        values = {"database_url": f"sqlite:///{tmp_path / 'configured.db'}"}
    settings, sessions = _fresh(tmp_path, **values)
    with caplog.at_level(logging.INFO, logger="broadsheet.startup"):
        startup.prepare(settings, sessions)
    assert not [r for r in caplog.records if "with the password" in r.getMessage()]
    assert any("nobody can sign in" in r.getMessage() for r in caplog.records)
    with session_scope(sessions) as session:
        assert session.scalar(select(User.id).where(User.password_hash.is_not(None))) is None
    sessions.kw["bind"].dispose()


def test_no_demo_admin_once_someone_can_sign_in(tmp_path: Path) -> None:
    settings, sessions = _fresh(tmp_path)
    startup.prepare(settings, sessions)  # the demo admin
    with session_scope(sessions) as session:
        session.execute(delete(User))
    add_user(sessions, tenant="acme")
    startup.prepare(settings, sessions)
    assert [email for _, email, _, _ in _users(sessions)] == ["admin@acme.test"]
    sessions.kw["bind"].dispose()
