"""What an execution's recipients get: its artifact, links, summary and first chart.

Built once per execution and sent to each recipient with their own delivery id (and, for
email, their own unsubscribe link). A dashboard's execution sends the PDF made for it (see
``schedules.dashboard_runs``) with its filter values and a link to the dashboard set to them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.service import webhook_secret
from broadsheet.config import Settings
from broadsheet.deliveries import links
from broadsheet.deliveries.channels.base import Artifact, Parcel
from broadsheet.errors import BroadsheetError
from broadsheet.exports import filenames
from broadsheet.exports.registry import EXPORTERS
from broadsheet.results.service import ResultService
from broadsheet.storage import Storage

log = logging.getLogger(__name__)
MAX_SUMMARY = 8  # values shown in a message: enough to read at a glance


class ArtifactMissing(Exception):
    """The execution's export is gone (its result expired): nothing can be delivered."""


@dataclass(frozen=True)
class Stored:
    """An execution's artifact as it is stored, and what it is the export of: a result, or
    (``result`` None) the schedule's dashboard."""

    artifact: Artifact
    schedule: models.ReportSchedule
    result: models.ReportResult | None
    report_name: str  # the report's name, or the dashboard's
    disposition: str  # Content-Disposition for a download (RFC 6266, non-ASCII names too)


def stored(session: Session, storage: Storage, execution: models.ReportExecution) -> Stored:
    """The execution's artifact, or ArtifactMissing: for delivery and for its signed link."""
    schedule = session.get(models.ReportSchedule, execution.schedule_id)
    if schedule is not None and schedule.dashboard_id is not None:
        return _dashboard_pdf(session, storage, execution, schedule)
    result = session.get(models.ReportResult, execution.result_id) if execution.result_id else None
    if schedule is None or result is None or not execution.file_url:
        raise ArtifactMissing("the execution has no result or artifact")
    report = session.get(models.ReportDefinition, result.report_id)
    exporter = EXPORTERS[schedule.export_format]
    try:
        path = storage.local_path(execution.file_url)
    except FileNotFoundError:
        raise ArtifactMissing("the artifact was deleted with its expired result") from None
    report_name = report.name if report else "Report"
    return _named(path, execution, schedule, result, report_name, exporter.name)


def _dashboard_pdf(
    session: Session,
    storage: Storage,
    execution: models.ReportExecution,
    schedule: models.ReportSchedule,
) -> Stored:
    """The PDF made for a dashboard's execution, named ``<dashboard-slug>_<YYYY-MM-DD>.pdf``
    by the fire's day in the schedule's zone (as a report's artifact is named by its time)."""
    if not execution.file_url:
        raise ArtifactMissing("the execution has no PDF")
    try:
        path = storage.local_path(execution.file_url)
    except FileNotFoundError:
        raise ArtifactMissing("the dashboard's PDF was deleted, as old results are") from None
    dashboard = session.get(models.Dashboard, schedule.dashboard_id)
    name = dashboard.name if dashboard else "Dashboard"
    return _named(
        path, execution, schedule, None, name, "pdf", stamp=filenames.DAY, fallback="dashboard"
    )


def _named(
    path: Path,
    execution: models.ReportExecution,
    schedule: models.ReportSchedule,
    result: models.ReportResult | None,
    name: str,
    format_name: str,
    **naming: str,
) -> Stored:
    """The stored file as an artifact named after ``name`` and the fire's time in the
    schedule's zone (``naming``: the stamp and fallback of ``exports.filenames``)."""
    exporter = EXPORTERS[format_name]
    at, zone = execution.scheduled_for, schedule.timezone
    plain, _ = filenames.stem(name, at, zone, **naming)
    size = execution.file_size if execution.file_size is not None else path.stat().st_size
    artifact = Artifact(
        path=path,
        filename=f"{plain}.{exporter.extension}",
        media_type=exporter.media_type,
        format=exporter.name,
        size=size,
    )
    disposition = filenames.content_disposition(name, at, zone, exporter.extension, **naming)
    return Stored(artifact, schedule, result, name, disposition)


