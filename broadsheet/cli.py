"""The ``broadsheet`` command."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
import sqlalchemy.exc
import typer
from alembic.util import CommandError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from broadsheet import __version__
from broadsheet.audit import cli as audit_cli
from broadsheet.config import Settings
from broadsheet.db import standalone_session
from broadsheet.errors import BroadsheetError
from broadsheet.models import Role

if TYPE_CHECKING:
    from datetime import datetime

    from fastapi import FastAPI

console = Console()
errors = Console(stderr=True)


def _fail(*lines: str) -> typer.Exit:
    """Say what went wrong, a line each, on stderr; raise what this returns (status 1)."""
    for line in lines:
        errors.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True, highlight=False)
    return typer.Exit(code=1)


# Cannot connect, or the schema is not there (``broadsheet migrate``): not a bug in Broadsheet.
DATABASE_TROUBLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.ProgrammingError,
)


def _explained(exc: Exception) -> list[str]:
    """An expected failure in a line or a few: bad input, settings, the database, files."""
    if isinstance(exc, BroadsheetError):
        return [f"{e['field']}: {e['message']}" for e in exc.errors or []] or [exc.detail]
    if isinstance(exc, pydantic.ValidationError):
        prefix = "BROADSHEET_" if exc.title == Settings.__name__ else ""
        # A check of several settings together names none (its message names them).
        return [
            (f"{prefix}{str(e['loc'][0]).upper()}: " if e["loc"] else "")
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        ]
    if isinstance(exc, DATABASE_TROUBLE):
        said = _first_line(exc.orig)
        missing = "no such table" in said or "does not exist" in said
        return [f"the database: {said}" + ("; run broadsheet migrate" if missing else "")]
    if isinstance(exc, sqlalchemy.exc.ArgumentError):  # BROADSHEET_DATABASE_URL's form
        return [f"the database: {_first_line(exc)}"]
    if isinstance(exc, OSError) and exc.strerror:
        return [f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror]
    return [_first_line(exc)]


def _first_line(exc: BaseException | None) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class _Commands(TyperGroup):
    """Every command meets bad input (and settings, a database that does not answer, files it
    cannot write) with a message and status 1, never a traceback; bugs still show theirs."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click.Context
        try:
            return super().invoke(ctx)
        except (
            BroadsheetError,
            pydantic.ValidationError,
            sqlalchemy.exc.ArgumentError,
            *DATABASE_TROUBLE,
            CommandError,
            OSError,
        ) as exc:
            raise _fail(*_explained(exc)) from None


