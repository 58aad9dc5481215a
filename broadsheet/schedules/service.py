"""Schedule CRUD, preview, pause/resume and run-now.

A schedule sends a report (``reportId``) or a dashboard's PDF (``dashboardId``). It is checked
whole when it is saved: its report or dashboard exists in the tenant, its cron expression,
time zone and holiday calendar are valid, and its parameters — templates rendered at the next
fire's instant — resolve against the report's declarations, or are values of the dashboard's
filters. What is saved can run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from broadsheet.deliveries import recipients
from broadsheet.errors import NotFound, ValidationFailed
from broadsheet.events import about as events
from broadsheet.kit.pagination import Page
from broadsheet.kit.tenancy import get_owned, owned
from broadsheet.kit.time import utc_now
from broadsheet.reports import parameters
from broadsheet.reports.service import ReportService
from broadsheet.runtime import Runtime
from broadsheet.schedules import cap, cron, projections, ticker
from broadsheet.schedules.cadence import to_cron
from broadsheet.schedules.filter_values import fire_filters
from broadsheet.schedules.schemas import Fire, ReportScheduleWrite

PREVIEW_FIRES = 5
MAX_PREVIEW = 1000
DASHBOARD_FORMAT = "pdf"  # a dashboard is sent as the one PDF of all its widgets

# What a fire at an instant, in a zone, runs with (raises parameters.ParameterErrors).
Resolver = Callable[[datetime, ZoneInfo], dict[str, Any]]


def cadence_of(row: models.ReportSchedule) -> cron.Cadence:
    return cron.Cadence.parse(
        row.schedule,
        timezone=row.timezone,
        business_days_only=row.business_days_only,
        holiday_calendar=row.holiday_calendar,
    )


class ScheduleService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.reports = ReportService(session, settings)

    def list_schedules(
        self, tenant_id: uuid.UUID, page: Page
    ) -> tuple[list[models.ReportSchedule], int]:
        return page.fetch(
            self.session,
            select(models.ReportSchedule)
            .where(models.ReportSchedule.tenant_id == tenant_id)
            .order_by(models.ReportSchedule.created_at.desc(), models.ReportSchedule.id),
        )

    def get(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> models.ReportSchedule:
        return get_owned(self.session, models.ReportSchedule, tenant_id, schedule_id, "schedule")

    def create(self, caller: Principal, body: ReportScheduleWrite) -> models.ReportSchedule:
        now = utc_now()
        if body.enabled:
            cap.check_room(self.session, self.settings.tenant_max_schedules, caller.tenant_id)
        row = models.ReportSchedule(
            tenant_id=caller.tenant_id, created_by=caller.user_id, created_at=now
        )
        self._apply(caller.tenant_id, row, body, now)
        self.session.add(row)
        self.session.flush()
        projections.project_schedule(self.session, row)
        return row

    def update(
        self, caller: Principal, schedule_id: uuid.UUID, body: ReportScheduleWrite
    ) -> models.ReportSchedule:
        row = self.get(caller.tenant_id, schedule_id)
        if body.enabled and not row.enabled:
            cap.check_room(self.session, self.settings.tenant_max_schedules, row.tenant_id, row.id)
        self._apply(caller.tenant_id, row, body, utc_now())
        self.session.flush()
        events.schedule_updated(self.session, row)
        projections.project_schedule(self.session, row)
        return row

    def delete(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
        row = self.get(tenant_id, schedule_id)
        self.session.delete(row)
        projections.remove_schedule(self.session, row.id)
        self.session.flush()

    def set_enabled(
        self, tenant_id: uuid.UUID, schedule_id: uuid.UUID, enabled: bool
    ) -> models.ReportSchedule:
        """Pause or resume. Resuming looks forward from now: fires missed while paused are
        not caught up."""
        row = self.get(tenant_id, schedule_id)
        if enabled and not row.enabled:
            cap.check_room(self.session, self.settings.tenant_max_schedules, tenant_id, row.id)
        now = utc_now()
        row.enabled = enabled
        row.next_run_at = cron.next_fire(cadence_of(row), now) if enabled else None
        row.updated_at = now
        self.session.flush()
        events.schedule_updated(self.session, row)
        projections.project_schedule(self.session, row)
        return row

    def run_now(
        self, tenant_id: uuid.UUID, schedule_id: uuid.UUID, runtime: Runtime
    ) -> tuple[models.ReportExecution, ticker.Dispatch | None]:
        """An execution of the tenant's schedule now, outside its cadence, and the job to hand
        to the executor once the caller has committed (none for a dashboard's)."""
        return ticker.run_now(self.session, runtime, self.get(tenant_id, schedule_id))

    def preview(
        self, row: models.ReportSchedule, count: int = PREVIEW_FIRES, after: datetime | None = None
    ) -> list[Fire]:
        return fires(cadence_of(row), after or utc_now(), count, resolver(self.session, row))

    def _apply(
        self,
        tenant_id: uuid.UUID,
        row: models.ReportSchedule,
        body: ReportScheduleWrite,
        now: datetime,
    ) -> None:
        target = self._target(tenant_id, body)
        if isinstance(target, models.Dashboard) and body.export_format != DASHBOARD_FORMAT:
            raise ValidationFailed.field(
                "exportFormat", f"a dashboard is sent as its PDF: exportFormat must be pdf, "
                f"not {body.export_format}"
            )  # fmt: skip
        expression, zone, config = _cadence_fields(body)
        try:
            cadence = cron.Cadence.parse(
                expression,
                timezone=zone,
                business_days_only=body.business_days_only,
                holiday_calendar=body.holiday_calendar,
            )
        except cron.CronError as exc:
            raise ValidationFailed.field(exc.field, str(exc)) from None
        upcoming = cron.next_fire(cadence, now) or now
        _check_parameters(target, body, upcoming, ZoneInfo(zone))
        if isinstance(target, models.Dashboard):
            row.report_id, row.dashboard_id = None, target.id
        else:
            row.report_id, row.dashboard_id = target.id, None
        row.name = body.name
        row.schedule = expression
        row.timezone = zone
        row.schedule_config = config
        row.parameters = body.parameters
        row.enabled = body.enabled
        self._check_recipients(tenant_id, body)
        before = list(row.recipients or [])
        row.recipients = recipients.stored(body.recipients, before, self.settings)
        self._resubscribe(tenant_id, before, row.recipients)
        row.export_format = body.export_format
        row.business_days_only = body.business_days_only
        row.holiday_calendar = body.holiday_calendar
        row.misfire_policy = body.misfire_policy.value
        row.misfire_grace_seconds = body.misfire_grace_seconds
        row.updated_at = now
        row.next_run_at = cron.next_fire(cadence, now) if body.enabled else None

    def _target(
        self, tenant_id: uuid.UUID, body: ReportScheduleWrite
    ) -> models.ReportDefinition | models.Dashboard:
        """The report or the dashboard the schedule sends: exactly one, of the tenant."""
        if body.report_id is None and body.dashboard_id is None:
            raise ValidationFailed.field(
                "reportId", "give reportId (a report to send) or dashboardId (a dashboard's PDF)"
            )
        if body.report_id is not None and body.dashboard_id is not None:
            raise ValidationFailed.field(
                "dashboardId", "a schedule sends a report or a dashboard: give reportId or "
                "dashboardId, not both"
            )  # fmt: skip
        if body.dashboard_id is not None:
            dashboard = owned(self.session, models.Dashboard, tenant_id, body.dashboard_id)
            if dashboard is None:
                raise ValidationFailed.field("dashboardId", f"no dashboard {body.dashboard_id}")
            return dashboard
        assert body.report_id is not None
        try:
            return self.reports.get(tenant_id, body.report_id)
        except NotFound:
            raise ValidationFailed.field("reportId", f"no report {body.report_id}") from None

    def _check_recipients(self, tenant_id: uuid.UUID, body: ReportScheduleWrite) -> None:
        tenant = self.session.get(models.Tenant, tenant_id)
        allowed = (tenant.allowed_email_domains if tenant else None) or []
        buckets = self.settings.s3_allowed_buckets
        for i, recipient in enumerate(body.recipients):
            if recipient.type == "email" and not recipients.domain_allowed(
                recipient.address, allowed
            ):
                raise ValidationFailed.field(
                    f"recipients[{i}].address",
                    f"this tenant sends email only to {', '.join(allowed)}",
                )
            if recipient.type == "s3" and not recipients.bucket_allowed(
                recipient.address, buckets, self.settings.storage_bucket
            ):
                only = f"the buckets {', '.join(buckets)} only" if buckets else "other buckets"
                raise ValidationFailed.field(
                    f"recipients[{i}].address", f"this service delivers to {only}"
                )

    def _resubscribe(
        self, tenant_id: uuid.UUID, before: list[dict[str, Any]], after: list[dict[str, Any]]
    ) -> None:
        """An address added to a schedule again gets its emails again."""
        had = {r["address"].lower() for r in before if r.get("type") == "email"}
        added = {r["address"].lower() for r in after if r.get("type") == "email"} - had
        if added:
            self.session.execute(
                delete(models.EmailUnsubscribe).where(
                    models.EmailUnsubscribe.tenant_id == tenant_id,
                    models.EmailUnsubscribe.address.in_(added),
                )
            )


def _cadence_fields(body: ReportScheduleWrite) -> tuple[str, str, dict[str, Any] | None]:
    """(cron expression, zone, the friendly form as given) from either form of the body."""
    if body.schedule_config is not None:
        config = body.schedule_config.model_dump(by_alias=True, exclude_none=True)
        if body.timezone and "timezone" not in config:
            config["timezone"] = body.timezone
        try:
            expression, zone = to_cron(config)
        except cron.CronError as exc:
            raise ValidationFailed.field(exc.field, str(exc)) from None
        if body.schedule is not None and body.schedule.strip() != expression:
            raise ValidationFailed.field(
                "schedule", f"disagrees with scheduleConfig ({expression!r}); send one of them"
            )
        return expression, zone, config
    assert body.schedule is not None
    return body.schedule.strip(), body.timezone or "UTC", None


def _check_parameters(
    target: models.ReportDefinition | models.Dashboard,
    body: ReportScheduleWrite,
    at: datetime,
    tz: ZoneInfo,
) -> None:
    sets = [("parameters", body.parameters)] + [
        (f"recipients[{i}].parameters", {**body.parameters, **(r.parameters or {})})
        for i, r in enumerate(body.recipients)
        if r.parameters
    ]
    for field, values in sets:
        try:
            _resolve(target, values, at, tz)
        except parameters.ParameterErrors as exc:
            # A dashboard's default that does not work is the dashboard's to fix; a report's
            # parameter left out (required, or its default failing) is the schedule's.
            at_dashboard = isinstance(target, models.Dashboard)
            errors = [
                {"field": "dashboardId" if at_dashboard and p.name not in values
                 else f"{field}.{p.name}", "message": p.message}
                for p in exc.problems
            ]  # fmt: skip
            raise ValidationFailed(str(exc), errors=errors) from None


def _resolve(
    target: models.ReportDefinition | models.Dashboard,
    values: dict[str, Any],
    instant: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    if isinstance(target, models.Dashboard):
        return fire_filters(target, values, instant, zone)
    return parameters.resolve_templated(target, values, instant, zone)


def resolver(session: Session, row: models.ReportSchedule) -> Resolver | None:
    """How ``row``'s fires resolve its parameters (None: its report or dashboard is gone)."""
    target: models.ReportDefinition | models.Dashboard | None
    if row.dashboard_id is not None:
        target = session.get(models.Dashboard, row.dashboard_id)
    else:
        target = session.get(models.ReportDefinition, row.report_id)
    if target is None:
        return None
    found, values = target, row.parameters or {}
    return lambda instant, zone: _resolve(found, values, instant, zone)


def fires(
    cadence: cron.Cadence, after: datetime, count: int, resolve: Resolver | None = None
) -> list[Fire]:
    """The next fires, local and UTC; the first few with the parameters they would run with."""
    zone = ZoneInfo(cadence.timezone)
    out = []
    for index, instant in enumerate(cron.next_fires(cadence, after, count)):
        params = None
        if resolve is not None and index < PREVIEW_FIRES:
            try:
                params = resolve(instant, zone)
            except parameters.ParameterErrors as exc:
                params = {"error": str(exc)}
        out.append(Fire(utc=instant, local=instant.astimezone(zone).isoformat(), parameters=params))
    return out
