"""An emulator of S3 for tests: moto in server mode, started in-process on 127.0.0.1. Not
AWS — nothing here needs or reads real credentials: clients get fake ones from the
environment, and AWS config files point at files that do not exist."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region, and no way to reach this machine's real AWS config."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # A profile, token, region or endpoint from the outer environment would win over the above.
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def endpoint(fake_aws: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        # moto keeps its buckets in process-wide state that outlives the server: empty it.
        reset = http.client.HTTPConnection(host, port, timeout=5)
        try:
            reset.request("POST", "/moto-api/reset")
            assert reset.getresponse().status == 200
        finally:
            reset.close()
            server.stop()


@pytest.fixture
def s3(endpoint: str) -> Iterator[Any]:
    """A plain boto3 client on the emulator, to set up buckets and read objects back."""
    client = boto3.session.Session().client("s3", endpoint_url=endpoint)
    yield client
    client.close()
