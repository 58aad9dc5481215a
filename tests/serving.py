"""A real ``broadsheet serve`` in a subprocess, for the tests that need its processes, and a
free loopback port for any server a test starts."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(
    log: Path, port: int, env: Mapping[str, str], ready_within: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """``broadsheet serve --port port`` with ``env``, its output in ``log``, ready (``/readyz``
    answers 200) when the block starts; stopped with SIGINT after it, which must end it
    cleanly (exit status 0). A start-up or exit failure shows the log."""
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "broadsheet", "serve", "--port", str(port)],
            env=dict(env),
            stdout=out,
            stderr=out,
        )
        try:
            _wait_ready(server, f"http://127.0.0.1:{port}", log, ready_within)
            yield server
        finally:
            server.send_signal(signal.SIGINT)
            try:
                code = server.wait(timeout=60)
            finally:
                if server.poll() is None:
                    server.kill()
    assert code == 0, log.read_text()


def _wait_ready(server: subprocess.Popen[bytes], base: str, log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
