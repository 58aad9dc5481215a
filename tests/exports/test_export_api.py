"""GET /api/v1/reports/results/{id}/export end to end, on generated demo results."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pytest
from fastapi.testclient import TestClient

from broadsheet.config import Settings
from broadsheet.exports import registry
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id, run

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "excel": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "parquet": "application/vnd.apache.parquet",
}


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    tenancy.demo("acme")
    return tenancy.key("acme")


@pytest.fixture
def result_id(client: TestClient, admin: Caller) -> str:
    job = run(
        client,
        admin,
        report_id(client, admin, "Monthly Performance Report"),
        {"startDate": "2024-05-01", "endDate": "2024-05-31"},
    )
    assert job["status"] == "completed", job
    return str(job["resultId"])


def export(client: TestClient, caller: Caller, result: str, **params: Any) -> Any:
    return client.get(
        f"/api/v1/reports/results/{result}/export", params=params, headers=caller.headers
    )


def test_every_format_downloads_as_an_attachment(
    client: TestClient, admin: Caller, result_id: str
) -> None:
    assert set(MEDIA) == set(registry.FORMATS)
    for fmt, media in MEDIA.items():
        response = export(client, admin, result_id, format=fmt)
        assert response.status_code == 200, (fmt, response.text[:300])
        assert response.headers["content-type"] == media
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="monthly-performance-report_')
        assert disposition.endswith(f'.{registry.EXPORTERS[fmt].extension}"')
        assert len(response.content) > 100
    rows = list(csv.reader(io.StringIO(export(client, admin, result_id, format="csv").text)))
    assert rows[0] == ["date", "strategy", "return", "benchmark_return"]
    document = json.loads(export(client, admin, result_id, format="json").content)
    assert document["report"]["name"] == "Monthly Performance Report"
    assert len(document["rows"]) == len(rows) - 1 == 92
    assert export(client, admin, result_id, format="pdf").content.startswith(b"%PDF")
    assert export(client, admin, result_id, format="excel").content.startswith(b"PK")


def test_unknown_or_missing_format_lists_the_formats(
    client: TestClient, admin: Caller, result_id: str
) -> None:
    for params, says in (({"format": "docx"}, "pdf, excel, csv, json, ndjson, parquet"),
                         ({}, "required")):  # fmt: skip
        response = export(client, admin, result_id, **params)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        error = response.json()["errors"][0]
        assert error["field"] == "format"
        assert says in error["message"]
    too_many = export(client, admin, result_id, format="pdf", pdfMaxRows=10_001)
    assert too_many.status_code == 422


def test_unknown_expired_or_foreign_results_are_404(
    client: TestClient, admin: Caller, result_id: str, tenancy: Tenancy
) -> None:
    other = tenancy.key("globex")
    assert export(client, other, result_id, format="csv").status_code == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    assert export(client, admin, unknown, format="csv").status_code == 404
    assert export(client, admin, "../../etc/passwd", format="csv").status_code == 404


def test_an_export_is_made_once_even_when_asked_twice_at_once(
    client: TestClient,
    admin: Caller,
    result_id: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = registry.EXPORTERS["csv"]
    gate = threading.Event()

    class Counting:
        name, media_type, extension = real.name, real.media_type, real.extension

        def write(self, *args: Any) -> None:
            calls.append("csv")
            gate.wait(2)  # hold the first rendering so the second request arrives meanwhile
            real.write(*args)

    monkeypatch.setitem(registry.EXPORTERS, "csv", Counting())
    responses: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda: responses.append(export(client, admin, result_id, format="csv"))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [200, 200]
    assert responses[0].content == responses[1].content
    assert calls == ["csv"]
    export(client, admin, result_id, format="csv")  # served from storage
    assert calls == ["csv"]
    kept = list(
        Path(
            settings.resolved_storage_url.removeprefix("file://"), "results", result_id, "exports"
        ).iterdir()
    )
    assert [p.name for p in kept] == ["csv-plain.csv"]
    bom = export(client, admin, result_id, format="csv", bom="true")
    assert bom.content.startswith(b"\xef\xbb\xbf") and calls == ["csv", "csv"]


def test_reports_with_only_named_datasets_export(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    from tests.factories import report_body

    body = report_body(
        name="Datasets Only",
        query=None,
        parameters=[],
        visualizations=[],
        layout=None,
        datasets={"sides": "SELECT side, COUNT(*) AS trades FROM trades GROUP BY side"},
    )
    created = client.post("/api/v1/reports", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    job = run(client, admin, created.json()["id"], {})
    assert job["status"] == "completed", job
    response = export(client, admin, job["resultId"], format="csv")
    assert response.status_code == 200, response.text
    assert response.text.splitlines()[0] == '"side","trades"'


def test_pdf_caps_past_the_row_count_share_one_file(
    client: TestClient, admin: Caller, result_id: str, settings: Settings
) -> None:
    for cap in (500, 1000, 10_000):  # the result has 92 rows: all the same document
        assert export(client, admin, result_id, format="pdf", pdfMaxRows=cap).status_code == 200
    folder = Path(settings.resolved_storage_url.removeprefix("file://"), "results", result_id)
    assert [p.name for p in (folder / "exports").iterdir()] == ["pdf-rows92.pdf"]


def test_exports_need_no_system_temp_folder(
    client: TestClient,
    admin: Caller,
    result_id: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    """A full or missing system temp folder fails no export: the temporary files (XlsxWriter's
    rows) go to the storage's scratch folder under the data folder, and are gone after."""
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("TMPDIR", str(missing))  # for child processes (Typst's)
    monkeypatch.setattr(tempfile, "tempdir", str(missing))  # what this process has cached
    with pytest.raises(FileNotFoundError):
        tempfile.mkstemp()  # the system temp folder is unusable indeed
    scratch = settings.data_dir / "artifacts" / ".scratch"
    before = set(scratch.iterdir())
    for fmt in MEDIA:
        response = export(client, admin, result_id, format=fmt)
        assert response.status_code == 200, (fmt, response.text[:300])
    book = openpyxl.load_workbook(
        io.BytesIO(export(client, admin, result_id, format="excel").content)
    )
    assert book["Data"].max_row == 93
    assert not missing.exists() and set(scratch.iterdir()) == before
