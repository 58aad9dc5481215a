from fastapi.testclient import TestClient

SEED_SCHEMAS = {"ReportMetadata", "ReportDefinition", "ReportParameter", "Visualization"}


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_openapi_describes_every_endpoint_with_seed_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/v1/reports"]) == {"get", "post"}
    assert set(paths["/api/v1/reports/{reportId}"]) == {"get", "put", "delete"}
    assert set(paths["/api/v1/datasources/{sourceId}"]) == {"get", "put", "delete"}
    assert "post" in paths["/api/v1/datasources/{sourceId}/test"]
    schemas = set(spec["components"]["schemas"])
    assert {"ReportMetadata", "ReportDefinition", "Problem"} <= schemas
    listing = paths["/api/v1/reports"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"category", "timeframe", "tag", "q", "limit", "offset"} <= names
    created = paths["/api/v1/reports"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/ReportMetadata")
    assert "422" in paths["/api/v1/reports"]["post"]["responses"]


def test_docs_page_is_served(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()
