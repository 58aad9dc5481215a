"""Where the counts live: this process's memory, or Redis shared by every process.

Both take the whole decision for all of a request's budgets at once: a request is counted
against every budget it spends, or against none when one of them is spent (a refused generate
leaves the general budget as it was). The clock is passed in, so tests can move it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from broadsheet.config import Executor as ExecutorKind
from broadsheet.config import Settings
from broadsheet.ratelimit.rate import Count, Decision, Rate, fits

log = logging.getLogger(__name__)
Clock = Callable[[], float]  # seconds since the epoch
PREFIX = "broadsheet:rl"
# Idle buckets are dropped from memory at most this often (a sweep costs one pass).
SWEEP_SECONDS = 60.0


class Backend(Protocol):
    async def hit(self, bucket: str, rates: Sequence[Rate]) -> Decision | None:
        """Count a request of ``bucket`` against ``rates``; None when the counts cannot be
        reached (the request then goes through unlimited)."""

    async def aclose(self) -> None: ...


class MemoryBackend:
    """Counts in this process (embedded ``serve``); a lock keeps each decision whole."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        # (bucket, budget, period) → (window number, previous window's count, current one's)
        self._counts: dict[tuple[str, str, int], tuple[int, int, int]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    async def hit(self, bucket: str, rates: Sequence[Rate]) -> Decision:
        return self.hit_now(bucket, rates)

    def hit_now(self, bucket: str, rates: Sequence[Rate]) -> Decision:
        now_ms = int(self.clock() * 1000)
        with self._lock:
            self._sweep(now_ms)
            seen: list[tuple[Rate, int, int, int, int]] = []
            for rate in rates:
                number, elapsed = rate.window(now_ms)
                previous, current = self._read(bucket, rate, number)
                seen.append((rate, number, elapsed, previous, current))
            allowed = all(fits(r, p, c, e) for r, _, e, p, c in seen)
            counts = []
            for rate, number, elapsed, previous, current in seen:
                if allowed:
                    current += 1
                    self._counts[(bucket, rate.name, rate.period)] = (number, previous, current)
                counts.append(Count(rate, previous, current, elapsed))
        return Decision(allowed, counts)

    async def aclose(self) -> None:
        pass

    def _read(self, bucket: str, rate: Rate, number: int) -> tuple[int, int]:
        stored = self._counts.get((bucket, rate.name, rate.period))
        if stored is None:
            return 0, 0
        was, previous, current = stored
        if was == number:
            return previous, current
        return (current if was == number - 1 else 0), 0

    def _sweep(self, now_ms: int) -> None:
        # Buckets idle for two windows count nothing any more: forget them, or memory grows
        # with every address that ever called.
        if now_ms / 1000 < self._next_sweep:
            return
        self._next_sweep = now_ms / 1000 + SWEEP_SECONDS
        stale = [
            key
            for key, (number, _, _) in self._counts.items()
            if number < now_ms // (key[2] * 1000) - 1
        ]
        for key in stale:
            del self._counts[key]


# Every budget of a request in one atomic step. KEYS: per budget, the current window's and the
# previous window's counter. ARGV: the number of budgets, then per budget its limit, period (ms)
# and how far into the current window now is (ms). Returns 1|0, then per budget its current
# count (after counting this request, if allowed) and its previous window's count.
HIT_SCRIPT = """
local n = tonumber(ARGV[1])
local allowed = 1
local seen = {}
for i = 1, n do
  local limit = tonumber(ARGV[3 * i - 1])
  local period = tonumber(ARGV[3 * i])
  local elapsed = tonumber(ARGV[3 * i + 1])
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  seen[2 * i - 1] = current
  seen[2 * i] = previous
  if previous * (period - elapsed) / period + (current + 1) > limit then
    allowed = 0
  end
end
if allowed == 1 then
  for i = 1, n do
    seen[2 * i - 1] = redis.call('INCR', KEYS[2 * i - 1])
    redis.call('PEXPIRE', KEYS[2 * i - 1], 2 * tonumber(ARGV[3 * i]) + 1000)
  end
end
table.insert(seen, 1, allowed)
return seen
"""


class RedisBackend:
    """Counts in Redis, shared by every process of a deployment: one script call a request.

    The window is taken from this process's clock (servers of one deployment keep theirs in
    step, as signed links and schedules already need). When Redis does not answer, requests
    go through unlimited, with a warning: a rate limit must not take the service down.
    """

    def __init__(self, url: str, clock: Clock = time.time, timeout: float = 0.5) -> None:
        self.url = url
        self.clock = clock
        self.timeout = timeout
        self._client: Any = None
        self._script: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_at = 0.0

    def _connect(self) -> Any:
        # A client's connections belong to the event loop that made them; a server has one
        # loop, but a test client may run each request in a new one.
        import redis.asyncio

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            self._script = self._client.register_script(HIT_SCRIPT)
            self._loop = loop
        return self._script

    async def hit(self, bucket: str, rates: Sequence[Rate]) -> Decision | None:
        import redis

        now_ms = int(self.clock() * 1000)
        keys: list[str] = []
        args: list[int] = [len(rates)]
        windows = []
        for rate in rates:
            number, elapsed = rate.window(now_ms)
            # One hash tag per bucket: a Redis Cluster keeps a request's keys on one node.
            base = f"{PREFIX}:{{{bucket}}}:{rate.name}:{rate.period}"
            keys += [f"{base}:{number}", f"{base}:{number - 1}"]
            args += [rate.limit, rate.period_ms, elapsed]
            windows.append(elapsed)
        try:
            answer = await self._connect()(keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            self._warn(exc)
            return None
        allowed, values = bool(answer[0]), [int(v) for v in answer[1:]]
        counts = [
            Count(rate, values[2 * i + 1], values[2 * i], windows[i])
            for i, rate in enumerate(rates)
        ]
        return Decision(allowed, counts)

    def _warn(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at > 60:  # once a minute, not once a request
            self._warned_at = time.monotonic()
            log.warning("rate limits are off: Redis did not answer (%s)", type(exc).__name__)

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.aclose()


def redis_url_of(settings: Settings) -> str:
    """The Redis to count in: ``BROADSHEET_REDIS_URL``, else Celery's broker when it is a
    Redis one (a scaled-out deployment has it already); empty for counting in memory."""
    if settings.redis_url:
        return settings.redis_url
    broker = settings.broker_url
    if settings.executor is ExecutorKind.celery and broker.startswith(("redis://", "rediss://")):
        return broker
    return ""


def make_backend(settings: Settings, clock: Clock = time.time) -> Backend:
    url = redis_url_of(settings)
    return RedisBackend(url, clock) if url else MemoryBackend(clock)
