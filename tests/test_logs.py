"""Log lines (``broadsheet.logs``): text or JSON, a request's id on its lines, and no secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from broadsheet import logs

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
