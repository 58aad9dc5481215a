"""Several processes, one set of numbers: prometheus-client's multiprocess mode.

Each process writes its values to files in one directory; the process that answers a scrape
sums them. The directory is named by ``PROMETHEUS_MULTIPROC_DIR``, which must be set before
prometheus-client is imported in any process that counts, so the command that starts the
processes sets it (and makes the directory anew: values of an earlier run must not count).
This module does not import prometheus-client at import time for that reason.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)
ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_fresh_directory(path: Path) -> Path:
    """Empty ``path`` (or make it) and have this process and the ones it starts count there."""
    path = path.resolve()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[ENV] = str(path)
    if "prometheus_client.values" in sys.modules:
        # Imported before the directory was set: this process keeps its values in memory.
        log.warning("metrics: prometheus-client was imported before %s was set", ENV)
    return path


def active() -> bool:
    return bool(os.environ.get(ENV))


def process_ended(pid: int | None = None) -> None:
    """Bookkeeping for a process that stops counting (its live gauges leave the sums; its
    counters stay, as counters must)."""
    if not active():
        return
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
    except Exception:
        log.warning("metrics: marking process %s dead failed", pid, exc_info=True)
