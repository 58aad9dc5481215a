"""``/openapi.json`` lists the values of every enumerated query parameter and field, so
generated clients get them; an unknown value is still a 422 problem+json listing them."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from broadsheet.audit.log import AuditAction
from broadsheet.exports import registry
from broadsheet.exports.formats import ExportFormat
from broadsheet.models import JobStatus
from tests.factories import Tenancy

FORMATS = ["pdf", "excel", "csv", "json", "ndjson", "parquet"]
JOB_STATUSES = ["queued", "processing", "completed", "failed", "cancelled"]
EXECUTION_STATUSES = ["pending", "running", "retrying", "completed", "failed"]
DELIVERY_STATUSES = ["pending", "sending", "sent", "failed", "skipped"]
RECIPIENT_TYPES = ["email", "slack", "teams", "webhook", "s3"]
MISFIRE = ["run_once", "skip"]
PARAMETER_TYPES = ["string", "number", "date", "boolean", "enum"]
CHARTS = ["table", "bar", "line", "pie", "scatter", "heatmap", "candlestick"]
COLUMN_TYPES = ["string", "integer", "number", "decimal", "boolean", "date", "timestamp", "time"]
TIMEFRAMES = ["daily", "weekly", "monthly", "quarterly", "yearly", "custom"]
# Each audited kind of object's created, updated and deleted, and the explicit actions.
OBJECTS = ["dashboard", "data_source", "event_subscription", "key", "report", "schedule",
           "tenant", "user"]  # fmt: skip
ACTIONS = sorted(
    [f"{o}.{verb}" for o in OBJECTS for verb in ("created", "updated", "deleted")]
    + ["auth.signin_failed", "delivery.failed", "delivery.sent", "email.unsubscribed",
       "export.downloaded", "key.revoked", "owner.notified", "tenant.webhook_secret_rotated"]
)  # fmt: skip

# (schema, property) → its values; a "[]" property means the values of the array's items.
FIELDS: list[tuple[str, str, list[str]]] = [
    ("ReportGenerationJob", "status", JOB_STATUSES),
    ("ReportGenerationJob", "priority", ["high", "low"]),
    ("Execution", "status", EXECUTION_STATUSES),
    ("Execution", "trigger", ["schedule", "manual"]),
    ("Delivery", "status", DELIVERY_STATUSES),
    ("Delivery", "recipientType", RECIPIENT_TYPES),
    ("Recipient", "type", RECIPIENT_TYPES),
    ("ScheduleRecipient", "type", RECIPIENT_TYPES),
    ("ReportScheduleWrite", "exportFormat", FORMATS),
    ("ReportScheduleWrite", "misfirePolicy", MISFIRE),
    ("ReportSchedule", "exportFormat", FORMATS),
    ("ReportSchedule", "misfirePolicy", MISFIRE),
    ("ReportSchedule", "lastRunStatus", EXECUTION_STATUSES),
    ("ScheduleConfig", "cadence", ["daily", "weekly", "monthly", "cron"]),
    ("ReportParameter", "type", PARAMETER_TYPES),
    ("ReportParameterOut", "type", PARAMETER_TYPES),
    ("Visualization", "type", CHARTS),
    ("VisualizationOut", "type", CHARTS),
    ("VisualizationResult", "type", CHARTS),
    ("Column", "type", COLUMN_TYPES),
    ("ReportDefinitionWrite", "timeframe", TIMEFRAMES),
    ("ReportDefinition", "timeframe", TIMEFRAMES),
    ("ReportMetadata", "timeframe", TIMEFRAMES),
    ("DataSourceWrite", "kind", ["sql"]),
    ("DataSource", "kind", ["sql"]),
    ("AuditEntry", "action", ACTIONS),
]
# (path, query parameter) → its values
QUERY: list[tuple[str, str, list[str]]] = [
    ("/api/v1/reports/results/{resultId}/export", "format", FORMATS),
    ("/api/v1/audit", "action", ACTIONS),
    ("/api/v1/reports", "timeframe", TIMEFRAMES),
    (
        "/api/v1/reports",
        "sort",
        ["name", "-name", "createdAt", "-createdAt", "updatedAt", "-updatedAt"],
    ),
]


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/openapi.json").json())


def values(spec: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    """The values a schema allows, through ``$ref``, ``anyOf`` (less null), ``enum`` and
    ``const``; empty for a schema that allows any string."""
    if "$ref" in schema:
        return values(spec, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    if "anyOf" in schema:
        return [v for s in schema["anyOf"] if s.get("type") != "null" for v in values(spec, s)]
    if "enum" in schema:
        return list(schema["enum"])
    return [schema["const"]] if "const" in schema else []


@pytest.mark.parametrize(
    ("name", "field", "expected"), FIELDS, ids=[f"{n}.{f}" for n, f, _ in FIELDS]
)
def test_enumerated_fields_list_their_values(
    spec: dict[str, Any], name: str, field: str, expected: list[str]
) -> None:
    schemas = spec["components"]["schemas"]
    variants = [s for s in schemas if s == name or s.startswith(f"{name}-")]  # -Input/-Output
    assert variants, f"no schema {name} in {sorted(schemas)}"
    for variant in variants:
        assert values(spec, schemas[variant]["properties"][field]) == expected, variant


def test_recipients_of_a_schedule_are_typed(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    items = schemas["ReportSchedule"]["properties"]["recipients"]["items"]
    assert values(spec, schemas[items["$ref"].rsplit("/", 1)[-1]]["properties"]["type"]) == (
        RECIPIENT_TYPES
    )


@pytest.mark.parametrize(("path", "name", "expected"), QUERY, ids=[f"{p} {n}" for p, n, _ in QUERY])
def test_enumerated_query_parameters_list_their_values(
    spec: dict[str, Any], path: str, name: str, expected: list[str]
) -> None:
    (parameter,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert values(spec, parameter["schema"]) == expected


def test_the_types_say_what_the_code_does() -> None:
    assert list(get_args(ExportFormat)) == list(registry.FORMATS) == FORMATS
    assert list(get_args(AuditAction)) == ACTIONS
    assert [s.value for s in JobStatus] == JOB_STATUSES


@pytest.mark.parametrize(
    ("path", "params", "name", "listed"),
    [
        ("/api/v1/reports/results/{id}/export", {"format": "docx"}, "format", FORMATS),
        ("/api/v1/audit", {"action": "report.exploded"}, "action", ACTIONS),
        ("/api/v1/reports", {"timeframe": "hourly"}, "timeframe", TIMEFRAMES),
    ],
)
def test_an_unknown_value_is_422_listing_the_values(
    client: TestClient,
    tenancy: Tenancy,
    path: str,
    params: dict[str, str],
    name: str,
    listed: list[str],
) -> None:
    caller = tenancy.key("acme")
    path = path.replace("{id}", "00000000-0000-4000-8000-000000000000")
    response = client.get(path, params=params, headers=caller.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == name
    assert error["message"] == f"{params[name]!r} is not allowed; use one of: {', '.join(listed)}"


def test_a_long_unknown_value_is_cut_short_in_the_message(
    client: TestClient, tenancy: Tenancy
) -> None:
    caller = tenancy.key("acme")
    huge = "x" * 5000
    response = client.get("/api/v1/audit", params={"action": huge}, headers=caller.headers)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (
        error["message"].startswith("'xxx")
        and "... is not allowed; use one of:" in error["message"]
    )
    assert len(response.text) < 2000
