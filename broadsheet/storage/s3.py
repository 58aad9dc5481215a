"""Storage in an S3 bucket (``s3://bucket/prefix``): the scaled shape's, shared by every
``serve``, ``worker`` and ``scheduler`` machine.

Readers want local files (Parquet is memory-mapped, exports stream from disk), so objects are
read through a cache folder under ``data_dir``: an object is downloaded once per machine, on
first use, and a file this machine wrote is kept there after its upload. Objects never change
once written (a key is made from ids, and an export is rendered once), so a cached copy is
never stale; :meth:`S3Storage.tidy` forgets copies nobody has read for a while.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from broadsheet.errors import StorageUnavailable
from broadsheet.storage.local import check_key

log = logging.getLogger(__name__)
DELETE_BATCH = 1000  # S3's limit on one DeleteObjects call
KEEP_UNREAD = timedelta(days=1)  # cached copies unread this long are forgotten
TIDY_EVERY = 3600.0  # seconds between a process's own sweeps of its cache


class S3Storage:
    """Errors of the store other than a missing object are :class:`StorageUnavailable` (503
    to API callers). Every process sweeps its own cache about hourly — workers too, which
    run no maintenance loop."""

    def __init__(self, bucket: str, prefix: str, cache: Path, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache = cache.resolve()
        self.scratch = self.cache / ".scratch"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._client = client  # Any: boto3 has no stubs
        self._next_tidy = time.monotonic() + TIDY_EVERY
        self._tidy_lock = threading.Lock()

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
        self._tidy_now_and_then()
        # upload_file goes multipart for large files, and retries parts on its own.
        with _unavailable("storing"):
            self._client.upload_file(str(source), self.bucket, self._name(key))
        copy = self._copy(key)
        copy.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, copy)

    def local_path(self, key: str) -> Path:
        self._tidy_now_and_then()
        copy = self._copy(key)
        try:
            os.utime(copy)  # read now: tidy() keeps it
            return copy
        except FileNotFoundError:  # not here, or tidied a moment ago: fetch it
            pass
        download = self.scratch_file(copy.suffix)
        try:
            with _unavailable("reading"):
                self._client.download_file(self.bucket, self._name(key), str(download))
            copy.parent.mkdir(parents=True, exist_ok=True)
            os.replace(download, copy)  # two readers at once: each puts the same bytes
        finally:
            download.unlink(missing_ok=True)
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
            with _unavailable("deleting"):
                answer = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True},
                )
            for error in answer.get("Errors", []):  # the orphan sweep tries again later
                log.warning("could not delete s3://%s/%s: %s", self.bucket, error.get("Key"),
                            error.get("Code"))  # fmt: skip
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
        """Forget cached copies not read since ``older_than``, abandoned scratch files and
        the folders they leave empty: the bucket keeps the objects. Returns how many files
        went. Files may come and go meanwhile (other threads read and write)."""
        limit = older_than.timestamp()
        gone = 0
        for folder, _, files in os.walk(self.cache, topdown=False):
            for name in files:
                path = Path(folder, name)
                try:
                    if path.stat().st_mtime < limit:
                        path.unlink()
                        gone += 1
                except FileNotFoundError:
                    continue
            if Path(folder) not in (self.cache, self.scratch):
                with suppress(OSError):
                    os.rmdir(folder)  # only when empty
        return gone

    def _tidy_now_and_then(self) -> None:
        """About hourly, a sweep of this process's cache on a thread of its own."""
        if time.monotonic() < self._next_tidy or not self._tidy_lock.acquire(blocking=False):
            return
        self._next_tidy = time.monotonic() + TIDY_EVERY

        def sweep() -> None:
            try:
                self.tidy(datetime.now(UTC) - KEEP_UNREAD)
            except OSError:
                log.exception("could not tidy the storage cache %s", self.cache)
            finally:
                self._tidy_lock.release()

        threading.Thread(target=sweep, name="broadsheet-cache-tidy", daemon=True).start()

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with _unavailable("reading"):
                head: dict[str, Any] = self._client.head_object(
                    Bucket=self.bucket, Key=self._name(key)
                )
        except FileNotFoundError:
            return None
        return head

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        name = self._name(prefix.rstrip("/")) + "/"
        with _unavailable("listing"):
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=name
            ):
                yield from page.get("Contents", [])


@contextmanager
def _unavailable(doing: str) -> Iterator[None]:
    """S3's answers as this module's callers know them: a missing object is
    FileNotFoundError; any other error StorageUnavailable (a 503, not a 500 with a trace)."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise FileNotFoundError(code) from None
        raise StorageUnavailable(f"the artifact store refused {doing}: {code}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"the artifact store did not answer ({doing})") from exc
