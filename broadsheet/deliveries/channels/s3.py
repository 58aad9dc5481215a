"""The S3 channel: puts a schedule's artifact into a bucket, on AWS or any S3-compatible store.

A recipient ``s3://bucket/prefix`` gets one object per execution, under a key that names the
report, the schedule and the instant the schedule fired::

    <prefix>/<report-slug>/<schedule-id>/<YYYY-MM-DDTHHMMSSZ>-<execution id, 8 hex>.<ext>

The key depends only on the execution, so a retried delivery overwrites its own earlier upload
instead of adding a second copy.

Credentials and region come from the usual AWS places (see :mod:`broadsheet.kit.s3`);
``BROADSHEET_S3_ENDPOINT_URL`` points the client at an S3-compatible store instead of AWS.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import DeliveryFailed, Parcel
from broadsheet.deliveries.recipients import S3_URL, Recipient, bucket_allowed
from broadsheet.exports import filenames
from broadsheet.kit import s3

MAX_SLUG = 60
MAX_EXTENSION = 16
# Characters no key segment may hold: control characters, and the backslash that
# filesystem-backed stores and tools syncing a bucket to disk may read as a separator.
_UNSAFE_IN_SEGMENT = re.compile(r"[\x00-\x1f\x7f\\]")

# 4xx answers that are about the moment, not the request: S3 may well accept it later.
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequestsException",
        "RequestTimeTooSkewed",
        "OperationAborted",
    }
)
TRANSIENT_STATUSES = frozenset({408, 429})


def parse_address(address: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix), the prefix without leading or trailing
    slashes (``""`` for none). Raises a permanent DeliveryFailed for an address that is not
    one, or whose prefix has empty, ``.`` or ``..`` segments, backslashes or control
    characters: the schedule validator lets some of those through, and a key must not."""
    if not S3_URL.fullmatch(address):
        raise DeliveryFailed("S3 address is not s3://bucket/prefix", permanent=True)
    bucket, _, prefix = address.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if prefix:
        for segment in prefix.split("/"):
            if segment in ("", ".", "..") or _UNSAFE_IN_SEGMENT.search(segment):
                raise DeliveryFailed(f"S3 prefix of bucket {bucket} is unsafe", permanent=True)
    return bucket, prefix


def slug(text: str) -> str:
    """The report name as in download file names (ASCII words joined by hyphens), at most 60
    characters, or ``report``: no path separator, dot segment or NUL survives."""
    return filenames.slug(text, ascii_only=True)[:MAX_SLUG].strip("-") or "report"


def object_key(prefix: str, parcel: Parcel) -> str:
    """The object's key for ``parcel``, under ``prefix`` as :func:`parse_address` returns it.

    Prefix ``reports/daily``, report "Monthly Sales", schedule
    ``5b0e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b`` fired at 2024-02-01 09:00 UTC, execution
    ``3f2a9c41-...`` and file ``monthly-sales_2024-02-01_1000.xlsx`` give ``reports/daily/
    monthly-sales/5b0e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b/2024-02-01T090000Z-3f2a9c41.xlsx``.
    """
    suffix = PurePosixPath(parcel.artifact.filename).suffix
    extension = _extension(suffix) or _extension(parcel.artifact.format) or "bin"
    stamp = f"{_utc(parcel.scheduled_for):%Y-%m-%dT%H%M%SZ}"
    name = f"{stamp}-{parcel.execution_id.hex[:8]}.{extension}"
    parts = [prefix, slug(parcel.report_name), str(parcel.schedule_id), name]
    return "/".join(part for part in parts if part)


def _extension(text: str) -> str:
    return "".join(re.findall(r"[a-z0-9]+", text.lower()))[:MAX_EXTENSION]


def _utc(instant: datetime) -> datetime:
    # Parcels carry UTC; a naive datetime is taken as UTC rather than as this host's zone.
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


class S3Channel:
    """Uploads each parcel's artifact with one ``PutObject``.

    ``PutObject`` rather than ``upload_file`` + ``HeadObject``: its answer carries the ETag, so
    the bucket policy need only allow ``s3:PutObject`` (``HeadObject`` needs ``s3:GetObject``,
    which drop buckets often refuse — and a refused HEAD after a good upload would report a
    delivered object as failed). Its errors are plain ``ClientError``s, not wrapped by the
    transfer manager. The price: one request holds at most 5 GiB; a larger export fails
    permanently (EntityTooLarge), where ``upload_file`` would have gone multipart.

    The client is made once per channel from a session of its own (sessions are not
    thread-safe; clients are), so one channel may serve several delivery threads.
    """

    def __init__(self, settings: Settings) -> None:
        self._allowed = settings.s3_allowed_buckets
        self._storage_bucket = settings.storage_bucket
        # Any: boto3 generates its clients at runtime and has no stubs.
        self._client: Any = s3.client(settings.s3_endpoint_url, settings.delivery_timeout_seconds)

    def send(self, parcel: Parcel, recipient: Recipient) -> dict[str, Any]:
        bucket, prefix = parse_address(recipient.address)
        if not bucket_allowed(recipient.address, self._allowed, self._storage_bucket):
            # Checked on save too; this catches a list narrowed since.
            raise DeliveryFailed(f"bucket {bucket} is not one this service delivers to",
                                 permanent=True)  # fmt: skip
        key = object_key(prefix, parcel)
        metadata = {
            "execution-id": str(parcel.execution_id),
            "schedule-id": str(parcel.schedule_id),
            f"{parcel.kind}-id": str(parcel.dashboard_id or parcel.report_id),
            "scheduled-for": _utc(parcel.scheduled_for).isoformat(),
        }
        with parcel.artifact.path.open("rb") as body:
            try:
                answer = self._client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ContentType=parcel.artifact.media_type,
                    Metadata=metadata,
                )
            except (ClientError, BotoCoreError) as exc:
                raise failure_for(exc, bucket) from exc
        # S3 quotes ETags; the record keeps the bare value (for a plain PUT, the bytes' MD5).
        return {"bucket": bucket, "key": key, "etag": str(answer["ETag"]).strip('"')}

    def close(self) -> None:
        """Close the client's pooled connections."""
        self._client.close()


def failure_for(exc: Exception, bucket: str) -> DeliveryFailed:
    """What an S3 error means for the delivery. The message names the error code (or class)
    and the bucket only: never the endpoint, the key or anything from the credentials.

    Permanent: 3xx and 4xx answers — NoSuchBucket, AccessDenied, InvalidAccessKeyId,
    SignatureDoesNotMatch, InvalidBucketName, AllAccessDisabled and the like do not change by
    themselves — and no or partial credentials, or parameters botocore refuses. Transient: 5xx,
    throttling and timeouts (:data:`TRANSIENT_CODES`, 408, 429), connection failures and
    timeouts, and anything else botocore raises.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "error")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # No status at all is not an answer from S3, so not a refusal either.
        transient = (
            code in TRANSIENT_CODES
            or status is None
            or status >= 500
            or status in TRANSIENT_STATUSES
        )
        return DeliveryFailed(f"S3 {code} for bucket {bucket}", permanent=not transient)
    permanent = isinstance(exc, (NoCredentialsError, PartialCredentialsError, ParamValidationError))
    return DeliveryFailed(f"S3 {type(exc).__name__} for bucket {bucket}", permanent=permanent)
