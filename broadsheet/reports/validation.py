"""Checks of a report definition against its data source, run when it is saved.

A report that cannot run should not be saved: each query must be one read-only statement,
bind only declared parameters, and be accepted by the database; each visualization must name
columns its dataset returns. Errors name the field (``query``, ``datasets.weekly``,
``visualizations[0].dataMapping.y``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, text

from broadsheet.charts import mapping
from broadsheet.datasources import query, sqlguard
from broadsheet.errors import ValidationFailed
from broadsheet.reports.schemas import MAIN_DATASET, ReportDefinitionWrite

DESCRIBE_TIMEOUT_SECONDS = 15


def check_definition(engine: Engine, body: ReportDefinitionWrite, timeout: int) -> None:
    declared = [p.name for p in body.parameters]
    queries = {MAIN_DATASET: body.query} if body.query else {}
    queries.update(body.datasets)
    columns: dict[str, list[str]] = {}
    for name, sql in queries.items():
        field = "query" if name == MAIN_DATASET else f"datasets.{name}"
        try:
            sqlguard.check_read_only(sql, engine.dialect.name)
        except sqlguard.UnsafeQuery as exc:
            raise ValidationFailed.field(field, str(exc)) from None
        undeclared = sorted(set(bind_names(sql)) - set(declared))
        if undeclared:
            names = ", ".join(f":{n}" for n in undeclared)
            raise ValidationFailed.field(
                field, f"the query binds {names} but the report declares no such parameter"
            )
        try:
            samples = {n: _sample(body, n) for n in bind_names(sql)}
            columns[name] = query.describe(
                engine, sql, samples, min(timeout, DESCRIBE_TIMEOUT_SECONDS)
            )
        except query.QueryTimeout as exc:  # the database did not reject it: it took too long
            raise ValidationFailed.field(field, str(exc)) from None
        except query.QueryFailed as exc:
            raise ValidationFailed.field(field, f"the data source rejected it: {exc}") from None
    for index, viz in enumerate(body.visualizations):
        spec = viz.model_dump(by_alias=True, exclude_none=True)
        dataset = viz.dataset or MAIN_DATASET
        try:
            mapping.required_columns(viz.type.value, viz.data_mapping)
            if dataset in columns:
                mapping.check_columns(spec, columns[dataset])
        except mapping.MappingError as exc:
            raise ValidationFailed.field(f"visualizations[{index}].{exc.field}", str(exc)) from None


SAMPLES: dict[str, Any] = {
    "string": "sample",
    "number": 1,
    "date": date(2000, 1, 3),
    "boolean": False,
}


def _sample(body: ReportDefinitionWrite, name: str) -> Any:
    """A value of the parameter's type for a dry run: its first option, else a fixed sample."""
    parameter = next(p for p in body.parameters if p.name == name)
    if parameter.options:
        return parameter.options[0].value
    return SAMPLES[parameter.type.value]


def bind_names(sql: str) -> list[str]:
    """The ``:name`` parameters a query binds, as SQLAlchemy will see them."""
    return list(text(sql).compile().binds)