def build(
    session: Session,
    settings: Settings,
    storage: Storage,
    execution: models.ReportExecution,
    now: datetime,
) -> Parcel:
    """The parcel for every recipient of ``execution`` (delivery id to be set per recipient)."""
    found = stored(session, storage, execution)
    schedule, result = found.schedule, found.result
    tenant = session.get(models.Tenant, execution.tenant_id)
    assert tenant is not None
    token = links.artifact_token(
        settings.resolved_secret_key,
        tenant.id,
        execution.id,
        links.expiry(settings.artifact_link_days, now),
    )
    extra: dict[str, Any] = {"tenant": tenant.slug}
    if tenant.webhook_secret:  # made by plan() when a webhook recipient needs it
        extra["webhook_secret"] = webhook_secret(tenant, settings)
    if result is None:
        return _dashboard_parcel(settings, found, execution, tenant.id, token, extra)
    return Parcel(
        delivery_id=uuid.UUID(int=0),  # set per recipient
        tenant_id=tenant.id,
        execution_id=execution.id,
        schedule_id=schedule.id,
        report_id=result.report_id,
        result_id=result.id,
        report_name=found.report_name,
        schedule_name=schedule.name,
        scheduled_for=execution.scheduled_for,
        timezone=schedule.timezone,
        parameters=dict(result.parameters or {}),
        summary=summary(result),
        row_count=result.row_count,
        artifact=found.artifact,
        attach=found.artifact.size <= settings.attachment_max_bytes,
        artifact_url=f"{settings.base_url}/api/v1/artifacts/{token}",
        result_url=f"{settings.base_url}/api/v1/reports/results/{result.id}",
        chart_png=_first_chart(session, storage, result),
        extra=extra,
    )


def _dashboard_parcel(
    settings: Settings,
    found: Stored,
    execution: models.ReportExecution,
    tenant_id: uuid.UUID,
    token: str,
    extra: dict[str, Any],
) -> Parcel:
    schedule = found.schedule
    assert schedule.dashboard_id is not None
    values = dict(execution.parameters or {})
    # The dashboard's page in the API, with the filters set as they were for this PDF.
    query = urlencode({f"p.{name}": _query_value(value) for name, value in values.items()})
    url = f"{settings.base_url}/api/v1/dashboards/{schedule.dashboard_id}"
    return Parcel(
        delivery_id=uuid.UUID(int=0),  # set per recipient
        tenant_id=tenant_id,
        execution_id=execution.id,
        schedule_id=schedule.id,
        report_id=None,
        result_id=None,
        dashboard_id=schedule.dashboard_id,
        report_name=found.report_name,
        schedule_name=schedule.name,
        scheduled_for=execution.scheduled_for,
        timezone=schedule.timezone,
        parameters=values,
        summary=[],
        row_count=None,
        artifact=found.artifact,
        attach=found.artifact.size <= settings.attachment_max_bytes,
        artifact_url=f"{settings.base_url}/api/v1/artifacts/{token}",
        result_url=f"{url}?{query}" if query else url,
        extra=extra,
    )


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def for_recipient(parcel: Parcel, settings: Settings, delivery: models.ReportDelivery) -> Parcel:
    unsubscribe = None
    if delivery.recipient_type == "email":
        token = links.unsubscribe_token(
            settings.resolved_secret_key, parcel.tenant_id, delivery.recipient_value
        )
        unsubscribe = f"{settings.base_url}/api/v1/unsubscribe/{token}"
    return replace(parcel, delivery_id=delivery.id, unsubscribe_url=unsubscribe)


def summary(result: models.ReportResult) -> list[tuple[str, str]]:
    """Rows, then the total of each numeric column (as the result's summary has them)."""
    pairs = [("Rows", f"{result.row_count:,}")]
    for column, values in ((result.data or {}).get("summary") or {}).items():
        if len(pairs) >= MAX_SUMMARY:
            break
        if isinstance(values, dict) and values.get("sum") is not None:
            pairs.append((f"Total {column}", _number(values["sum"])))
    return pairs


def _number(value: Any) -> str:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,.2f}"


def _first_chart(session: Session, storage: Storage, result: models.ReportResult) -> bytes | None:
    """The first chart as PNG, or None: a message without its chart still goes out."""
    for viz in result.visualizations or []:
        if viz.get("error") or "spec" not in (viz.get("data") or {}):
            continue
        try:
            png, _ = ResultService(session, storage).image(
                result.tenant_id, result.id, str(viz.get("id")), "png"
            )
        except (BroadsheetError, ValueError, OSError):
            log.warning("could not render chart %s of result %s", viz.get("id"), result.id)
            return None
        return png
    return None
