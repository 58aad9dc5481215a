"""Budgets written ``N/second|minute|hour`` and the two-window weighted counter.

A budget's counts are kept per fixed window (its period long). A request is measured against
the current window's count plus the previous window's, weighted by how much of the previous
window still lies within one period of now: a sliding window in two integers, with no burst of
twice the budget at a window's edge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

UNITS = {"second": 1, "minute": 60, "hour": 3600}
_FORM = re.compile(r"^\s*(\d{1,9})\s*/\s*(second|minute|hour)s?\s*$", re.IGNORECASE)
SPELLING = "N/second, N/minute or N/hour (N at least 1), e.g. 600/minute"


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds
    # Which budget: each has counters of its own, also when two are written alike.
    name: str = "general"

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"600/minute"`` → ``Rate(600, 60)``; anything else raises ValueError."""
        match = _FORM.match(text)
        if match is None or int(match.group(1)) < 1:
            raise ValueError(f"{text!r} is not a rate; write {SPELLING}")
        return cls(int(match.group(1)), UNITS[match.group(2).lower()])

    def __str__(self) -> str:
        unit = next(name for name, seconds in UNITS.items() if seconds == self.period)
        return f"{self.limit}/{unit}"

    @property
    def period_ms(self) -> int:
        return self.period * 1000

    def window(self, now_ms: int) -> tuple[int, int]:
        """The current window's number and how far into it ``now_ms`` is (ms)."""
        return divmod(now_ms, self.period_ms)


@dataclass(frozen=True)
class Count:
    """One budget's counts at an instant, after the request was counted (if it was)."""

    rate: Rate
    previous: int
    current: int
    elapsed_ms: int

    @property
    def used(self) -> float:
        # In this order in the Redis script too, so both round alike.
        period = self.rate.period_ms
        return self.previous * (period - self.elapsed_ms) / period + self.current

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.rate.limit - self.used))

    @property
    def reset(self) -> int:
        """Seconds until the current window ends: by then the older window no longer counts."""
        return max(1, math.ceil((self.rate.period_ms - self.elapsed_ms) / 1000))

    def wait(self) -> int:
        """Whole seconds until one more request fits (at least 1)."""
        limit, period, elapsed = self.rate.limit, self.rate.period_ms, self.elapsed_ms
        room = limit - 1 - self.current  # what the previous window's share must drop to
        if room >= 0:
            if self.previous <= room:
                return 1
            # previous * (period - elapsed - t) / period <= room
            within = period * (self.previous - room) / self.previous - elapsed
            if within <= period - elapsed:
                return max(1, math.ceil(max(within, 0) / 1000))
        # In the next window this one becomes the previous: current * (1 - t'/period) <= limit-1.
        excess = self.current - (limit - 1)
        later = period * excess / self.current if excess > 0 else 0
        return max(1, math.ceil((period - elapsed + later) / 1000))


def fits(rate: Rate, previous: int, current: int, elapsed_ms: int) -> bool:
    """Whether one more request fits the budget (the backends' shared rule)."""
    return Count(rate, previous, current + 1, elapsed_ms).used <= rate.limit


@dataclass(frozen=True)
class Decision:
    allowed: bool
    counts: Sequence[Count]

    @property
    def tightest(self) -> Count:
        """The budget closest to running out: the one the headers describe."""
        if not self.allowed:
            refused = [c for c in self.counts if not self._fits(c)]
            return max(refused or self.counts, key=lambda c: c.wait())
        return min(self.counts, key=lambda c: (c.remaining, -c.reset))

    @staticmethod
    def _fits(count: Count) -> bool:
        return fits(count.rate, count.previous, count.current, count.elapsed_ms)

    def headers(self) -> list[tuple[bytes, bytes]]:
        count = self.tightest
        reset = count.reset if self.allowed else count.wait()
        headers = [
            (b"ratelimit-limit", str(count.rate.limit).encode()),
            (b"ratelimit-remaining", str(0 if not self.allowed else count.remaining).encode()),
            (b"ratelimit-reset", str(reset).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(count.wait()).encode()))
        return headers
