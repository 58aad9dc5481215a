"""A PDF Typst cannot set is a 422 problem naming Typst's error, not a 500, and leaves no file."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from broadsheet.config import Settings
from broadsheet.errors import BroadsheetError
from broadsheet.exports import pdf
from tests.factories import Caller, Tenancy
from tests.jobs.helpers import report_id, run

# A child that fails as Typst did on a table too big for its memory.
CRASH = "PanicException: PyObject pointer is null"
FAILING_CHILD = f"import sys; sys.stdin.buffer.read(); sys.stderr.write({CRASH!r}); sys.exit(1)"


def test_a_typst_failure_is_a_pdf_error_of_status_422() -> None:
    assert issubclass(pdf.PdfError, BroadsheetError)
    error = pdf.PdfError("the PDF could not be made: x")
    assert error.problem()["status"] == 422


def test_a_pdf_typst_cannot_set_is_a_problem_not_a_500(
    client: TestClient,
    tenancy: Tenancy,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenancy.demo("acme")
    admin: Caller = tenancy.key("acme")
    job = run(
        client,
        admin,
        report_id(client, admin, "Monthly Performance Report"),
        {"startDate": "2024-05-01", "endDate": "2024-05-31"},
    )
    assert job["status"] == "completed", job
    monkeypatch.setattr(pdf, "_CHILD", FAILING_CHILD)
    response = client.get(
        f"/api/v1/reports/results/{job['resultId']}/export",
        params={"format": "pdf"},
        headers=admin.headers,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Unprocessable Content"
    assert problem["detail"] == f"the PDF could not be made: {CRASH}"
    folder = Path(settings.resolved_storage_url.removeprefix("file://"), "results")
    assert not list(folder.glob(f"{job['resultId']}/exports/*.pdf"))
