"""The schedule form: what a person typed, as the API's ``ReportScheduleWrite`` body, and a
saved schedule as the form shows it again.

Field names are the API's (its ``errors[].field``), so a service's error lands at its field:
``name``, ``scheduleConfig.cadence`` / ``.time`` / ``.dayOfWeek`` / ``.dayOfMonth`` /
``.cronExpression``, ``timezone``, ``businessDaysOnly``, ``holidayCalendar``,
``parameters.<name>``, ``exportFormat``, ``enabled``, ``misfirePolicy``,
``misfireGraceSeconds`` and ``recipients[i].type`` / ``.address`` / ``.secret`` (a recipient's
own ``parameters`` ride along as JSON, so a save from the form keeps them). Two fields have
no API twin: ``target`` (``report:<id>`` or ``dashboard:<id>``: the API's ``reportId`` or
``dashboardId``) and ``recipientRows`` (how many recipient rows the form shows; a row left
blank is no recipient).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from broadsheet.dashboards import filters
from broadsheet.errors import ValidationFailed
from broadsheet.schedules.schemas import ReportSchedule, ReportScheduleWrite
from broadsheet.web.input_errors import invalid
from broadsheet.web.schedule_targets import Target, text_of
from broadsheet.web.schedule_text import friendly

Values = dict[str, str]

CADENCES = (
    ("daily", "Daily"),
    ("weekly", "Weekly"),
    ("monthly", "Monthly"),
    ("cron", "Cron expression"),
)
# The keys of scheduleConfig each cadence takes: the form shows every field, and sends only
# the chosen cadence's (the API refuses a key that another cadence uses).
CADENCE_KEYS = {
    "daily": ("time",),
    "weekly": ("time", "dayOfWeek"),
    "monthly": ("time", "dayOfMonth"),
    "cron": ("cronExpression",),
}
CHANNELS = (
    ("email", "Email"),
    ("slack", "Slack"),
    ("teams", "Microsoft Teams"),
    ("webhook", "Webhook"),
    ("s3", "S3 bucket"),
)
MAX_RECIPIENTS = 200  # as many as a schedule may have (ReportScheduleWrite)
_SINGLE = frozenset(
    {"name", "target", "timezone", "businessDaysOnly", "holidayCalendar", "exportFormat",
     "enabled", "misfirePolicy", "misfireGraceSeconds", "recipientRows"}
    | {f"scheduleConfig.{key}" for key in ("cadence", "time", "dayOfWeek", "dayOfMonth",
                                           "cronExpression")}
)  # fmt: skip
_RECIPIENT = re.compile(r"recipients\[([0-9]{1,3})\]\.(type|address|secret|parameters|hasSecret)")
_BODY_RECIPIENT = re.compile(r"^recipients\[([0-9]+)\]")


# --- what the form shows ----------------------------------------------------------------------


def typed(form: FormData) -> Values:
    """The form's own fields as posted (the first value of each), nothing else."""
    values: Values = {}
    for name, value in form.multi_items():
        if not isinstance(value, str) or name in values:
            continue
        match = _RECIPIENT.fullmatch(name)
        if (
            name in _SINGLE
            or name.startswith("parameters.")
            or (match and int(match[1]) < MAX_RECIPIENTS)
        ):
            values[name] = value
    return values


def row_count(values: Mapping[str, str]) -> int:
    """How many recipient rows to show: as many as asked for, and every row that has text."""
    try:
        asked = int(values.get("recipientRows", "1"))
    except ValueError:
        asked = 1
    used = [int(m[1]) + 1 for name in values if (m := _RECIPIENT.fullmatch(name))]
    return max(1, min(MAX_RECIPIENTS, max([asked, *used])))


def with_row_added(values: Values) -> Values:
    return {**values, "recipientRows": str(min(MAX_RECIPIENTS, row_count(values) + 1))}