app = typer.Typer(
    cls=_Commands,
    help="Broadsheet: reports over your own databases, on demand or on a schedule.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list, rotate and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
users_app = typer.Typer(help="Create users who sign in to the web UI.", no_args_is_help=True)
app.add_typer(users_app, name="users")
secrets_app = typer.Typer(help="Manage the keys that protect stored secrets.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
app.add_typer(audit_cli.app, name="audit")


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default BROADSHEET_HOST.")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Default BROADSHEET_PORT.")
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API (migrating and adding the demo first, unless configured not to)."""
    import uvicorn

    # As settings, not only as uvicorn's arguments: links the server makes (artifact links,
    # embed URLs) name the address it serves on, in this process and in each one it starts.
    if host:
        os.environ["BROADSHEET_HOST"] = host
    if port:
        os.environ["BROADSHEET_PORT"] = str(port)
    settings = Settings()
    _database_answers(settings)
    _log_info()
    if reload:
        uvicorn.run(
            "broadsheet.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            reload=True,
            log_config=None,
        )
        return
    processes = settings.resolved_serve_processes
    if processes == 1:
        from broadsheet.app import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)
        return
    # Several processes count into files of one directory that /metrics sums; set before
    # any of them (or this one) imports prometheus-client.
    _count_in_files(settings, f"serve-{settings.port}")
    # Start-up work (migrations, bootstrap key, demo) once, here, before the processes that
    # serve start: each then starts with nothing left to create, and none races another.
    _prepare(settings)
    uvicorn.run(
        "broadsheet.cli:serving_app",
        factory=True,
        workers=processes,
        host=settings.host,
        port=settings.port,
        # uvicorn's lines go to the root logger, so they take BROADSHEET_LOG_FORMAT too.
        log_config=None,
        # A process that does not answer the supervisor's ping in time is killed and started
        # anew. Importing the app (Arrow, the chart and PDF renderers) holds the interpreter
        # for seconds on a busy machine, and uvicorn's 5 s killed processes that were only
        # starting; a process truly stuck is still replaced, later.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


WORKER_HEALTHCHECK_SECONDS = 30


def serving_app() -> FastAPI:
    """The application in each of ``serve``'s processes (uvicorn starts them, by this name)."""
    from broadsheet.app import create_app

    _log_info()
    return create_app(Settings(), prepare=False)


def _prepare(settings: Settings) -> None:
    from broadsheet import startup
    from broadsheet.db import make_engine, make_sessionmaker

    _ = settings.resolved_secret_key  # made now: each process would make its own
    engine = make_engine(settings.resolved_database_url)
    try:
        startup.prepare(settings, make_sessionmaker(engine))
    finally:
        engine.dispose()


POOLS = ("threads", "prefork", "solo")


METRICS_PORT = typer.Option(
    "--metrics-port",
    min=1,
    max=65535,
    help="Serve this process's metrics on http://BROADSHEET_HOST:PORT/metrics "
    "(needs BROADSHEET_METRICS_TOKEN).",
)


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated: high (on-demand), low (scheduled).")
    ] = "high,low",
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 4,
    pool: Annotated[str, typer.Option(help="Celery pool: threads, prefork or solo.")] = "threads",
    metrics_port: Annotated[int | None, METRICS_PORT] = None,
) -> None:
    """Run a Celery worker that generates reports (BROADSHEET_EXECUTOR=celery)."""
    from broadsheet.jobs.executors.celery_executor import QUEUES, make_celery

    settings = Settings()
    unknown = [q for q in queues.split(",") if q not in QUEUES]
    if unknown:
        raise _fail(f"unknown queue(s) {', '.join(unknown)}; use high and/or low")
    if pool not in POOLS:
        raise _fail(f"unknown pool {pool!r}; use {', '.join(POOLS)}")
    _metrics_token_set(settings, metrics_port)
    _log_info()
    if metrics_port is not None:
        # With prefork, jobs run in child processes: they count into files this one sums.
        files = f"worker-{metrics_port}" if pool == "prefork" else None
        _serve_metrics(settings, metrics_port, files=files)
    from celery import signals

    from broadsheet import tracing

    tracing.setup(settings, "broadsheet-worker")
    # Logging is ours (broadsheet.logs): Celery's lines, its tasks' too, take the format.
    signals.setup_logging.connect(_logging_is_ours, weak=False)
    celery_app = make_celery(settings)
    # In JSON, not even the start-up banner is a line of plain text.
    quiet = ["--quiet"] if settings.log_format == "json" else []
    celery_app.worker_main(
        [
            *quiet,
            "worker",
            "--loglevel=INFO",
            f"--queues={','.join(QUEUES[q] for q in queues.split(','))}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def run(
    report: Annotated[str, typer.Argument(help="A report's id or exact name.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value; repeat for more.")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Default BROADSHEET_DEFAULT_TENANT.")] = None,
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="Also export: pdf, excel, csv, json…")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Export file, or a folder for the download name."),
    ] = None,
) -> None:
    """Generate a report now, in this process, and say where the result is (and export it)."""
    from broadsheet.generate_cli import run_report

    settings = Settings()
    try:
        values = dict(_split_param(p) for p in param or [])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if output and not format:
        raise _fail("--output needs --format")
    code = run_report(
        settings,
        tenant or settings.default_tenant,
        report,
        values,
        console,
        format,
        output,
    )
    raise typer.Exit(code)


@app.command()
def export(
    result_id: Annotated[str, typer.Argument(help="A result's id (from run or the API).")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="pdf, excel, csv, json, ndjson or parquet.")
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="A file, or a folder; default: the download name, here."
        ),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Default BROADSHEET_DEFAULT_TENANT.")] = None,
    bom: Annotated[bool, typer.Option(help="CSV: start with a UTF-8 BOM.")] = False,
    pdf_max_rows: Annotated[int | None, typer.Option(min=1, max=10_000)] = None,
) -> None:
    """Write a stored result as a file, with a progress bar on large exports."""
    from broadsheet.generate_cli import export_result

    settings = Settings()
    code = export_result(
        settings,
        tenant or settings.default_tenant,
        result_id,
        format,
        output,
        console,
        bom=bom,
        pdf_max_rows=pdf_max_rows,
    )
    raise typer.Exit(code)


def _logging_is_ours(**_: object) -> None:
    """Celery's ``setup_logging`` signal: with a receiver, Celery leaves logging alone."""


def _log_info() -> None:
    """What the long-running commands log, and how: INFO and up, on stderr (``broadsheet.logs``)."""
    from broadsheet import logs

    logs.configure(Settings().log_format)


def _database_answers(settings: Settings) -> None:
    """Fail here, in one line, when the metadata database does not answer, rather than in a
    server's or ticker's log."""
    from broadsheet.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def _split_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--param takes name=value, not {text!r}")
    return name.strip(), value


def _metrics_token_set(settings: Settings, port: int | None) -> None:
    """Refuse ``--metrics-port`` without a token at once, before any other start-up work."""
    if port is not None and not settings.metrics_token:
        raise _fail("--metrics-port needs BROADSHEET_METRICS_TOKEN (scrapers send it)")


