"""Dashboard schemas of seed 000 (``DashboardDefinition``, ``DashboardWidget``,
``DashboardMetadata``) with issue 14's filters and time zone, camelCase on the wire.

A widget's ``source`` and ``options`` depend on its ``type``; they are typed by the models at
the end of this module and checked by ``validation`` when a dashboard is saved, so each error
names its field exactly (``widgets[2].source.reportId``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field

from broadsheet.kit.schema import ApiInput, ApiModel, IanaZone, RoundTripInput, Tags
from broadsheet.reports.schemas import IDENTIFIER

WIDGET_ID = r"^[A-Za-z0-9_-]{1,64}$"
GRID_COLUMNS = 12
MAX_WIDGETS = 50
MAX_FILTERS = 50
MAX_Y = 1000
MIN_REFRESH_SECONDS = 30
MAX_REFRESH_SECONDS = 86_400
DEFAULT_REFRESH_SECONDS = 300
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_MARKDOWN = 20_000


class WidgetType(StrEnum):
    visualization = "visualization"
    report = "report"
    metric = "metric"
    text = "text"


class FilterType(StrEnum):
    string = "string"
    number = "number"
    integer = "integer"
    boolean = "boolean"
    date = "date"
    enum = "enum"


Aggregate = Literal["first", "sum", "avg", "min", "max", "count"]


# Grid numbers are JSON integers: true is not 1, nor "3" 3.
class Layout(ApiInput):
    type: Literal["grid"] = "grid"
    columns: Literal[12] = Field(12, description="The only grid offered: 12 columns.")


class Position(ApiInput):
    x: int = Field(strict=True, ge=0, lt=GRID_COLUMNS, description="Column, 0 … 11.")
    y: int = Field(strict=True, ge=0, le=MAX_Y, description="Row, 0 … 1000.")


class Size(ApiInput):
    width: int = Field(strict=True, ge=1, le=GRID_COLUMNS, description="Columns; x + width ≤ 12.")
    height: int = Field(strict=True, ge=1, le=MAX_Y, description="Rows.")


class DashboardWidget(ApiInput):
    id: str = Field(pattern=WIDGET_ID, description="1 to 64 of A-Z a-z 0-9 _ -, unique.")
    type: WidgetType
    title: str | None = Field(None, max_length=255)
    source: dict[str, Any] = Field(
        description="visualization: {reportId, visualizationId, parameters?}; report: "
        "{reportId, parameters?}; metric: {reportId, parameters?, column, aggregate?}; "
        "text: {markdown}. Parameter values are literals or templates such as "
        "{{today().minusDays(7)}}, evaluated in the dashboard's time zone."
    )
    position: Position
    size: Size
    options: dict[str, Any] | None = Field(
        None, description="refreshInterval (≥ 30 s); for a report widget also pageSize (≤ 100)."
    )


class FilterOption(ApiInput):
    value: str = Field(max_length=1000)
    label: str = Field(min_length=1, max_length=255)


class FilterTarget(ApiInput):
    widget_id: str = Field(pattern=WIDGET_ID)
    parameter: str = Field(pattern=IDENTIFIER)


class DashboardFilter(ApiInput):
    """A shared filter: its value replaces the targeted widgets' report parameter."""

    name: str = Field(pattern=IDENTIFIER, description="Set as `?p.<name>=` on a read.")
    label: str = Field(min_length=1, max_length=255)
    type: FilterType
    default_value: Any = Field(
        None, description="A JSON value of the type; a date may be a template like {{today()}}."
    )
    options: list[FilterOption] | None = Field(None, max_length=1000)
    targets: list[FilterTarget] = Field(default_factory=list, max_length=MAX_WIDGETS)


class DashboardDefinitionWrite(RoundTripInput):
    """The body of POST and PUT. A PUT replaces the whole definition."""

    READ_ONLY = frozenset({"id", "createdAt", "updatedAt", "createdBy", "createdByName"})

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=10_000)
    layout: Layout = Field(default_factory=Layout)
    widgets: list[DashboardWidget] = Field(max_length=MAX_WIDGETS)
    refresh_interval: int = Field(
        DEFAULT_REFRESH_SECONDS,
        strict=True,
        ge=MIN_REFRESH_SECONDS,
        le=MAX_REFRESH_SECONDS,
        description="Seconds a widget's result stays fresh (≥ 30; default 300).",
    )
    timezone: IanaZone = Field(
        "UTC", max_length=64, description="IANA zone templated parameters are evaluated in."
    )
    parameters: list[DashboardFilter] = Field(default_factory=list, max_length=MAX_FILTERS)
    tags: Tags = Field(default_factory=list, max_length=50)
    version: int | None = Field(
        None, ge=1, description="On PUT, the version you read: a newer stored version answers 409."
    )


