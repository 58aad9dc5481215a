"""One way to make an S3 client: an S3-compatible endpoint or AWS, with timeouts.

Credentials and region are not Broadsheet settings: boto3 finds them the usual way (the
``AWS_*`` environment variables, ``~/.aws/config`` and ``~/.aws/credentials``, an instance or
task role).
"""

from __future__ import annotations

from typing import Any

# boto3 and botocore ship no type information; their objects are Any here.
import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]


def client(endpoint_url: str, timeout: float, *, attempts: int = 2) -> Any:
    """A client of its own session (sessions are not thread-safe; clients are).

    ``attempts``: botocore's own tries per request; callers that retry with backoff
    themselves need only ride out a single hiccup.
    """
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
        # Checksums only where S3 requires them: several S3-compatible stores refuse the
        # CRC32 headers newer botocore adds by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)