def _count_in_files(settings: Settings, name: str) -> None:
    from broadsheet.metrics import multiprocess

    multiprocess.use_fresh_directory(settings.data_dir / "metrics" / name)


def _serve_metrics(
    settings: Settings, port: int, sessions: Any = None, *, files: str | None = None
) -> None:
    """``--metrics-port``: this process's metrics (and, given ``sessions``, the gauges read
    from the database) on the port, behind the metrics token."""
    _metrics_token_set(settings, port)
    if files:
        _count_in_files(settings, files)
    from broadsheet.metrics import server

    server.start(settings.host, port, settings.metrics_token, sessions)


@app.command()
def scheduler(metrics_port: Annotated[int | None, METRICS_PORT] = None) -> None:
    """Run the schedule ticker (and job recovery) on its own; several may run at once."""
    from broadsheet import tracing
    from broadsheet.jobs.executors import make_executor
    from broadsheet.jobs.maintenance import Maintenance
    from broadsheet.kit.gc import freeze_startup_objects
    from broadsheet.runtime import Runtime
    from broadsheet.schedules.scheduler import Scheduler

    settings = Settings()
    _metrics_token_set(settings, metrics_port)
    _database_answers(settings)
    _log_info()
    tracing.setup(settings, "broadsheet-scheduler")  # before the engine, so queries are traced
    runtime = Runtime.build(settings)
    if metrics_port is not None:
        _serve_metrics(settings, metrics_port, runtime.sessions)
    executor = make_executor(runtime)  # only to dispatch; jobs run in serve or the workers
    maintenance = Maintenance(runtime, executor)
    maintenance.start()
    freeze_startup_objects()
    console.print(f"scheduler ticking every {settings.scheduler_tick_seconds:g} s")
    try:
        Scheduler(runtime, executor).run()
    except KeyboardInterrupt:
        pass
    finally:
        maintenance.stop()
        runtime.engine.dispose()


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Bring the metadata database's schema up to date."""
    from broadsheet import migrate as migrations

    settings = Settings()
    migrations.upgrade(settings.resolved_database_url, revision)
    console.print(f"migrated {_masked(settings.resolved_database_url)} to {revision}")


@app.command()
def demo(
    tenant: Annotated[str | None, typer.Option(help="Default BROADSHEET_DEFAULT_TENANT.")] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Make the demo data anew, up to today.")
    ] = False,
) -> None:
    """Add the demo data source and reports to a tenant (what is there already stays)."""
    from broadsheet import demo as demo_data
    from broadsheet import migrate as migrations

    settings = Settings()
    migrations.upgrade(settings.resolved_database_url)
    with standalone_session(settings.resolved_database_url) as session:
        added = demo_data.install(
            session, settings, tenant or settings.default_tenant, refresh=refresh
        )
    console.print("\n".join(f"added {item}" for item in added) or "the demo is complete already")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug; created if new.")],
    role: Annotated[Role, typer.Option(help="What the key's user may do.")],
    name: Annotated[str, typer.Option(help="A name for the key's user.")],
    email: Annotated[
        str | None, typer.Option(help="The user's email; an existing user with it gets the key.")
    ] = None,
    scopes: Annotated[
        str | None,
        typer.Option(help="Comma-separated: read, run, write, admin. Default: all the role uses."),
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="When the key stops working (ISO 8601 with a time zone).")
    ] = None,
) -> None:
    """Create an API key and print its id and the key, once (only its hash is stored)."""
    from datetime import datetime

    from broadsheet.auth import keys, service
    from broadsheet.deliveries.recipients import EMAIL, MAX_EMAIL

    if not name.strip():
        raise _fail("--name: give the key's user a name")
    if email is not None and not (len(email) <= MAX_EMAIL and EMAIL.fullmatch(email)):
        raise _fail(f"--email: {email!r} is not an email address")
    chosen = keys.scopes_for(role, scopes.split(",") if scopes is not None else None, "--scopes")
    expires = None
    if expires_at is not None:
        try:
            expires = datetime.fromisoformat(expires_at)
        except ValueError:
            raise _fail(f"--expires-at: {expires_at!r} is not an ISO 8601 instant") from None
        keys.check_expiry(expires, "--expires-at")
    settings = Settings()
    with standalone_session(settings.resolved_database_url) as session:
        issued = service.issue_key(
            session,
            tenant=tenant,
            role=role,
            name=name,
            email=email,
            scopes=chosen,
            expires_at=expires,
        )
    console.print(
        f"id {issued.key_id}, tenant {issued.tenant}, role {issued.role}, user {issued.user_id},"
        f" scopes {','.join(chosen)}" + (f", expires {expires.isoformat()}" if expires else ""),
        style="dim",
        highlight=False,
    )
    print(issued.key)


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")],
    grace: Annotated[
        str, typer.Option(help="How long the old key keeps working: 30s, 15m, 24h, 7d.")
    ] = "24h",
) -> None:
    """Issue a successor of a key and print its id and the key.

    The successor has the same user, name, scopes and expiry; the old key works until the
    grace period ends, then gets 401."""
    from broadsheet.auth import keys
    from broadsheet.models import ApiKey

    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise _fail(f"not a key id: {key_id!r}") from None
    period = keys.parse_duration(grace, "--grace")
    with standalone_session(Settings().resolved_database_url) as session:
        new = keys.rotate(session, parsed, period)
        old = session.get(ApiKey, parsed)
        old_until = old.grace_until if old else None
        new_id = new.row.id
    console.print(
        f"id {new_id} replaces {key_id}, which works until {_minute(old_until, 'now')} UTC",
        style="dim",
        highlight=False,
    )
    print(new.key)


