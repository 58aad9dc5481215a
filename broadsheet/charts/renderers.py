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
TURN_TIMEOUT_SECONDS = 120.0  # waiting for a free renderer, before that
DRAWS_PER_CHILD = 500
# Not ``-m``: the package imports the module before runpy would run it as ``__main__``.
COMMAND = [sys.executable, "-c", "from broadsheet.charts.drawing import main; main()"]


class ChildFailed(RuntimeError):
    """The renderer process ended, hung or broke the protocol while drawing."""


class Refused(ValueError):
    """The renderer could not draw this spec (its own error message); the child lives on."""


class _Child:
    def __init__(self) -> None:
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter and module
                COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, bufsize=0
            )
        except OSError as exc:  # no memory or processes left to fork: one chart fails
            raise ChildFailed(f"the chart renderer could not be started: {exc}") from exc
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        # Writes wait under the deadline too: a renderer that never reads must not hold the
        # caller on a full pipe.
        os.set_blocking(self.stdin.fileno(), False)
        self.draws = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, request: bytes, deadline: float) -> bytes:
        try:
            self._write(frame(request), deadline)
            status = self._read(1, deadline)
            body = self._read(int.from_bytes(self._read(4, deadline), "big"), deadline)
        except OSError as exc:  # a broken pipe, a read error: this child is done
            raise self._failed(f"failed talking to it ({exc})") from exc
        self.draws += 1
        if status == OK:
            return body
        if status == REFUSED:
            raise Refused(body.decode(errors="replace"))
        raise self._failed(f"answered with an unknown status {status!r}")

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        with selectors.DefaultSelector() as waiting:
            waiting.register(self.stdin, selectors.EVENT_WRITE)
            while view:
                left = deadline - time.monotonic()
                if left <= 0 or not waiting.select(left):
                    raise self._failed(f"did not take the chart within {DRAW_TIMEOUT_SECONDS:g} s")
                try:
                    view = view[os.write(self.stdin.fileno(), view) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError as exc:
                    raise self._failed("stopped before it read the chart") from exc

    def _read(self, size: int, deadline: float) -> bytes:
        out = bytearray()
        with selectors.DefaultSelector() as waiting:
            waiting.register(self.stdout, selectors.EVENT_READ)
            while len(out) < size:
                left = deadline - time.monotonic()
                if left <= 0 or not waiting.select(left):
                    raise self._failed(f"took longer than {DRAW_TIMEOUT_SECONDS:g} s")
                chunk = os.read(self.stdout.fileno(), size - len(out))
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
        self.forget()

    def forget(self) -> None:
        """Close this process's ends of the pipes (the renderer then ends on its own)."""
        for stream in (self.stdin, self.stdout):
            stream.close()


class _Pool:
    def __init__(self) -> None:
        self.turns = threading.BoundedSemaphore(CHILDREN)
        self.lock = threading.Lock()
        self.idle: list[_Child] = []
        self.busy: set[_Child] = set()

    def draw(self, request: dict[str, Any]) -> bytes:
        payload = json.dumps(request, ensure_ascii=False, allow_nan=False).encode()
        # Waiting for a turn has its own limit: a chart that queued behind others still gets
        # its whole draw time, so a busy server never kills a healthy renderer.
        if not self.turns.acquire(timeout=TURN_TIMEOUT_SECONDS):
            raise ChildFailed("every chart renderer stayed busy for too long")
        try:
            child = self._take()
            try:
                body = child.ask(payload, time.monotonic() + DRAW_TIMEOUT_SECONDS)
            except ChildFailed:
                self._drop(child)  # closed already: never given back
                raise
            except Refused:
                self._give_back(child)
                raise
            except BaseException:  # MemoryError, an interrupt: its pipe is mid-frame
                child.close()
                self._drop(child)
                raise
            self._give_back(child)
            return body
        finally:
            self.turns.release()

    def _take(self) -> _Child:
        """An idle child that still lives (one the OOM killer took while idle would cost the
        next chart), else a new one."""
        with self.lock:
            while self.idle:
                child = self.idle.pop()
                if child.alive():
                    self.busy.add(child)
                    return child
                child.close()
        child = _Child()
        with self.lock:
            self.busy.add(child)
        return child

    def _give_back(self, child: _Child) -> None:
        with self.lock:
            self.busy.discard(child)
            if child.draws < DRAWS_PER_CHILD:
                self.idle.append(child)
                return
        child.close()

    def _drop(self, child: _Child) -> None:
        with self.lock:
            self.busy.discard(child)

    def close(self) -> None:
        with self.lock:
            children, self.idle, self.busy = [*self.idle, *self.busy], [], set()
        for child in children:
            child.close()

    def forget(self) -> None:
        for child in [*self.idle, *self.busy]:
            child.forget()


_pool = _Pool()


def draw(request: dict[str, Any]) -> bytes:
    """Draw one chart in a renderer process: ``Refused`` for a spec it cannot draw,
    ``ChildFailed`` when the renderer itself failed."""
    return _pool.draw(request)


def _forget_after_fork() -> None:
    """A forked worker (Celery's prefork) starts its own children: it closes its copies of
    the parent's pipes — idle and busy children alike; they are the parent's — so the
    renderers end when the parent does."""
    global _pool
    _pool.forget()
    _pool = _Pool()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(lambda: _pool.close())