def with_row_removed(values: Values, index: int) -> Values:
    """The values with recipient row ``index`` gone and the rows after it moved up."""
    kept: Values = {}
    for name, value in values.items():
        match = _RECIPIENT.fullmatch(name)
        if match is None:
            kept[name] = value
        elif (row := int(match[1])) != index:
            kept[f"recipients[{row - 1 if row > index else row}].{match[2]}"] = value
    kept["recipientRows"] = str(max(1, row_count(values) - 1))
    return kept


def new_values(target: str = "") -> Values:
    return {
        "target": target,
        "scheduleConfig.cadence": "daily",
        "scheduleConfig.time": "09:00",
        "scheduleConfig.dayOfWeek": "1",
        "scheduleConfig.dayOfMonth": "1",
        "timezone": "UTC",
        "exportFormat": "pdf",
        "enabled": "true",
        "misfirePolicy": "run_once",
        "misfireGraceSeconds": "3600",
        "recipientRows": "1",
    }


def saved_values(shown: ReportSchedule) -> Values:
    """A saved schedule as its form shows it (an editor's view: addresses whole)."""
    config = friendly(shown.schedule_config, shown.schedule, shown.timezone)
    values = new_values(
        f"dashboard:{shown.dashboard_id}" if shown.dashboard_id else f"report:{shown.report_id}"
    )
    values.update(
        {
            "name": shown.name,
            "timezone": shown.timezone,
            "businessDaysOnly": "true" if shown.business_days_only else "",
            "holidayCalendar": shown.holiday_calendar or "",
            "exportFormat": shown.export_format,
            "enabled": "true" if shown.enabled else "",
            "misfirePolicy": shown.misfire_policy.value,
            "misfireGraceSeconds": str(shown.misfire_grace_seconds),
            "recipientRows": str(min(MAX_RECIPIENTS, len(shown.recipients) + 1)),
        }
    )
    for key, value in config.items():
        if key != "timezone":
            values[f"scheduleConfig.{key}"] = str(value)
    for name, value in shown.parameters.items():
        values[f"parameters.{name}"] = text_of(value)
    for i, recipient in enumerate(shown.recipients):
        values[f"recipients[{i}].type"] = recipient.type.value
        values[f"recipients[{i}].address"] = recipient.address
        if recipient.parameters:
            values[f"recipients[{i}].parameters"] = json.dumps(recipient.parameters)
        if recipient.has_secret:
            values[f"recipients[{i}].hasSecret"] = "true"
    return values


# --- from the form to the API's body -----------------------------------------------------------


@dataclass
class Submission:
    """The API body of what was typed; ``rows[k]`` is the form row of the body's k-th
    recipient (blank rows are left out, so the numbers can differ)."""

    body: dict[str, Any]
    rows: list[int] = field(default_factory=list)
    cadence: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # the parameters' labels by name

    def form_field(self, name: str) -> str:
        """The form's field for an API field name."""
        if name in ("reportId", "dashboardId"):
            return "target"
        if name in ("scheduleConfig.timezone", "timezone"):
            return "timezone"
        if name == "schedule":
            return (
                "scheduleConfig.cronExpression"
                if self.cadence == "cron"
                else "scheduleConfig.cadence"
            )
        match = _BODY_RECIPIENT.match(name)
        if match and int(match[1]) < len(self.rows):
            return f"recipients[{self.rows[int(match[1])]}]{name[match.end() :]}"
        return name

    def renamed(self, error: ValidationFailed) -> ValidationFailed:
        """``error`` with the form's field names, its messages naming what they are about."""
        return _labelled(
            ValidationFailed(
                error.detail,
                errors=[
                    {"field": self.form_field(e.get("field", "")), "message": e.get("message", "")}
                    for e in error.errors or [{"field": "", "message": error.detail}]
                ],
            ),
            self.labels,
        )


