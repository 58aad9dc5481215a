"""Edit mode's add-filter form as a dashboard filter, and a definition's errors about it
back at the form's fields (``parameters[K].targets[j]`` at the select of the j-th widget
it targets)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from broadsheet.dashboards.schemas import FilterType
from broadsheet.errors import ValidationFailed
from broadsheet.web.dashboards.edit_forms import INDEXED

FILTER_TYPES = [
    ("date", "Date"),
    ("enum", "Choice from a list"),
    ("string", "Text"),
    ("number", "Number"),
    ("integer", "Whole number"),
    ("boolean", "Yes or no"),
]

# The add-filter form's fields are named filter.<field> (the add-widget form has a "type").
FILTER_FIELDS = (
    (".name", "filter.name"),
    (".label", "filter.label"),
    (".type", "filter.type"),
    (".defaultValue", "filter.defaultValue"),
    (".options", "filter.options"),
)


def new_filter(
    form: Mapping[str, str], targets: list[tuple[str, str]]
) -> tuple[dict[str, Any], list[str]]:
    """The filter the add form describes, and the widget id of each of its targets (in
    order, so ``parameters[K].targets[j]`` finds its field). ``targets``: the form's
    ``(widgetId, parameter)`` choices."""
    kind = form.get("filter.type", "")
    problems: list[dict[str, str]] = []
    if kind not in {k for k, _ in FILTER_TYPES}:
        problems.append({"field": "filter.type", "message": "choose the type of value"})
    default, problem = _default(kind, form.get("filter.defaultValue", "").strip())
    if problem:
        problems.append({"field": "filter.defaultValue", "message": problem})
    options = None
    if kind == FilterType.enum:
        options = []
        for line in form.get("filter.options", "").splitlines():
            if line.strip():
                value, _, label = line.partition("=")
                options.append({"value": value.strip(), "label": (label or value).strip()})
    if problems:
        raise ValidationFailed("; ".join(p["message"] for p in problems), errors=problems)
    made = {
        "name": form.get("filter.name", "").strip(),
        "label": form.get("filter.label", "").strip(),
        "type": kind,
        "defaultValue": default,
        "options": options,
        "targets": [{"widgetId": w, "parameter": p} for w, p in targets],
    }
    return made, [w for w, _ in targets]


def _default(kind: str, text: str) -> tuple[Any, str | None]:
    if not text:
        return None, None
    if kind in (FilterType.number, FilterType.integer):
        try:
            return (int(text) if kind == FilterType.integer else float(text)), None
        except ValueError:
            return None, "enter a number" if kind == FilterType.number else "enter a whole number"
    if kind == FilterType.boolean:
        lowered = text.lower()
        if lowered not in ("true", "false", "yes", "no"):
            return None, "enter yes or no"
        return lowered in ("true", "yes"), None
    return text, None


def filter_errors(error: ValidationFailed, index: int, target_widgets: list[str]) -> dict[str, str]:
    """A definition's errors about ``parameters[index]`` at the add-filter form's fields."""
    found: dict[str, str] = {}
    for item in error.errors or [{"field": "", "message": error.detail}]:
        where, message = str(item.get("field", "")), str(item.get("message", "invalid"))
        match = INDEXED.match(where)
        target = ""
        if match and match[1] == "parameters" and int(match[2]) == index:
            rest = match[3]
            hit = re.match(r"^\.targets\[(\d+)\]", rest)
            if hit and int(hit[1]) < len(target_widgets):
                target = f"target.{target_widgets[int(hit[1])]}"
            else:
                target = next((n for suffix, n in FILTER_FIELDS if rest.startswith(suffix)), "")
        elif not match:
            target = where
        found.setdefault(target, message)
    return found
