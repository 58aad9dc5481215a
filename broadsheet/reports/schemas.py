"""Report schemas of seed 000 (``ReportDefinition``, ``ReportMetadata``, ``ReportParameter``,
``Visualization``), camelCase on the wire."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from broadsheet.kit.schema import ApiInput, ApiModel, IanaZone, RoundTripInput, Tags
from broadsheet.reports.parameters import check_default

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
VIZ_ID = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$"
MAIN_DATASET = "main"


class Timeframe(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"
    custom = "custom"


class ParameterType(StrEnum):
    string = "string"
    number = "number"
    date = "date"
    boolean = "boolean"
    enum = "enum"


class VisualizationType(StrEnum):
    table = "table"
    bar = "bar"
    line = "line"
    pie = "pie"
    scatter = "scatter"
    heatmap = "heatmap"
    candlestick = "candlestick"


class ParameterOption(ApiInput):
    label: str = Field(min_length=1, max_length=255)
    value: str = Field(max_length=1000)


class ReportParameter(ApiInput):
    name: str = Field(pattern=IDENTIFIER, description="Bound in the query as `:name`.")
    label: str = Field(min_length=1, max_length=255)
    type: ParameterType
    required: bool = False
    default_value: str | None = Field(
        None, max_length=1000, description="A literal, or an expression such as `now()`."
    )
    options: list[ParameterOption] | None = Field(None, max_length=1000)

    @field_validator("default_value", mode="before")
    @classmethod
    def _scalar_default(cls, value: Any) -> Any:
        # The seed types defaultValue as a string; accept a JSON number or boolean as its text.
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value

    @model_validator(mode="after")
    def _options_fit_type(self) -> ReportParameter:
        if self.type is ParameterType.enum:
            if not self.options:
                raise ValueError("an enum parameter needs at least one option")
            values = [o.value for o in self.options]
            if len(set(values)) != len(values):
                raise ValueError("option values must be unique")
        elif self.options:
            raise ValueError("options are only for enum parameters")
        if self.default_value is not None:
            options = [o.value for o in self.options] if self.options else None
            check_default(self.type.value, self.default_value, options)
        return self


class Visualization(ApiInput):
    id: str = Field(pattern=VIZ_ID)
    type: VisualizationType
    title: str | None = Field(None, max_length=255)
    dataset: str | None = Field(
        None, pattern=IDENTIFIER, description="A name from `datasets`; default the main query."
    )
    data_mapping: dict[str, Any] = Field(
        description="Which column plays which part: x, y, series, value, open/high/low/close…"
    )
    options: dict[str, Any] | None = None


class ReportDefinitionWrite(RoundTripInput):
    """The body of POST and PUT. A PUT replaces the whole definition."""

    READ_ONLY = frozenset({"id", "createdAt", "updatedAt", "createdBy", "createdByName"})

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=10_000)
    category: str = Field(min_length=1, max_length=100)
    timeframe: Timeframe | None = None
    data_source: str = Field(min_length=1, max_length=100, description="A data source's name.")
    query: str | None = Field(None, max_length=100_000)
    datasets: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="More named queries beside `query`; visualizations pick one by name.",
    )
    parameters: list[ReportParameter] = Field(default_factory=list, max_length=100)
    visualizations: list[Visualization] = Field(default_factory=list, max_length=50)
    layout: dict[str, Any] | None = None
    tags: Tags = Field(default_factory=list, max_length=50)
    timezone: IanaZone = Field(
        "UTC",
        max_length=64,
        description="IANA zone for date expressions such as `now()` and for displayed times.",
    )
    cache_ttl_seconds: int | None = Field(
        None,
        ge=0,
        le=2_592_000,
        description="Reuse a result of the same version and parameters this recent.",
    )
    pdf_max_rows: int | None = Field(
        None, ge=1, le=10_000, description="Rows in a PDF's table (default 1,000)."
    )
    version: int | None = Field(
        None,
        ge=1,
        description="On PUT, the version you read: a newer stored version answers 409.",
    )

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, datasets: dict[str, str]) -> dict[str, str]:
        for name, query in datasets.items():
            if not re.match(IDENTIFIER, name) or name == MAIN_DATASET:
                raise ValueError(f"dataset name {name!r} must be an identifier other than 'main'")
            if not query.strip() or len(query) > 100_000:
                raise ValueError(f"dataset {name!r} needs a query of at most 100,000 characters")
        return datasets

    @model_validator(mode="after")
    def _datasets_exist(self) -> ReportDefinitionWrite:
        for viz in self.visualizations:
            if viz.dataset and viz.dataset != MAIN_DATASET and viz.dataset not in self.datasets:
                raise ValueError(f"visualization {viz.id!r} names unknown dataset {viz.dataset!r}")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> ReportDefinitionWrite:
        for what, names in (
            ("parameter names", [p.name for p in self.parameters]),
            ("visualization ids", [v.id for v in self.visualizations]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{what} must be unique: {', '.join(duplicates)}")
        return self


class ReportParameterOut(ApiModel):
    name: str
    label: str
    type: ParameterType
    required: bool = False
    default_value: str | None = None
    options: list[dict[str, str]] | None = None


class VisualizationOut(ApiModel):
    id: str
    type: VisualizationType
    title: str | None = None
    dataset: str | None = None
    data_mapping: dict[str, Any]
    options: dict[str, Any] | None = None


class ReportDefinition(ApiModel):
    """A whole definition, as stored (GET, PUT)."""

    id: uuid.UUID
    name: str
    description: str | None
    category: str
    timeframe: Timeframe | None
    data_source: str
    query: str | None
    datasets: dict[str, str]
    parameters: list[ReportParameterOut]
    visualizations: list[VisualizationOut]
    layout: dict[str, Any] | None
    tags: list[str]
    timezone: str
    cache_ttl_seconds: int | None
    pdf_max_rows: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int


class ReportMetadata(ApiModel):
    """One row of the report list (seed 000 ``ReportMetadata`` plus read-model statistics)."""

    id: uuid.UUID
    name: str
    description: str | None
    category: str
    timeframe: Timeframe | None
    data_source: str
    created_at: datetime
    updated_at: datetime
    created_by: str
    created_by_name: str
    tags: list[str]
    version: int
    parameter_count: int
    visualization_count: int
    execution_count: int
    last_execution_at: datetime | None
    average_execution_time_ms: int | None


class ReportFilters(ApiModel):
    category: str | None = None
    timeframe: Timeframe | None = None
    tag: str | None = None
    q: str | None = Field(None, max_length=200)
    sort: Literal["name", "-name", "createdAt", "-createdAt", "updatedAt", "-updatedAt"] = (
        "-updatedAt"
    )
