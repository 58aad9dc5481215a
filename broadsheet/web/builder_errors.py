"""The report builder's save errors at the fields the form shows.

The schema's and the service's errors name the API's fields (``parameters[0].name``,
``visualizations[1].dataMapping.y``, ``query``); the form's fields have those names, so each
error is shown at its field, or at the nearest group that holds it
(``parameters[0].options[1].label`` at the options field, a chart's hidden id at the chart)
when the form shows no field of that name. A few messages are put in the form's words
(an empty name: "Enter a name for the report").
"""

from __future__ import annotations

import re

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from broadsheet.errors import BroadsheetError, ValidationFailed
from broadsheet.problems import from_validation
from broadsheet.web import builder_charts
from broadsheet.web.builder_draft import Draft

# Messages for fields left empty, in place of the schema's "at least 1 character".
# Keyed by the field without its row numbers (``parameters.label``).
EMPTY = {
    "name": "Enter a name for the report",
    "category": "Enter a category",
    "dataSource": "Choose a data source",
    "parameters.name": "Enter the parameter's name",
    "parameters.label": "Enter a label for the parameter",
}
_ROW_NUMBER = re.compile(r"\[\d+\]")


def schema_errors(exc: ValidationError) -> ValidationFailed:
    """The schema's errors as the API words them (``parameters[0].name``: …)."""
    located = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
    failed = from_validation(RequestValidationError(located))
    assert isinstance(failed, ValidationFailed)
    for item, raw in zip(failed.errors or [], located, strict=False):
        if raw.get("type") == "string_too_short" and not raw.get("input"):
            item["message"] = EMPTY.get(_ROW_NUMBER.sub("", item["field"]), item["message"])
        elif raw.get("type") == "string_pattern_mismatch" and item["field"].endswith(".name"):
            item["message"] = (
                "use letters, digits and underscores, starting with a letter or an underscore "
                "(the name the SQL binds as :name)"
            )
    return failed


def fields(draft: Draft) -> set[str]:
    """The names an error may be shown at: the form's visible fields and the groups that
    hold them (``parameters[0]``, ``visualizations[1].dataMapping``)."""
    names = {"name", "description", "category", "dataSource", "query", "tags"}
    names |= {"parameters", "visualizations"}
    for i, p in enumerate(draft.parameters):
        prefix = f"parameters[{i}]"
        names |= {prefix} | {
            f"{prefix}.{f}" for f in ("name", "label", "type", "required", "defaultValue")
        }
        if p.type == "enum" or p.options.strip():
            names.add(f"{prefix}.options")
    for i, c in enumerate(draft.charts):
        prefix = f"visualizations[{i}]"
        names |= {prefix, f"{prefix}.type", f"{prefix}.title", f"{prefix}.dataMapping"}
        names |= {f"{prefix}.dataMapping.{r.key}" for r in builder_charts.ROLES.get(c.type, ())}
        if c.type == "table":
            names.add(f"{prefix}.dataMapping.columns")
        if c.type in builder_charts.AGGREGATED:
            names.add(f"{prefix}.options.aggregate")
    return names


def place_errors(error: BroadsheetError, known: set[str]) -> dict[str, str]:
    """Each error at the nearest field the form shows (``parameters[0].options[1].label`` at
    ``parameters[0].options``), else at the form as a whole (key ``""``)."""
    placed: dict[str, str] = {}
    for item in error.errors or [{"field": "", "message": error.detail}]:
        field, message = item.get("field", ""), item.get("message", "invalid")
        placed.setdefault(_nearest(field, message, known), message)
    return placed


def _nearest(field: str, message: str, known: set[str]) -> str:
    if field == "body":  # a rule over the whole definition: the section it is about
        return (
            "parameters"
            if "parameter" in message
            else ("visualizations" if "visualization" in message else "")
        )
    if field.startswith("parameters[") and field.count(".") == 0:
        # The parameter's own checks name it whole; their words say which field they are about.
        for word, part in (("defaultValue", "defaultValue"), ("option", "options")):
            if word in message and f"{field}.{part}" in known:
                return f"{field}.{part}"
    while field and field not in known:
        cut = max(field.rfind("."), field.rfind("["))
        field = field[:cut] if cut > 0 else ""
    return field
