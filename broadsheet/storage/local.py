"""Storage in a local (or shared, mounted) folder: the embedded shape's.

Keys are made by Broadsheet from ids, never from user input, and are still checked so no key
can leave the storage root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path


def check_key(key: str) -> None:
    """Keys are relative, ``/``-separated, with no empty, ``.`` or ``..`` segments."""
    parts = key.rstrip("/").split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid storage key {key!r}")


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.scratch = self.root / ".scratch"
        self.scratch.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        check_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):  # a symlink out, say
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

    def tidy(self, older_than: datetime) -> int:
        """Delete scratch files abandoned before ``older_than`` (by a process that died
        mid-write). Returns how many went."""
        limit = older_than.timestamp()
        gone = 0
        for path in self.scratch.iterdir():
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                gone += 1
        return gone
