"""The schedule form's preview: the next fires of the cadence as typed, local and UTC, with
the parameter values each would run with. It is :func:`broadsheet.schedules.service.fires` —
the function behind ``GET /api/v1/schedules/preview`` and a schedule's ``preview`` — so the
page and the API agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from broadsheet import models
from broadsheet.errors import ValidationFailed
from broadsheet.schedules import cron
from broadsheet.schedules.cadence import to_cron
from broadsheet.schedules.schemas import Fire
from broadsheet.schedules.service import PREVIEW_FIRES, fires, resolver
from broadsheet.web.moments import Moment, moment
from broadsheet.web.schedule_form import cadence_config, parameter_values
from broadsheet.web.schedule_targets import Target


@dataclass(frozen=True)
class PreviewRun:
    local: Moment
    local_iso: str  # as the API's ``local``: ISO 8601 with the zone's offset
    utc: Moment
    parameters: dict[str, Any] | None


@dataclass(frozen=True)
class Preview:
    """The next fires of the cadence as typed, or why there are none."""

    expression: str | None
    timezone: str
    fires: list[Fire]
    problem: str | None = None
    parameters_problem: str | None = None

    @property
    def runs(self) -> list[PreviewRun]:
        return [
            PreviewRun(moment(f.utc, self.timezone), f.local, moment(f.utc), f.parameters)
            for f in self.fires
        ]


def preview(
    session: Session, values: Mapping[str, str], target: Target | None, now: datetime
) -> Preview:
    config = cadence_config(values)
    zone = str(config["timezone"])
    calendar = values.get("holidayCalendar", "").strip() or None
    try:
        expression, zone = to_cron(config)
        cadence = cron.Cadence.parse(
            expression,
            timezone=zone,
            business_days_only=values.get("businessDaysOnly") == "true",
            holiday_calendar=calendar,
        )
    except cron.CronError as exc:
        return Preview(None, zone, [], problem=exc.message)
    resolve, problem = None, None
    if target is not None:
        try:
            given = parameter_values(values, target)
        except ValidationFailed as error:
            problem = "; ".join(e["message"] for e in error.errors or []) or error.detail
        else:
            # An unsaved schedule (never added to the session) resolves as a saved one does.
            draft = models.ReportSchedule(
                report_id=None if target.is_dashboard else target.row.id,
                dashboard_id=target.row.id if target.is_dashboard else None,
                parameters=given,
            )
            resolve = resolver(session, draft)
    found = fires(cadence, now, PREVIEW_FIRES, resolve)
    return Preview(cadence.expression, zone, found, parameters_problem=problem)
