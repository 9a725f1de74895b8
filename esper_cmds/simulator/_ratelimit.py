"""A token bucket per API key."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows `calls` per `per_seconds` per key, with bursts up to `calls`.

    `now` is the time source in seconds: the simulator passes its clock when that clock runs on
    its own (a `RealClock`, so a speed-up also speeds the refill) and real monotonic time for a
    `ManualClock`, which would otherwise never refill while a test is not advancing it.
    """

    def __init__(self, calls: int, per_seconds: float, *, now: Callable[[], float]) -> None:
        if calls < 1 or per_seconds <= 0:
            raise ValueError(
                f"rate_limit must be (calls >= 1, per_seconds > 0), got {(calls, per_seconds)}"
            )
        self.capacity = float(calls)
        self.rate = calls / per_seconds
        self._now = now
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> int | None:
        """Take a token for `key`; None if allowed, else whole seconds to wait (at least 1)."""
        with self._lock:
            now = self._now()
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))
