"""The ``broadsheet`` command."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from broadsheet import __version__
from broadsheet.config import Settings
from broadsheet.db import standalone_session
from broadsheet.errors import BroadsheetError
from broadsheet.models import Role

app = typer.Typer(
    help="Broadsheet: reports over your own databases, on demand or on a schedule.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


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
    port: Annotated[int | None, typer.Option(help="Default BROADSHEET_PORT.")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API (migrating and adding the demo first, unless configured not to)."""
    import uvicorn

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if reload:
        uvicorn.run(
            "broadsheet.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            reload=True,
        )
        return
    from broadsheet.app import create_app

    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated: high (on-demand), low (scheduled).")
    ] = "high,low",
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 4,
    pool: Annotated[str, typer.Option(help="Celery pool: threads, prefork or solo.")] = "threads",
) -> None:
    """Run a Celery worker that generates reports (BROADSHEET_EXECUTOR=celery)."""
    from broadsheet.jobs.executors.celery_executor import QUEUES, make_celery

    settings = Settings()
    unknown = [q for q in queues.split(",") if q not in QUEUES]
    if unknown:
        raise _fail(f"unknown queue(s) {', '.join(unknown)}; use high and/or low")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    celery_app = make_celery(settings)
    celery_app.worker_main(
        [
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
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Export file.")] = None,
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
        settings, tenant or settings.default_tenant, report, values, console, format, output
    )
    raise typer.Exit(code)


@app.command()
def export(
    result_id: Annotated[str, typer.Argument(help="A result's id (from run or the API).")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="pdf, excel, csv, json, ndjson or parquet.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Default: the download file name.")
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


def _split_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--param takes name=value, not {text!r}")
    return name.strip(), value


@app.command()
def scheduler() -> None:
    """Run the schedule ticker (and job recovery) on its own; several may run at once."""
    from broadsheet.jobs.executors import make_executor
    from broadsheet.jobs.maintenance import Maintenance
    from broadsheet.kit.gc import freeze_startup_objects
    from broadsheet.runtime import Runtime
    from broadsheet.schedules.scheduler import Scheduler

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runtime = Runtime.build(settings)
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
) -> None:
    """Add the demo data source and reports to a tenant (what is there already stays)."""
    from broadsheet import demo as demo_data
    from broadsheet import migrate as migrations

    settings = Settings()
    migrations.upgrade(settings.resolved_database_url)
    with standalone_session(settings.resolved_database_url) as session:
        added = demo_data.install(session, settings, tenant or settings.default_tenant)
    console.print("\n".join(f"added {item}" for item in added) or "the demo is complete already")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug; created if new.")],
    role: Annotated[Role, typer.Option(help="What the key's user may do.")],
    name: Annotated[str, typer.Option(help="A name for the key's user.")],
    email: Annotated[
        str | None, typer.Option(help="The user's email; an existing user with it gets the key.")
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from broadsheet.auth import service

    settings = Settings()
    try:
        with standalone_session(settings.resolved_database_url) as session:
            issued = service.issue_key(session, tenant=tenant, role=role, name=name, email=email)
    except BroadsheetError as exc:
        raise _fail(exc.detail) from None
    console.print(f"tenant {issued.tenant}, role {issued.role}, user {issued.user_id}", style="dim")
    print(issued.key)


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None) -> None:
    """List keys (never the keys themselves)."""
    from broadsheet.auth import service

    with standalone_session(Settings().resolved_database_url) as session:
        rows = service.list_keys(session, tenant)
    table = Table("id", "tenant", "user", "role", "prefix", "created", "revoked")
    for key, user, tenant_row in rows:
        table.add_row(
            str(key.id),
            tenant_row.slug,
            user.email or user.name,
            user.role,
            key.prefix + "…",
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from broadsheet.auth import service

    try:
        parsed = uuid.UUID(key_id)
        with standalone_session(Settings().resolved_database_url) as session:
            service.revoke_key(session, parsed)
    except (ValueError, BroadsheetError) as exc:
        raise _fail(getattr(exc, "detail", f"not a key id: {key_id}")) from None
    console.print(f"revoked {key_id}")


def _masked(url: str) -> str:
    from broadsheet.kit.dburl import masked

    return masked(url)
