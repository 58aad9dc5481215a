"""A real ``broadsheet serve`` for a benchmark, started and stopped one way.

    with serving(key) as server:
        ...  # server.base_url answers /readyz with 200 here

The server runs in a subprocess with a fresh data folder (SQLite metadata, the demo, ``key``
as the bootstrap admin key) on a free loopback port, its output in a log. On the way out,
also when the benchmark is stopped from outside (SIGTERM), it is stopped and the log's error
lines are printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

READY_WITHIN = 120.0  # seconds: migrations and the demo's data come first


@dataclass(frozen=True)
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def peak_rss(self) -> int | None:
        """The server process's peak resident memory in bytes (Linux's VmHWM), or None where
        the system does not say; its children (chart renderers, more ``serve`` processes) are
        not counted."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(key: str, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """A ready server; ``env`` adds settings (``BROADSHEET_...``) to the process's own."""
    # Stopped from outside, still stop the server on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        log = Path(folder, "serve.log")
        data_dir = Path(folder, "data")
        process = _start(
            data_dir, port, log, {"BROADSHEET_BOOTSTRAP_ADMIN_KEY": key, **(env or {})}
        )
        try:
            server = Server(f"http://127.0.0.1:{port}", process, data_dir)
            _wait_ready(server)
            yield server
        finally:
            _stop(process)
            _print_problems(log)


def _start(
    data_dir: Path, port: int, log: Path, settings: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BROADSHEET_DATA_DIR": str(data_dir),
        "BROADSHEET_DATABASE_URL": "",
        **settings,
    }
    command = [sys.executable, "-m", "broadsheet", "serve", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_WITHIN
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise SystemExit("the server exited during start-up; see its log above")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise SystemExit(f"the server was not ready within {READY_WITHIN:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _print_problems(log: Path) -> None:
    lines = log.read_text(errors="replace").splitlines()
    problems = [line for line in lines if line.startswith(("ERROR", "CRITICAL"))]
    print(f"server log: {len(problems)} error lines")
    for line in problems[:5]:
        print(f"  {line[:160]}")
