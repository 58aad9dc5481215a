"""Storage in an S3 bucket (``s3://bucket/prefix``): the scaled shape's, shared by every
``serve``, ``worker`` and ``scheduler`` machine.

Readers want local files (Parquet is memory-mapped, exports stream from disk), so objects are
read through a cache folder under ``data_dir``: an object is downloaded once per machine, on
first use, and a file this machine wrote is kept there after its upload. Objects never change
once written (a key is made from ids, and an export is rendered once), so a cached copy is
never stale; :meth:`S3Storage.tidy` forgets copies nobody has read for a while.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from broadsheet.storage.local import check_key

DELETE_BATCH = 1000  # S3's limit on one DeleteObjects call


class S3Storage:
    def __init__(self, bucket: str, prefix: str, cache: Path, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache = cache.resolve()
        self.scratch = self.cache / ".scratch"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._client = client  # Any: boto3 has no stubs

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _copy(self, key: str) -> Path:
        check_key(key)
        path = (self.cache / key).resolve()
        if not path.is_relative_to(self.cache):
            raise ValueError(f"invalid storage key {key!r}")
        return path

    def put_file(self, key: str, source: Path) -> None:
        # upload_file goes multipart for large files, and retries parts on its own.
        self._client.upload_file(str(source), self.bucket, self._name(key))
        copy = self._copy(key)
        copy.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, copy)

    def local_path(self, key: str) -> Path:
        copy = self._copy(key)
        if copy.is_file():
            os.utime(copy)  # read now: tidy() keeps it
            return copy
        download = self.scratch_file(copy.suffix)
        try:
            self._client.download_file(self.bucket, self._name(key), str(download))
        except ClientError as exc:
            download.unlink(missing_ok=True)
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise
        copy.parent.mkdir(parents=True, exist_ok=True)
        os.replace(download, copy)  # two readers at once: each replaces with the same bytes
        return copy

    def exists(self, key: str) -> bool:
        if self._copy(key).is_file():
            return True
        return self._head(key) is not None

    def size(self, key: str) -> int:
        copy = self._copy(key)
        if copy.is_file():
            return copy.stat().st_size
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(key)
        return int(head["ContentLength"])

    def delete_prefix(self, prefix: str) -> None:
        names = [item["Key"] for item in self._list(prefix)]
        for start in range(0, len(names), DELETE_BATCH):
            batch = names[start : start + DELETE_BATCH]
            self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True},
            )
        copy = self._copy(prefix.rstrip("/"))
        if copy.is_dir():
            shutil.rmtree(copy, ignore_errors=True)
        else:
            copy.unlink(missing_ok=True)

    def list_prefixes(self, prefix: str, older_than: datetime) -> list[str]:
        """Sub-folders whose newest object is older than ``older_than`` (one listing)."""
        newest: dict[str, datetime] = {}
        start = len(self._name(prefix.rstrip("/"))) + 1
        for item in self._list(prefix):
            child = item["Key"][start:].split("/", 1)[0]
            if child and "/" in item["Key"][start:]:
                seen = newest.get(child)
                newest[child] = max(seen, item["LastModified"]) if seen else item["LastModified"]
        return [f"{prefix.rstrip('/')}/{child}/" for child, at in newest.items() if at < older_than]

    def scratch_file(self, suffix: str) -> Path:
        handle, name = tempfile.mkstemp(suffix=suffix, dir=self.scratch)
        os.close(handle)
        return Path(name)

    def tidy(self, older_than: datetime) -> int:
        """Forget cached copies not read since ``older_than``, and abandoned scratch files:
        the bucket keeps the objects. Returns how many files went."""
        limit = older_than.timestamp()
        gone = 0
        for path in self.cache.rglob("*"):
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return head

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        name = self._name(prefix.rstrip("/")) + "/"
        for page in self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=name
        ):
            yield from page.get("Contents", [])


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")
