"""A TCP fault proxy for tests: Broadsheet talks to a peer (PostgreSQL, Redis, RabbitMQ, SMTP,
S3) through it, and the test makes the peer go away, hang or crawl without touching the peer.

    proxy = FaultProxy(("127.0.0.1", 5432))   # listens on a spare port of 127.0.0.1
    proxy.drop()      # every connection closed, new ones refused (ECONNREFUSED)
    proxy.stall()     # connections accepted, nothing forwarded either way
    proxy.slow(200)   # every chunk forwarded 200 ms late
    proxy.heal()      # back to plain forwarding (on the same port)

Threads, not asyncio: the code under test is synchronous and runs in other threads and
processes, so the proxy must run on its own whatever they block on.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

CHUNK = 65536
CONNECT_SECONDS = 5.0


class _Pair:
    """One client connection and its connection to the target."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            # shutdown() wakes the pump blocked in recv() on the same socket in another thread.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class FaultProxy:
    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.flowing = threading.Event()  # cleared while stalled
        self.flowing.set()
        self.delay = 0.0
        self.accepted = 0  # connections accepted so far: lets a test see a client arrive
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        self.port = self._listen(port)

    # -- what a test does ------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def drop(self) -> None:
        """The peer is gone: close every connection, and refuse new ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
        if listener is not None:
            # shutdown() first: close() alone leaves a socket blocked in accept() listening.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for pair in pairs:
            pair.close()

    def stall(self) -> None:
        """The peer hangs: connections are accepted, bytes are read and held, none forwarded."""
        self.flowing.clear()

    def slow(self, ms: float) -> None:
        """The peer crawls: every chunk, each way, is forwarded ``ms`` milliseconds late."""
        self.delay = ms / 1000
        self.flowing.set()

    def heal(self) -> None:
        """Plain forwarding again, listening on the same port if it was dropped."""
        self.delay = 0.0
        self.flowing.set()
        with self._lock:
            dropped = self._listener is None
        if dropped and not self._closed:
            self._listen(self.port)

    def close(self) -> None:
        self._closed = True
        self.flowing.set()
        self.drop()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- how ---------------------------------------------------------------------------------

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The port of a dropped listener is bound again at once, past TIME_WAIT.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        with self._lock:
            self._listener = listener
        threading.Thread(
            target=self._accept, args=(listener,), name="fault-proxy-accept", daemon=True
        ).start()
        return int(listener.getsockname()[1])

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by drop() or close()
                return
            self.accepted += 1
            try:
                upstream = socket.create_connection(self.target, timeout=CONNECT_SECONDS)
            except OSError:  # the target itself is down: so is this connection
                client.close()
                continue
            upstream.settimeout(None)
            pair = _Pair(client, upstream)
            with self._lock:
                if self._listener is not listener:  # dropped meanwhile
                    pair.close()
                    return
                self._pairs.add(pair)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(pair, src, dst), name="fault-proxy-pump", daemon=True
                ).start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not pair.closed.is_set():
                data = src.recv(CHUNK)
                if not data:
                    break
                # Stalled: hold the bytes until healed or dropped; no fixed sleep.
                while not self.flowing.wait(0.05):
                    if pair.closed.is_set():
                        return
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            pair.close()
            with self._lock:
                self._pairs.discard(pair)