@app.command()
def permissions() -> None:
    """Print the permission table: each action, its least role and its least key scope.

    A key may act when both its user's role and its scopes allow it."""
    from broadsheet.auth.permissions import PERMISSIONS

    table = Table("action", "roles", "scope", "what")
    for action, rule in PERMISSIONS.items():
        roles = [r.value for r in Role if r.allows(rule.role)]
        table.add_row(action.value, ", ".join(roles), rule.scope.value, rule.what)
    console.print(table)


@users_app.command("create")
def users_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug; created if new.")],
    email: Annotated[str, typer.Option(help="What the user signs in with.")],
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    name: Annotated[
        str | None, typer.Option(help="The name pages show; default the email's local part.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
) -> None:
    """Let a person sign in to the web UI (an existing user with the email gets the password
    and role, and is signed out everywhere)."""
    from broadsheet.auth import passwords, service
    from broadsheet.deliveries.recipients import EMAIL, MAX_EMAIL

    if not (len(email) <= MAX_EMAIL and EMAIL.fullmatch(email)):
        raise _fail(f"--email: {email!r} is not an email address")
    if name is not None and not name.strip():
        raise _fail("--name: give the user a name, or leave it out")
    password = _read_password() if password_stdin else _prompt_password()
    trouble = passwords.problem(password)
    if trouble:
        raise _fail(f"password: {trouble}")
    settings = Settings()
    with standalone_session(settings.resolved_database_url) as session:
        user = service.set_sign_in(
            session, tenant=tenant, email=email, role=role, password=password, name=name
        )
    done = "created" if user.created else "updated (password and role; signed out everywhere)"
    console.print(f"{user.email} in tenant {user.tenant}, role {user.role}: {done}")


def _read_password() -> str:
    line = typer.get_text_stream("stdin").readline()
    return line.removesuffix("\n").removesuffix("\r")


def _prompt_password() -> str:
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None) -> None:
    """List keys (never the keys themselves)."""
    from broadsheet.auth import service

    with standalone_session(Settings().resolved_database_url) as session:
        if tenant is not None and service.get_tenant(session, tenant) is None:
            raise _fail(f"no tenant {tenant!r}")
        rows = service.list_keys(session, tenant)
    table = Table("id", "tenant", "user", "role", "scopes", "expires", "last used", "revoked")
    for key, user, tenant_row in rows:
        table.add_row(
            str(key.id),
            tenant_row.slug,
            user.email or user.name,
            user.role,
            ",".join(key.scopes),
            _minute(min(filter(None, (key.expires_at, key.grace_until)), default=None), "never"),
            _minute(key.last_used_at, "never"),
            _minute(key.revoked_at, ""),
        )
    console.print(table)


def _minute(at: datetime | None, otherwise: str) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else otherwise


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from broadsheet.auth import service

    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise _fail(f"not a key id: {key_id!r}") from None
    with standalone_session(Settings().resolved_database_url) as session:
        service.revoke_key(session, parsed)
    console.print(f"revoked {key_id}")


def _masked(url: str) -> str:
    from broadsheet.kit.dburl import masked

    return masked(url)


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored credential with the newest of BROADSHEET_SECRET_KEYS (run after
    putting a new key in front; signed links stay valid while the older keys are listed)."""
    from broadsheet import secret_rotation

    settings = Settings()
    with standalone_session(settings.resolved_database_url) as session:
        outcome = secret_rotation.rotate(session, settings)
    for name, count in outcome.rotated.items():
        console.print(f"{name}: {count} re-encrypted")
    unreadable = {name: n for name, n in outcome.unreadable.items() if n}
    if unreadable:
        raise _fail(
            *(
                f"{name}: {n} value(s) no key in BROADSHEET_SECRET_KEYS opens; enter them again"
                for name, n in unreadable.items()
            )
        )
