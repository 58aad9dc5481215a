"""The report builder's draft read from what the browser posted, or from a stored report."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from broadsheet import models
from broadsheet.web.builder_draft import (
    ALIASES,
    MAX_ROWS,
    ChartDraft,
    Draft,
    ParameterDraft,
    mapping_or_none,
)

_ROW = re.compile(r"^(parameters|visualizations)\[(\d{1,3})\]\.")


def from_form(form: FormData) -> Draft:
    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    draft = Draft(
        name=text("name"),
        description=text("description"),
        category=text("category"),
        source_id=text("dataSource"),
        query=text("query").replace("\r\n", "\n"),
        tags=text("tags"),
        version=text("version"),
    )
    rows: dict[str, set[int]] = {"parameters": set(), "visualizations": set()}
    for key in form:
        found = _ROW.match(key)
        if found:
            rows[found.group(1)].add(int(found.group(2)))
    for i in sorted(rows["parameters"])[:MAX_ROWS]:
        p = f"parameters[{i}]."
        draft.parameters.append(
            ParameterDraft(
                name=text(p + "name").strip(),
                label=text(p + "label"),
                type=text(p + "type") or "string",
                required=text(p + "required") == "true",
                default=text(p + "defaultValue"),
                options=text(p + "options").replace("\r\n", "\n"),
                preview=text(p + "preview"),
            )
        )
    for i in sorted(rows["visualizations"])[:MAX_ROWS]:
        v = f"visualizations[{i}]."
        chart = ChartDraft(
            id=text(v + "id") or draft.new_chart_id(),
            type=text(v + "type") or "bar",
            title=text(v + "title"),
            dataset=text(v + "dataset"),
            aggregate=text(v + "options.aggregate"),
            hide_legend=text(v + "options.hideLegend") == "true",
        )
        prefix = v + "dataMapping."
        for key in form:
            role = key.removeprefix(prefix)
            if key.startswith(prefix) and role not in ("columns", "columnsText"):
                chart.mapping[role] = text(key)
        picked = [c for c in form.getlist(prefix + "columns") if isinstance(c, str) and c]
        typed = [c.strip() for c in text(prefix + "columnsText").split(",") if c.strip()]
        chart.columns = picked or typed
        draft.charts.append(chart)
    return draft


def from_definition(row: models.ReportDefinition, source_id: str) -> Draft:
    draft = Draft(
        name=row.name,
        description=row.description or "",
        category=row.category,
        source_id=source_id,
        query=row.query or "",
        tags=", ".join(row.tags or []),
        version=str(row.version),
    )
    for p in row.parameters or []:
        options = p.get("options") or []
        draft.parameters.append(
            ParameterDraft(
                name=str(p.get("name", "")),
                label=str(p.get("label", "")),
                type=str(p.get("type", "string")),
                required=bool(p.get("required")),
                default=str(p.get("defaultValue") or ""),
                options="\n".join(_option_line(o) for o in options if isinstance(o, dict)),
            )
        )
    for v in row.visualizations or []:
        kind = str(v.get("type", "bar"))
        raw = mapping_or_none(v.get("dataMapping")) or {}
        aliases = ALIASES.get(kind, {})
        options = mapping_or_none(v.get("options")) or {}
        chart = ChartDraft(
            id=str(v.get("id", "")) or draft.new_chart_id(),
            type=kind,
            title=str(v.get("title") or ""),
            dataset=str(v.get("dataset") or ""),
            aggregate=str(options.get("aggregate") or ""),
            hide_legend=options.get("showLegend") is False,
        )
        for role, column in raw.items():
            if role == "columns" and isinstance(column, list):
                chart.columns = [str(c) for c in column]
            elif role != "columns":
                chart.mapping[aliases.get(role, role)] = str(column)
        draft.charts.append(chart)
    return draft


def _option_line(option: Mapping[str, Any]) -> str:
    value, label = str(option.get("value", "")), str(option.get("label", ""))
    return value if label == value else f"{value} | {label}"
