"""``broadsheet audit verify``: walks each tenant's audit chain; exits 1 naming the first entry
that was changed or removed, 0 with the count when every chain holds."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select

from broadsheet.audit import chain
from broadsheet.config import Settings
from broadsheet.db import standalone_session
from broadsheet.models import Tenant

app = typer.Typer(help="Check the audit trail.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@app.command()
def verify(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's chain (its slug).")] = None,
) -> None:
    """Check every entry's hash and link; exit 1 at the first entry changed or removed."""
    with standalone_session(Settings().resolved_database_url) as session:
        tenant_id = None
        if tenant is not None:
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == tenant))
            if tenant_id is None:
                errors.print(f"[red]error:[/red] no tenant {escape(repr(tenant))}")
                raise typer.Exit(code=1)
        result = chain.verify(session.connection(), tenant_id)
        slug = (
            session.scalar(select(Tenant.slug).where(Tenant.id == result.broken.tenant_id))
            if result.broken
            else None
        )
    if result.broken:
        errors.print(
            f"[red]audit trail broken[/red] in tenant {escape(str(slug))}: "
            f"{escape(result.broken.message)}",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(code=1)
    console.print(f"{result.entries} audit entries in {result.chains} chains: intact")
