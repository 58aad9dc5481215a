"""Links in delivered messages, which need no API key: the signed artifact download and the
one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import Path
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.audit import log as audit
from broadsheet.audit.context import Actor
from broadsheet.deliveries import links, parcels
from broadsheet.dependencies import RuntimeDep, SessionDep
from broadsheet.errors import NotFound
from broadsheet.kit import bulk
from broadsheet.kit.tenancy import owned
from broadsheet.kit.time import utc_now
from broadsheet.routing import api_router
from broadsheet.storage import Storage

router = api_router("/api/v1", "delivery links")
Token = Annotated[str, Path(max_length=2000, description="The token from the link.")]
GONE = "this report is no longer available"
UNSUBSCRIBE_LINK = Actor("system", "unsubscribe-link")


@router.get(
    "/artifacts/{token}",
    summary="Download a delivered report by its signed link",
    response_class=FileResponse,
    responses={403: {"description": "Not a link Broadsheet made"}, 410: {"description": "Expired"}},
)
def download_artifact(token: Token, session: SessionDep, runtime: RuntimeDep) -> FileResponse:
    grant = links.open_artifact_token(runtime.settings.resolved_secret_keys, token)
    execution = owned(session, models.ReportExecution, grant.tenant_id, grant.execution_id)
    if execution is None:
        raise NotFound(GONE)
    return artifact_download(session, runtime.storage, execution, GONE)


def artifact_download(
    session: Session, storage: Storage, execution: models.ReportExecution, unavailable: str
) -> FileResponse:
    """What the execution made, as a download (its link's and the API's), or 404
    ``<unavailable>: <why>`` when it is gone."""
    try:
        found = parcels.stored(session, storage, execution)
    except parcels.ArtifactMissing as missing:
        raise NotFound(f"{unavailable}: {missing}") from None
    # By the request's caller; a signed link's holder is nobody known (``system``).
    audit.record(session, execution.tenant_id, "export.downloaded", "execution", execution.id,
                 mediaType=found.artifact.media_type)  # fmt: skip
    return FileResponse(
        found.artifact.path,
        media_type=found.artifact.media_type,
        headers={"Content-Disposition": found.disposition},
    )


@router.get("/unsubscribe/{token}", summary="Confirm unsubscribing", response_class=HTMLResponse)
def unsubscribe_page(token: Token, runtime: RuntimeDep) -> HTMLResponse:
    """A page with a button: a GET changes nothing, because mail scanners follow links."""
    _, address = links.open_unsubscribe_token(runtime.settings.resolved_secret_keys, token)
    return HTMLResponse(
        _page(
            "Unsubscribe",
            f"Stop scheduled reports to <b>{escape(address)}</b>?"
            f'<form method="post"><button type="submit" name="List-Unsubscribe" '
            f'value="One-Click">Unsubscribe</button></form>',
        )
    )


@router.post("/unsubscribe/{token}", summary="Unsubscribe (one click)", response_class=HTMLResponse)
def unsubscribe(token: Token, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    tenant_id, address = links.open_unsubscribe_token(runtime.settings.resolved_secret_keys, token)
    if session.get(models.Tenant, tenant_id) is not None:
        # Insert-or-nothing: two clicks at once (or a mail client and its user) are one.
        added = bulk.insert_rows(
            session,
            models.EmailUnsubscribe,
            [{"tenant_id": tenant_id, "address": address}],
            same={"created_at": utc_now()},
            skip_conflicts_on=["tenant_id", "address"],
            returning=models.EmailUnsubscribe.address,
        )
        if added:
            audit.record(session, tenant_id, "email.unsubscribed", "email", None,
                         actor=UNSUBSCRIBE_LINK, address=address)  # fmt: skip
    return HTMLResponse(
        _page("Unsubscribed", f"<b>{escape(address)}</b> gets no more scheduled reports.")
    )


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f'<body style="font-family:sans-serif;max-width:40em;margin:3em auto">'
        f"<h1>{title}</h1><p>{body}</p></body></html>"
    )
