"""Log lines (``broadsheet.logs``): text or JSON, a request's id on its lines, and no secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import logs, models, tracing
from broadsheet.app import create_app
from broadsheet.auth.dependencies import current_user
from broadsheet.auth.principal import Principal
from broadsheet.config import Settings
from tests.factories import Tenancy
from tests.jobs.helpers import report_id, run

SECRETS = {
    "postgresql://report:s3cr3t-pw@db.internal:5432/sales": "postgresql://report:***@db.internal:5432/sales",
    "Authorization: Bearer abcdefgh12345678": "Authorization: Bearer ***",
    "authorization: basic dXNlcjpwYXNzd29yZA==": "authorization: basic ***",
    "key bs_Zx81kq0-_Lw2mn3op4qr was used": "key bs_*** was used",
}


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (with pytest's own capture) afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_secrets_are_masked_and_the_rest_kept() -> None:
    for given, shown in SECRETS.items():
        assert logs.redact(given) == shown
    plain = "GET /api/v1/reports?limit=10 200 from https://example.com/path"
    assert logs.redact(plain) == plain


def test_json_lines_carry_the_request_id_and_mask_secrets_in_messages_and_tracebacks(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("json")
    log = logging.getLogger("broadsheet.test")
    token = logs.request_id.set("req-42")
    try:
        log.info("connecting to %s", "mysql://app:hunter2-long@10.0.0.5/app")
        try:
            raise ValueError("refused: Bearer abcdefgh12345678")
        except ValueError:
            log.exception("it failed")
    finally:
        logs.request_id.reset(token)
    log.warning("outside any request")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "ERROR", "WARNING"]
    assert lines[0]["msg"] == "connecting to mysql://app:***@10.0.0.5/app"
    assert lines[0]["request_id"] == "req-42" and lines[0]["logger"] == "broadsheet.test"
    assert "ValueError: refused: Bearer ***" in lines[1]["exc"]
    assert "hunter2" not in json.dumps(lines) and "abcdefgh12345678" not in json.dumps(lines)
    assert "request_id" not in lines[2]


def test_text_lines_are_masked_too(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("text")
    logging.getLogger("broadsheet.test").info("key %s", "bs_Zx81kq0-_Lw2mn3op4qr")
    assert capsys.readouterr().err == "INFO broadsheet.test: key bs_***\n"


def test_more_secrets_are_masked() -> None:
    for given, hidden in (
        ('{"password": "two words", "name": "x"}', "two words"),
        ("Authorization: Token abc123def", "abc123def"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("GET /api/v1/artifacts/eyJhbGciOi.sig HTTP/1.1 200", "eyJhbGciOi.sig"),
        ("posting to https://hooks.example.com/in?token=abc123&x=1", "abc123"),
        ("slack xoxb-1234-abcd-efgh", "1234-abcd-efgh"),
    ):
        assert hidden not in logs.redact(given), given


def _json_lines(err: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_a_request_and_its_job_name_their_trace_request_tenant_and_job(
    root_logger: logging.Logger,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    sessions: sessionmaker[Session],
    tenancy: Tenancy,
) -> None:
    exporter = InMemorySpanExporter()
    every_request = settings.model_copy(update={"otel_sample_ratio": 1.0})
    tracing.setup(every_request, "broadsheet-test", exporter=exporter)
    try:
        app = create_app(settings, prepare=False)

        @app.get("/_log")
        def write_a_line(principal: Annotated[Principal, Depends(current_user)]) -> None:
            logging.getLogger("broadsheet.test").info("inside the request")

        tenancy.demo("acme")
        admin = tenancy.key("acme")
        # SQLAlchemy's own lines: the job's statements, from the executor's thread.
        logging.getLogger("sqlalchemy.engine.Engine").setLevel(logging.INFO)
        logs.configure("json")
        with TestClient(app) as client:
            answer = client.get("/_log", headers={**admin.headers, "X-Request-ID": "req-7"})
            assert answer.status_code == 200
            rid = report_id(client, admin, "Monthly Performance Report")
            job = run(client, admin, rid, {"startDate": "2024-05-01", "endDate": "2024-05-31"})
    finally:
        logging.getLogger("sqlalchemy.engine.Engine").setLevel(logging.WARNING)
        tracing.shutdown()
    lines = _json_lines(capsys.readouterr().err)
    (inside,) = [line for line in lines if line["msg"] == "inside the request"]
    (server,) = [s for s in exporter.get_finished_spans() if s.name == "GET /_log"]
    with sessions() as session:
        tenant = session.scalar(select(models.Tenant.id).where(models.Tenant.slug == "acme"))
    assert inside["request_id"] == "req-7" and inside["tenant_id"] == str(tenant)
    assert inside["trace_id"] == format(server.context.trace_id, "032x")
    assert len(inside["span_id"]) == 16
    claimed = [line for line in lines if line["msg"].startswith("UPDATE report_jobs SET status")]
    assert claimed and all(line.get("job_id") == job["id"] for line in claimed)
    assert all(line.get("tenant_id") == str(tenant) for line in claimed[1:])
    assert admin.key not in json.dumps(lines)
