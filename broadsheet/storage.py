"""Artifact storage: result files and exports, under keys like ``results/<id>/main.parquet``.

One small interface so the local folder of the embedded shape and an S3 bucket of the scaled
shape are interchangeable. Keys are made by Broadsheet from ids, never from user input, and
are still checked so no key can leave the storage root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from broadsheet.config import Settings


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


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.scratch = self.root / ".scratch"
        self.scratch.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key or key.startswith("/") or not path.is_relative_to(self.root):
            raise ValueError(f"invalid storage key {key!r}")
        return path

    def put_file(self, key: str, source: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # atomic: readers see the old file or the new one

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix.rstrip("/"))
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file():
            path.unlink(missing_ok=True)

    def list_prefixes(self, prefix: str, older_than: datetime) -> list[str]:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        limit = older_than.timestamp()
        return [
            f"{prefix.rstrip('/')}/{child.name}/"
            for child in folder.iterdir()
            if child.is_dir() and child.stat().st_mtime < limit
        ]

    def scratch_file(self, suffix: str) -> Path:
        handle, name = tempfile.mkstemp(suffix=suffix, dir=self.scratch)
        os.close(handle)
        return Path(name)


def make_storage(settings: Settings) -> Storage:
    url = settings.resolved_storage_url
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    raise ValueError(f"unsupported BROADSHEET_STORAGE_URL scheme {parsed.scheme!r}; use file://")
