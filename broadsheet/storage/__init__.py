"""Artifact storage: result files and exports, under keys like ``results/<id>/main.parquet``.

One small interface so the local folder of the embedded shape (:mod:`.local`) and an S3
bucket of the scaled shape (:mod:`.s3`) are interchangeable: ``BROADSHEET_STORAGE_URL`` is
``file:///path`` or ``s3://bucket/prefix``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from broadsheet.config import Settings
from broadsheet.storage.local import LocalStorage


class Storage(Protocol):
    def put_file(self, key: str, source: Path) -> None:
        """Store the file at ``source`` under ``key`` (replacing it), then delete ``source``."""

    def local_path(self, key: str) -> Path:
        """A local file holding the object (for readers that want to memory-map it)."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def list_prefixes(self, prefix: str, older_than: datetime) -> list[str]:
        """The ``prefix``'s immediate sub-folders (``results/<id>/``) last changed before."""

    def scratch_file(self, suffix: str) -> Path:
        """A fresh temporary file on the same filesystem as the storage, for atomic puts."""

    def tidy(self, older_than: datetime) -> int:
        """Forget local files not needed since ``older_than`` (scratch files, cached copies).
        Returns how many went."""


def make_storage(settings: Settings) -> Storage:
    url = settings.resolved_storage_url
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "s3" and parsed.hostname:
        # Here, not at the top: boto3 costs every process 15 MB that only S3 storage needs.
        from broadsheet.kit.s3 import client as s3_client
        from broadsheet.storage.s3 import S3Storage

        return S3Storage(
            parsed.hostname,
            unquote(parsed.path),
            settings.data_dir / "cache" / "storage",
            # API requests wait on reads: a short timeout, and a few of botocore's own retries
            # (nothing above retries a read); an outage is a 503, not a hung request.
            s3_client(settings.s3_endpoint_url, 10.0, attempts=3),
        )
    raise ValueError(
        f"unsupported BROADSHEET_STORAGE_URL {url!r}; use file:///path or s3://bucket/prefix"
    )