# --- a widget's source and options, by type (checked in ``validation``) ----------------------


class WidgetOptions(ApiInput):
    refresh_interval: int | None = Field(
        None, ge=MIN_REFRESH_SECONDS, le=MAX_REFRESH_SECONDS, strict=True
    )


class ReportWidgetOptions(WidgetOptions):
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, strict=True)


class ReportSource(ApiInput):
    report_id: uuid.UUID
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=100)


class VisualizationSource(ReportSource):
    visualization_id: str = Field(min_length=1, max_length=100)


class MetricSource(ReportSource):
    column: str = Field(min_length=1, max_length=255)
    aggregate: Aggregate = Field("first", description="first: the first row's value.")


class TextSource(ApiInput):
    # Stored as given: leading spaces and trailing newlines mean something in Markdown.
    model_config = ConfigDict(**{**ApiInput.model_config, "str_strip_whitespace": False})

    markdown: str = Field(max_length=MAX_MARKDOWN)


SOURCES: dict[WidgetType, type[ApiInput]] = {
    WidgetType.visualization: VisualizationSource,
    WidgetType.report: ReportSource,
    WidgetType.metric: MetricSource,
    WidgetType.text: TextSource,
}
OPTIONS: dict[WidgetType, type[WidgetOptions]] = {
    WidgetType.visualization: WidgetOptions,
    WidgetType.report: ReportWidgetOptions,
    WidgetType.metric: WidgetOptions,
    WidgetType.text: WidgetOptions,
}


# --- answers ---------------------------------------------------------------------------------


class WidgetOut(ApiModel):
    id: str
    type: WidgetType
    title: str | None = None
    source: dict[str, Any]
    position: dict[str, int]
    size: dict[str, int]
    options: dict[str, Any]


class FilterOut(ApiModel):
    name: str
    label: str
    type: FilterType
    default_value: Any = None
    options: list[dict[str, str]] | None = None
    targets: list[dict[str, str]]


class DashboardDefinition(ApiModel):
    """A whole definition, as stored (POST, PUT, and GET until widget data is served)."""

    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    tags: list[str]
    version: int
    layout: dict[str, Any]
    refresh_interval: int
    timezone: str
    parameters: list[FilterOut]
    widgets: list[WidgetOut]


class WidgetStatus(StrEnum):
    ready = "ready"  # data of a result younger than the widget's refresh interval
    pending = "pending"  # no result yet; a job is queued or running
    refreshing = "refreshing"  # the previous result's data while a new job runs
    failed = "failed"  # `error` says why
    unavailable = "unavailable"  # the widget's report was deleted or is not visible


WIDGET_DATA_DESCRIPTION = (
    "status (ready, pending, refreshing, failed, unavailable), error, resultId, generatedAt, "
    "parameters (the values used), jobId (a job queued or running for it); by type — "
    "visualization: spec, chartData, svgUrl; report: columns, rows (the first page), "
    "totalRows, pageSize; metric: column, aggregate, value, previousValue, change, "
    "changePercent (percent: 25 is +25 %); text: html (Markdown rendered and sanitised)."
)


class WidgetWithData(WidgetOut):
    data: dict[str, Any] = Field(description=WIDGET_DATA_DESCRIPTION)


class DashboardDocument(DashboardDefinition):
    """Seed 000's ``Dashboard``: the definition with every widget's data."""

    filters: dict[str, Any] = Field(description="The filter values used, by filter name.")
    last_updated: datetime = Field(
        description="The oldest generatedAt of the ready widgets; the response time if none."
    )
    widgets: list[WidgetWithData]  # type: ignore[assignment]  # each widget with its data


class WidgetJob(ApiModel):
    widget_id: str
    job_id: uuid.UUID


class DashboardRefresh(ApiModel):
    """What a forced refresh queued: a job per widget that reads a report (widgets reading
    the same report with the same values share one)."""

    filters: dict[str, Any]
    jobs: list[WidgetJob]


class DashboardMetadata(ApiModel):
    """One row of the dashboard list (seed 000 ``DashboardMetadata`` plus the read model's
    counts)."""

    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    created_by_name: str
    tags: list[str]
    widget_count: int
    access_count: int
    last_accessed_at: datetime | None


class DashboardFilters(ApiModel):
    tag: str | None = None
    q: str | None = Field(None, max_length=200)
