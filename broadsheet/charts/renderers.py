"""The chart renderer processes this process draws with (see :mod:`broadsheet.charts.drawing`).

A few long-lived children, started when first needed and kept: a renderer takes 1 to 2 s to
start (vl-convert's JavaScript runtime, the fonts), then draws a chart in milliseconds. Each
draws one chart at a time. A child that dies mid-chart (a native abort, the kernel's OOM
killer), answers nonsense or takes longer than ``DRAW_TIMEOUT_SECONDS`` is killed and
forgotten, and that one chart is a :class:`ChildFailed`; the next chart starts a new child.
Children also leave after ``DRAWS_PER_CHILD`` charts, so memory a renderer keeps growing is
given back now and then.

A child reads requests until its stdin ends, so it goes when this process does, however
this process ends.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from broadsheet.charts.drawing import OK, REFUSED, frame

CHILDREN = 2  # charts drawn at once by this process; the rest wait their turn
DRAW_TIMEOUT_SECONDS = 60.0  # the first chart's includes the child's start
DRAWS_PER_CHILD = 500
# Not ``-m``: the package imports the module before runpy would run it as ``__main__``.
COMMAND = [sys.executable, "-c", "from broadsheet.charts.drawing import main; main()"]


class ChildFailed(RuntimeError):
    """The renderer process ended, hung or broke the protocol while drawing."""


class Refused(ValueError):
    """The renderer could not draw this spec (its own error message); the child lives on."""


class _Child:
    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter and module
            COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, bufsize=0
        )
        self.draws = 0

    def ask(self, request: bytes, deadline: float) -> bytes:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(frame(request))
        except (BrokenPipeError, ValueError) as exc:
            raise self._failed("stopped before it read the chart") from exc
        status = self._read(1, deadline)
        body = self._read(int.from_bytes(self._read(4, deadline), "big"), deadline)
        self.draws += 1
        if status == OK:
            return body
        if status == REFUSED:
            raise Refused(body.decode(errors="replace"))
        raise self._failed(f"answered with an unknown status {status!r}")

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        out = bytearray()
        with selectors.DefaultSelector() as waiting:
            waiting.register(self.process.stdout, selectors.EVENT_READ)
            while len(out) < size:
                left = deadline - time.monotonic()
                if left <= 0 or not waiting.select(left):
                    raise self._failed(f"took longer than {DRAW_TIMEOUT_SECONDS:g} s")
                chunk = os.read(self.process.stdout.fileno(), size - len(out))
                if not chunk:
                    raise self._failed("stopped while drawing")
                out += chunk
        return bytes(out)

    def _failed(self, what: str) -> ChildFailed:
        self.close()
        code = self.process.returncode
        how = ""
        if code is not None and code < 0:
            how = f" (killed by {signal.Signals(-code).name})"
        elif code:
            how = f" (exit status {code})"
        return ChildFailed(f"the chart renderer {what}{how}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class _Pool:
    def __init__(self) -> None:
        self.turns = threading.BoundedSemaphore(CHILDREN)
        self.lock = threading.Lock()
        self.idle: list[_Child] = []

    def draw(self, request: dict[str, Any]) -> bytes:
        payload = json.dumps(request, ensure_ascii=False, allow_nan=False).encode()
        deadline = time.monotonic() + DRAW_TIMEOUT_SECONDS
        if not self.turns.acquire(timeout=DRAW_TIMEOUT_SECONDS):
            raise ChildFailed("every chart renderer stayed busy for too long")
        try:
            child = self._take()
            try:
                body = child.ask(payload, deadline)
            except ChildFailed:
                raise  # that child is closed and not given back
            except Refused:
                self._give_back(child)
                raise
            self._give_back(child)
            return body
        finally:
            self.turns.release()

    def _take(self) -> _Child:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return _Child()

    def _give_back(self, child: _Child) -> None:
        if child.draws >= DRAWS_PER_CHILD:
            child.close()
            return
        with self.lock:
            self.idle.append(child)

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for child in idle:
            child.close()


_pool = _Pool()


def draw(request: dict[str, Any]) -> bytes:
    """Draw one chart in a renderer process: ``Refused`` for a spec it cannot draw,
    ``ChildFailed`` when the renderer itself failed."""
    return _pool.draw(request)


def _forget_after_fork() -> None:
    """A forked worker (Celery's prefork) starts its own children: it closes its copies of
    the parent's pipes (the parent's children live on) so they end when the parent does."""
    global _pool
    for child in _pool.idle:
        for stream in (child.process.stdin, child.process.stdout):
            if stream is not None:
                stream.close()
    _pool = _Pool()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(lambda: _pool.close())
