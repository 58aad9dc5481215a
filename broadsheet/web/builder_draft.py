"""The report builder's form as a draft (read by :mod:`builder_input`), changed by
the form's buttons, shown again as the form's values, and written as the API's body.

Field names are the API's own (``name``, ``query``, ``parameters[0].label``,
``visualizations[1].dataMapping.y``), so an error the schema or the service names lands at
its field. The form adds a few of its own: ``parameters[i].preview`` (a value for the
preview only), ``visualizations[i].options.hideLegend`` and
``visualizations[i].dataMapping.columnsText`` (a table's columns typed as text when no
preview has listed them).

What the builder does not show — a stored report's time zone, timeframe, layout, named
datasets, cache and PDF settings, and chart options it has no field for — is kept from the
stored definition when it is saved, since a save replaces the whole definition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broadsheet import models
from broadsheet.reports import validation

MAX_ROWS = 100  # parameters or charts a form may hold (the schema's limits: 100 and 50)
MAX_NAME = 100
PARAMETER_TYPES = (
    ("string", "Text"),
    ("number", "Number"),
    ("date", "Date"),
    ("boolean", "True or false"),
    ("enum", "One of a list"),
)
CHART_TYPES = (
    ("bar", "Bar"),
    ("line", "Line"),
    ("pie", "Pie"),
    ("scatter", "Scatter"),
    ("heatmap", "Heatmap"),
    ("candlestick", "Candlestick"),
    ("table", "Table"),
)
# A definition may name a role by its alias; the form shows the canonical role.
ALIASES = {"pie": {"x": "category", "y": "value"}, "scatter": {"series": "color"}}
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


@dataclass
class ParameterDraft:
    name: str = ""
    label: str = ""
    type: str = "string"
    required: bool = False
    default: str = ""
    options: str = ""  # one option a line: ``value`` or ``value | label``
    preview: str = ""

    def option_list(self) -> list[dict[str, str]]:
        found = []
        for line in self.options.splitlines():
            if not line.strip():
                continue
            value, _, label = line.partition("|")
            found.append({"label": (label or value).strip(), "value": value.strip()})
        return found

    def declared(self) -> dict[str, Any]:
        """As the API stores it (what ``parameters.resolve`` takes)."""
        out: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type}
        out["required"] = self.required
        if self.default.strip():
            out["defaultValue"] = self.default.strip()
        if self.type == "enum" or self.options.strip():
            out["options"] = self.option_list()
        return out


@dataclass
class ChartDraft:
    id: str
    type: str = "bar"
    title: str = ""
    dataset: str = ""
    mapping: dict[str, str] = field(default_factory=dict)  # role → column
    columns: list[str] = field(default_factory=list)  # a table's columns; none: all
    aggregate: str = ""
    hide_legend: bool = False

    def definition(self, stored_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """As the API takes it; ``stored_options`` are the saved chart's, kept where the form
        has no field for them."""
        viz: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title.strip():
            viz["title"] = self.title.strip()
        if self.dataset:
            viz["dataset"] = self.dataset
        if self.type == "table":
            viz["dataMapping"] = {"columns": list(self.columns)} if self.columns else {}
        else:
            viz["dataMapping"] = {role: col for role, col in self.mapping.items() if col}
        options = dict(stored_options or {})
        # "sum" is the default: written only when chosen over another stored aggregate. A
        # chart type without the field (aggregate "") keeps what was stored.
        if self.aggregate and (self.aggregate != "sum" or "aggregate" in options):
            options["aggregate"] = self.aggregate
        if self.type != "table":
            if self.hide_legend:
                options["showLegend"] = False
            elif "showLegend" in options:
                options["showLegend"] = True
        if options:
            viz["options"] = options
        return viz


@dataclass
class Draft:
    name: str = ""
    description: str = ""
    category: str = ""
    source_id: str = ""
    query: str = ""
    tags: str = ""
    version: str = ""
    parameters: list[ParameterDraft] = field(default_factory=list)
    charts: list[ChartDraft] = field(default_factory=list)

    # --- what the SQL binds -------------------------------------------------------------

    def bound(self) -> list[str]:
        """The ``:name`` parameters the SQL binds, read as the server reads them."""
        if not self.query.strip():
            return []
        try:
            return validation.bind_names(self.query)
        except Exception:  # text the binder cannot read: the save says what is wrong
            return []

    def missing(self) -> list[str]:
        declared = {p.name for p in self.parameters}
        return [name for name in self.bound() if name not in declared]

    def unused(self) -> list[str]:
        bound = set(self.bound())
        return [p.name for p in self.parameters if p.name and p.name not in bound]

    # --- the form's buttons ---------------------------------------------------------------

    def apply(self, action: str) -> str | None:
        """Do what a button asks (``add-parameter:region``, ``remove-chart:1``…); returns
        the field that should have focus afterwards, if any."""
        verb, _, argument = action.partition(":")
        if verb == "add-parameter" and len(self.parameters) < MAX_ROWS:
            name = argument.strip()[:MAX_NAME]
            if name and name in {p.name for p in self.parameters}:
                return None
            self.parameters.append(ParameterDraft(name=name, label=humanize(name) if name else ""))
            which = "label" if name else "name"
            return f"parameters[{len(self.parameters) - 1}].{which}"
        if verb == "remove-parameter" and _index(argument, self.parameters) is not None:
            del self.parameters[int(argument)]
            return "add-parameter"
        if verb == "add-chart" and len(self.charts) < MAX_ROWS:
            self.charts.append(ChartDraft(id=self.new_chart_id()))
            return f"visualizations[{len(self.charts) - 1}].type"
        if verb == "remove-chart" and _index(argument, self.charts) is not None:
            del self.charts[int(argument)]
            return "add-chart"
        return None

    def new_chart_id(self) -> str:
        taken = {c.id for c in self.charts}
        number = len(self.charts) + 1
        while f"chart-{number}" in taken:
            number += 1
        return f"chart-{number}"

    # --- the form's values and the API's body --------------------------------------------

    def values(self) -> dict[str, Any]:
        """The form's fields by name (a list for a repeated field), for ``FormState``."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "dataSource": self.source_id,
            "query": self.query,
            "tags": self.tags,
            "version": self.version,
        }
        for i, p in enumerate(self.parameters):
            prefix = f"parameters[{i}]."
            out |= {
                prefix + "name": p.name,
                prefix + "label": p.label,
                prefix + "type": p.type,
                prefix + "defaultValue": p.default,
                prefix + "options": p.options,
                prefix + "preview": p.preview,
            }
            if p.required:
                out[prefix + "required"] = "true"
        for i, c in enumerate(self.charts):
            prefix = f"visualizations[{i}]."
            out |= {
                prefix + "id": c.id,
                prefix + "type": c.type,
                prefix + "title": c.title,
                prefix + "dataset": c.dataset,
                prefix + "options.aggregate": c.aggregate or "sum",
                prefix + "dataMapping.columns": list(c.columns),
                prefix + "dataMapping.columnsText": ", ".join(c.columns),
            }
            out |= {f"{prefix}dataMapping.{role}": col for role, col in c.mapping.items()}
            if c.hide_legend:
                out[prefix + "options.hideLegend"] = "true"
        return out

    def body(self, source_name: str, stored: models.ReportDefinition | None) -> dict[str, Any]:
        """The API's body (``ReportDefinitionWrite``) for this draft, over ``stored``."""
        stored_options = {
            v.get("id"): v.get("options")
            for v in (stored.visualizations if stored is not None else None) or []
            if isinstance(v, dict)
        }
        body: dict[str, Any] = {
            "name": self.name,
            "description": self.description.strip() or None,
            "category": self.category,
            "dataSource": source_name,
            "query": self.query if self.query.strip() else None,
            "tags": [t for t in (t.strip() for t in self.tags.split(",")) if t],
            "parameters": [p.declared() for p in self.parameters],
            "visualizations": [
                c.definition(mapping_or_none(stored_options.get(c.id))) for c in self.charts
            ],
        }
        if stored is not None:
            body |= {
                "timeframe": stored.timeframe,
                "datasets": stored.datasets or {},
                "layout": stored.layout,
                "timezone": stored.timezone,
                "cacheTtlSeconds": stored.cache_ttl_seconds,
                "pdfMaxRows": stored.pdf_max_rows,
                "version": int(self.version) if self.version.isdigit() else stored.version,
            }
        return body


def mapping_or_none(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _index(text: str, rows: list[Any]) -> int | None:
    return int(text) if text.isdigit() and int(text) < len(rows) else None


def humanize(name: str) -> str:
    """A label from a parameter's name: ``startDate`` and ``start_date`` → ``Start date``."""
    words = _WORDS.findall(name)
    if not words:
        return name
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[:1].upper() + text[1:]
