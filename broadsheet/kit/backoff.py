"""Exponential backoff with jitter, for everything that tries again later."""

from __future__ import annotations

import random
from datetime import timedelta


def backoff(base_seconds: float, retries_so_far: int) -> timedelta:
    """base * 2^n, with up to 20% jitter so many failures do not retry in lockstep."""
    delay = base_seconds * (2**retries_so_far)
    return timedelta(seconds=delay * (1 + random.random() * 0.2))  # noqa: S311
