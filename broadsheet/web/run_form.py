"""The run form's fields, made from a report's declared parameters, and what a posted form
asks for.

Each parameter is one field named ``p.<name>`` (so no parameter's name can clash with the
page's own fields or element ids), labelled with the parameter's label:

    date → <input type=date>   number → <input type=number>   boolean → a checkbox
    enum → <select>            string → <input type=text>

A field starts at the parameter's default as it evaluates now in the report's zone
(``today().minusDays(7)`` shows as the date it is today), so what a person sees is what runs.
A checkbox is preceded by a hidden ``false`` of the same name: unticked, the browser sends
only that, so a default of true can be turned off; ticked, the last value (``true``) wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from broadsheet.errors import BroadsheetError
from broadsheet.reports import parameters
from broadsheet.reports.expressions import is_expression
from broadsheet.web.forms import FormState

PREFIX = "p."


@dataclass(frozen=True)
class Field:
    name: str  # the form field's name: p.<parameter name>
    parameter: str
    label: str
    type: str
    required: bool
    hint: str | None
    options: list[tuple[str, str]]  # (value, text), for an enum


def field_name(parameter: str) -> str:
    return f"{PREFIX}{parameter}"


def fields(declared: list[dict[str, Any]], now: datetime, zone: ZoneInfo) -> list[Field]:
    made = []
    for param in declared:
        kind = str(param.get("type"))
        options = [(str(o["value"]), str(o["label"])) for o in param.get("options") or []]
        made.append(
            Field(
                name=field_name(str(param["name"])),
                parameter=str(param["name"]),
                label=str(param.get("label") or param["name"]),
                type=kind,
                required=bool(param.get("required")),
                hint=_hint(param, _default(param, now, zone)),
                options=options,
            )
        )
    return made


def defaults(declared: list[dict[str, Any]], now: datetime, zone: ZoneInfo) -> dict[str, str]:
    """The form's starting values: each parameter's default, evaluated, as field text."""
    shown = {}
    for param in declared:
        value = _default(param, now, zone)
        if value is not None:
            shown[field_name(str(param["name"]))] = as_text(value)
    return shown


def from_values(declared: list[dict[str, Any]], values: Mapping[str, Any]) -> dict[str, str]:
    """The form's values for a run's stored parameters (to run it again)."""
    names = {str(p["name"]) for p in declared}
    return {
        field_name(name): as_text(value)
        for name, value in values.items()
        if name in names and value is not None
    }


def submitted(declared: list[dict[str, Any]], form: FormData) -> dict[str, str]:
    """The values the posted form gives, by parameter name. An empty field gives none (the
    default, or "is required"); values are as typed, for the service to check."""
    found = {}
    for param in declared:
        name = str(param["name"])
        sent = form.getlist(field_name(name))
        if not sent:
            continue
        value = str(sent[-1])  # a ticked checkbox comes after its hidden "false"
        if param.get("type") != "string":
            value = value.strip()
        if value:
            found[name] = value
    return found


def failed(form: FormData, error: BroadsheetError, declared: list[dict[str, Any]]) -> FormState:
    """The posted form again, each problem at its parameter's field; a problem of no field
    (the report has no query, say) goes to the summary alone."""
    labels = {str(p["name"]): str(p.get("label") or p["name"]) for p in declared}
    errors: dict[str, str] = {}
    for item in error.errors or [{"field": "", "message": error.detail}]:
        where = str(item.get("field", ""))
        message = str(item.get("message", "invalid"))
        if where in labels:
            errors.setdefault(field_name(where), _about(labels[where], message))
        else:
            shown = f"{where}: {message}" if where and where != "query" else message
            errors.setdefault("", shown)
    return FormState(form, errors)


def _about(label: str, message: str) -> str:
    """The service's message about a parameter, naming it by its label: ``is required`` →
    ``Start Date is required``; ``'x' is not a number`` → ``Start Date: 'x' is not …``."""
    if message.startswith(("is ", "its ")):
        return f"{label} {message}"
    return f"{label}: {message}"


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _default(param: dict[str, Any], now: datetime, zone: ZoneInfo) -> Any:
    """The parameter's default evaluated now, or None (none declared, or one that does not
    evaluate: the run then says why)."""
    if param.get("defaultValue") is None:
        return None
    try:
        return parameters.resolve([param], {}, reference=now, tz=zone)[str(param["name"])]
    except parameters.ParameterErrors:
        return None


def _hint(param: dict[str, Any], value: Any) -> str | None:
    parts = []
    default = param.get("defaultValue")
    if param.get("type") == "date" and isinstance(default, str) and is_expression(default):
        shown = f", which is {as_text(value)} today" if value is not None else ""
        parts.append(f"Default: {default.strip()}{shown}.")
    if param.get("type") == "number":
        parts.append("A number, such as 12 or 0.5.")
    if not param.get("required") and param.get("type") not in ("boolean",):
        parts.append("Optional.")
    return " ".join(parts) or None
