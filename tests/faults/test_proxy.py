"""The fault proxy itself, against an echo server: it forwards, drops (connections closed, new
ones refused), stalls (nothing forwarded until healed), slows, and heals on the same port."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.faults


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()  # fmt: skip
    with FaultProxy(server.server_address[:2]) as made:  # type: ignore[arg-type]
        yield made
    server.shutdown()
    server.server_close()


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=2)


def echo(conn: socket.socket, data: bytes = b"ping") -> bytes:
    conn.sendall(data)
    return conn.recv(4096)


def test_forwards_drops_and_heals(proxy: FaultProxy) -> None:
    with connect(proxy) as conn:
        assert echo(conn) == b"ping"
        proxy.drop()
        assert conn.recv(4096) == b""  # the open connection was closed
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.heal()
    with connect(proxy) as again:
        assert echo(again) == b"ping"  # the same port again


def test_stalls_until_healed(proxy: FaultProxy) -> None:
    with connect(proxy) as conn:
        proxy.stall()
        conn.settimeout(0.3)
        conn.sendall(b"held")
        with pytest.raises(TimeoutError):
            conn.recv(4096)
        proxy.heal()
        conn.settimeout(2)
        assert conn.recv(4096) == b"held"  # held, not lost


def test_slows(proxy: FaultProxy) -> None:
    with connect(proxy) as conn:
        proxy.slow(150)
        started = time.monotonic()
        assert echo(conn) == b"ping"
        assert time.monotonic() - started >= 0.3  # 150 ms each way