def _labelled(error: ValidationFailed, labels: Mapping[str, str]) -> ValidationFailed:
    """Messages the error summary can show alone (``Week End is required``, not ``is
    required``): each names the parameter or recipient row it is about."""
    errors = []
    for item in error.errors or []:
        name, message = item.get("field", ""), item.get("message", "")
        parameter = (
            labels.get(name.removeprefix("parameters.")) if name.startswith("parameters.") else None
        )
        row = _RECIPIENT.fullmatch(name)
        if parameter:
            message = (
                f"{parameter} {message}"
                if message.startswith("is ")
                else (f"{parameter}: {message}")
            )
        elif row:
            message = f"recipient {int(row[1]) + 1}: {message}"
        errors.append({"field": name, "message": message})
    return ValidationFailed(error.detail, errors=errors)


def cadence_config(values: Mapping[str, str]) -> dict[str, Any]:
    """``scheduleConfig`` from the form: the chosen cadence's own fields only."""
    cadence = values.get("scheduleConfig.cadence", "").strip()
    config: dict[str, Any] = {"cadence": cadence}
    for key in CADENCE_KEYS.get(cadence, ()):
        text = values.get(f"scheduleConfig.{key}", "").strip()
        config[key] = (int(text) if text.isdigit() else text) if text else None
    config["timezone"] = values.get("timezone", "").strip() or "UTC"
    return config


def parameter_values(values: Mapping[str, str], target: Target | None) -> dict[str, Any]:
    """The values typed for the target's parameters (blank: its default applies). A
    dashboard's filters take JSON values of their types, read from text as its page does."""
    if target is None:
        return {}
    typed_in = {
        f.name: text
        for f in target.fields
        if (text := values.get(f"parameters.{f.name}", "")).strip()
    }
    if not target.is_dashboard:
        return typed_in
    try:
        return filters.parse(target.row.parameters or [], typed_in)
    except ValidationFailed as error:
        renamed = ValidationFailed(
            error.detail,
            errors=[
                {"field": "parameters." + e["field"].removeprefix(filters.QUERY_PREFIX),
                 "message": e["message"]}
                for e in error.errors or []
            ],
        )  # fmt: skip
        raise _labelled(renamed, {f.name: f.label for f in target.fields}) from None


def submission(values: Mapping[str, str], target: Target | None) -> Submission:
    """The API body of the form (not yet checked: :func:`checked` does that)."""
    config = cadence_config(values)
    recipients: list[dict[str, Any]] = []
    rows: list[int] = []
    for i in range(row_count(values)):
        address = values.get(f"recipients[{i}].address", "").strip()
        if not address:
            continue
        recipient: dict[str, Any] = {
            "type": values.get(f"recipients[{i}].type", ""),
            "address": address,
        }
        if secret := values.get(f"recipients[{i}].secret", ""):
            recipient["secret"] = secret
        if own := values.get(f"recipients[{i}].parameters", "").strip():
            recipient["parameters"] = _own_parameters(own, i)
        recipients.append(recipient)
        rows.append(i)
    body: dict[str, Any] = {
        "name": values.get("name", "").strip(),
        "scheduleConfig": config,
        "parameters": parameter_values(values, target),
        "enabled": values.get("enabled") == "true",
        "recipients": recipients,
        "exportFormat": values.get("exportFormat", ""),
        "businessDaysOnly": values.get("businessDaysOnly") == "true",
        "holidayCalendar": values.get("holidayCalendar", "").strip() or None,
        "misfirePolicy": values.get("misfirePolicy", ""),
        "misfireGraceSeconds": values.get("misfireGraceSeconds", "").strip(),
    }
    if target is not None:
        body["dashboardId" if target.is_dashboard else "reportId"] = str(target.row.id)
    labels = {f.name: f.label for f in target.fields} if target else {}
    return Submission(body, rows, str(config["cadence"]), labels)


def _own_parameters(text: str, row: int) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ValidationFailed.field(
            f"recipients[{row}].parameters", "this recipient's own values are not JSON"
        ) from None


def checked(sub: Submission) -> ReportScheduleWrite:
    """The body as the API's input model, or a 422 naming the form's fields."""
    try:
        return ReportScheduleWrite.model_validate(sub.body)
    except ValidationError as exc:
        raise sub.renamed(invalid(exc, "the schedule is not valid")) from None
