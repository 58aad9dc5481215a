"""The S3 channel against an emulator of S3 (moto in server mode, see tests/s3emulator.py),
started in-process on 127.0.0.1 for each test. Not AWS."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import Artifact, DeliveryFailed, Parcel
from broadsheet.deliveries.channels.s3 import (
    S3Channel,
    failure_for,
    object_key,
    parse_address,
    slug,
)
from broadsheet.deliveries.recipients import Recipient, RecipientType

SCHEDULE_ID = uuid.UUID("5b0e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b")
EXECUTION_ID = uuid.UUID("3f2a9c41-7d6e-4b5a-9c8d-7e6f5a4b3c2d")
FIRED = datetime(2024, 2, 1, 9, 0, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_real_aws(fake_aws: None) -> None:
    """Every test here, even those without the emulator, runs with fake credentials."""


def settings_for(tmp_path: Path, endpoint_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="sqlite:///" + str(tmp_path / "x.db"),
        secret_key="test-secret-key-for-broadsheet",
        demo=False,
        s3_endpoint_url=endpoint_url,
        delivery_timeout_seconds=2,
    )


@pytest.fixture
def channel(tmp_path: Path, endpoint: str) -> Iterator[S3Channel]:
    made = S3Channel(settings_for(tmp_path, endpoint))
    yield made
    made.close()


def make_parcel(artifact_path: Path, report_name: str = "Monthly Sales") -> Parcel:
    return Parcel(
        delivery_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        execution_id=EXECUTION_ID,
        schedule_id=SCHEDULE_ID,
        report_id=uuid.uuid4(),
        result_id=uuid.uuid4(),
        report_name=report_name,
        schedule_name="Every morning",
        scheduled_for=FIRED,
        timezone="Europe/Berlin",
        parameters={},
        summary=[],
        row_count=3,
        artifact=Artifact(
            path=artifact_path,
            filename="monthly-sales_2024-02-01_1000.xlsx",
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format="excel",
            size=artifact_path.stat().st_size if artifact_path.exists() else 0,
        ),
        attach=True,
        artifact_url="http://127.0.0.1:8000/a/signed",
        result_url="http://127.0.0.1:8000/results/1",
    )


def s3_recipient(address: str) -> Recipient:
    return Recipient(type=RecipientType.s3, address=address)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "monthly-sales.xlsx"
    # A few KB of every byte value, so nothing text-like or trivially compressible gets through.
    path.write_bytes(bytes(range(256)) * 20 + b"\x00\xff\r\n")
    return path


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("s3://broadsheet-drop", ""),
        ("s3://broadsheet-drop/reports/daily/", "reports/daily/"),
    ],
)
def test_send_puts_the_artifact_under_its_key(
    s3: Any, channel: S3Channel, artifact: Path, address: str, prefix: str
) -> None:
    s3.create_bucket(Bucket="broadsheet-drop")
    parcel = make_parcel(artifact)

    details = channel.send(parcel, s3_recipient(address))

    key = (
        f"{prefix}monthly-sales/5b0e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b/"
        "2024-02-01T090005Z-3f2a9c41.xlsx"
    )
    content = artifact.read_bytes()
    assert details == {
        "bucket": "broadsheet-drop",
        "key": key,
        "etag": hashlib.md5(content).hexdigest(),  # noqa: S324 - what S3 puts in a PUT's ETag
    }
    stored = s3.get_object(Bucket="broadsheet-drop", Key=key)
    with stored["Body"] as body:
        assert body.read() == content
    assert stored["ContentType"] == parcel.artifact.media_type
    assert stored["Metadata"] == {
        "execution-id": str(EXECUTION_ID),
        "schedule-id": str(SCHEDULE_ID),
        "report-id": str(parcel.report_id),
        "scheduled-for": "2024-02-01T09:00:05+00:00",
    }
    listed = s3.list_objects_v2(Bucket="broadsheet-drop")
    assert [item["Key"] for item in listed["Contents"]] == [key]


def test_send_again_overwrites_the_same_object(s3: Any, channel: S3Channel, artifact: Path) -> None:
    s3.create_bucket(Bucket="broadsheet-drop")
    parcel = make_parcel(artifact)
    first = channel.send(parcel, s3_recipient("s3://broadsheet-drop/x"))
    second = channel.send(parcel, s3_recipient("s3://broadsheet-drop/x"))
    assert first == second
    assert s3.list_objects_v2(Bucket="broadsheet-drop")["KeyCount"] == 1


def test_missing_bucket_is_a_permanent_failure(channel: S3Channel, artifact: Path) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        channel.send(make_parcel(artifact), s3_recipient("s3://no-such-bucket/reports"))
    assert failed.value.permanent
    assert failed.value.message == "S3 NoSuchBucket for bucket no-such-bucket"


def test_unreachable_endpoint_is_transient_and_quick(tmp_path: Path, artifact: Path) -> None:
    # A socket bound but not listening: connections are refused, and no other process can
    # take the port while the test runs.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        channel = S3Channel(settings_for(tmp_path, f"http://127.0.0.1:{port}"))
        started = datetime.now(UTC)
        try:
            with pytest.raises(DeliveryFailed) as failed:
                channel.send(make_parcel(artifact), s3_recipient("s3://broadsheet-drop"))
        finally:
            channel.close()
    assert not failed.value.permanent
    assert failed.value.message == "S3 EndpointConnectionError for bucket broadsheet-drop"
    assert (datetime.now(UTC) - started).total_seconds() < 10


@pytest.mark.parametrize(
    "address",
    [
        "s3://broadsheet-drop/../other",
        "s3://broadsheet-drop/a/./b",
        "s3://broadsheet-drop/a//b",
        "s3://broadsheet-drop/a\\..\\b",
        "s3://broadsheet-drop/a\x7fb",
        "s3://broadsheet-drop\n",
        "s3://Upper-Case",
        "https://broadsheet-drop/x",
    ],
)
def test_unsafe_addresses_are_permanent_failures(address: str) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        parse_address(address)
    assert failed.value.permanent


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("s3://broadsheet-drop", ("broadsheet-drop", "")),
        ("s3://broadsheet-drop/", ("broadsheet-drop", "")),
        ("s3://broadsheet-drop/reports/daily/", ("broadsheet-drop", "reports/daily")),
        ("s3://my.bucket-1//reports", ("my.bucket-1", "reports")),
        ("s3://broadsheet-drop/Q1 Berichte/ü", ("broadsheet-drop", "Q1 Berichte/ü")),
    ],
)
def test_addresses_normalise(address: str, expected: tuple[str, str]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    ("report_name", "expected_slug"),
    [
        ("Monthly Sales", "monthly-sales"),
        ("../../etc/passwd", "etc-passwd"),
        ("Q1 / Ünïcode \\ report", "q1-unicode-report"),
        ("a\x00b\tc", "a-b-c"),
        ("月次レポート", "report"),
        ("../ / \\ ..", "report"),
        ("", "report"),
    ],
)
def test_object_key_is_safe_for_any_report_name(
    tmp_path: Path, report_name: str, expected_slug: str
) -> None:
    parcel = make_parcel(tmp_path / "unused.xlsx", report_name)
    key = object_key("reports/daily", parcel)
    assert key == (
        f"reports/daily/{expected_slug}/5b0e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b/"
        "2024-02-01T090005Z-3f2a9c41.xlsx"
    )


def test_long_report_names_are_cut_to_60_characters() -> None:
    assert slug("x" * 300) == "x" * 60
    # A cut that ends on a word boundary drops the hyphen left dangling.
    assert slug("abcd " * 60) == "-".join(["abcd"] * 12)
    assert len(slug("Ü" * 300)) == 60


def test_object_key_without_prefix_and_odd_artifacts(tmp_path: Path) -> None:
    parcel = make_parcel(tmp_path / "unused", "Sales")
    naive = replace(parcel, scheduled_for=datetime(2024, 2, 1, 9, 0, 5))
    assert object_key("", naive) == (
        "sales/5b0e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b/2024-02-01T090005Z-3f2a9c41.xlsx"
    )
    # No usable extension in the filename: the export format names it.
    for filename in ("../evil/", "r.x/../../Y Z", "report.", "report.???"):
        odd = replace(parcel, artifact=replace(parcel.artifact, filename=filename, format="CSV"))
        assert object_key("", odd).endswith("/2024-02-01T090005Z-3f2a9c41.csv")


def client_error(code: str, status: int | None) -> ClientError:
    answer: dict[str, Any] = {"Error": {"Code": code, "Message": "..."}}
    if status is not None:
        answer["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(answer, "PutObject")


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (client_error("NoSuchBucket", 404), True),
        (client_error("AccessDenied", 403), True),
        (client_error("InvalidAccessKeyId", 403), True),
        (client_error("SignatureDoesNotMatch", 403), True),
        (client_error("InvalidBucketName", 400), True),
        (client_error("AllAccessDisabled", 403), True),
        (client_error("EntityTooLarge", 400), True),
        (client_error("PermanentRedirect", 301), True),
        (client_error("SlowDown", 503), False),
        (client_error("InternalError", 500), False),
        (client_error("RequestTimeout", 400), False),
        (client_error("RequestTimeTooSkewed", 403), False),
        (client_error("TooManyRequests", 429), False),
        (client_error("Whatever", None), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), False),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), False),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), False),
        (NoCredentialsError(), True),
    ],
)
def test_failures_are_classified(error: Exception, permanent: bool) -> None:
    failed = failure_for(error, "broadsheet-drop")
    assert failed.permanent is permanent
    assert failed.message.endswith(" for bucket broadsheet-drop")
    assert "127.0.0.1" not in failed.message
