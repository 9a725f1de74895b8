"""The client-wide gate: one 429 pauses the whole client, a token bucket paces it, and a
concurrency limit sized to the connection pool queues callers inside the client.

Every request of an `EsperClient` passes `ClientGate.slot()` and then `ClientGate.wait_turn()`
before it is sent, so thousands of concurrent callers wait here in FIFO order instead of in
httpx's pool (where they would end in `PoolTimeout`), and a server that says "slow down" is heard
once, by everyone, instead of by each coroutine in turn.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import attrs

from ._errors import ValidationError
from ._retry import GiveUpEvent, RetryEvent
from ._validation import in_range

__all__ = [
    "MAX_PAUSE",
    "ClientGate",
    "ClientPaused",
    "Clock",
    "EventHook",
    "PauseEvent",
    "RateChangeEvent",
    "RateLimit",
    "Sleep",
    "SystemClock",
    "TransportEvent",
]

logger = logging.getLogger("esper_cmds")

MAX_PAUSE = 3600.0
"""The longest client-wide pause one 429 can impose, in seconds. A server may ask for far more
(``Retry-After: 1e308``, or a date in the year 9999); honoured as said, that would stop the client
for good. The call that heard it still raises `RateLimitError` with the server's full figure."""

Sleep = Callable[[float], Awaitable[None]]
"""An async sleep such as `anyio.sleep`; tests inject one that only advances a fake clock."""


class Clock(Protocol):
    """The time source of a client: monotonic seconds for waits, UTC for timestamps.

    .. versionadded:: 0.1
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences matter)."""
        ...

    def utcnow(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock: `time.monotonic` and `datetime.now(UTC)`.

    .. versionadded:: 0.1
    """

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def utcnow(self) -> dt.datetime:
        """`datetime.now(UTC)`."""
        return dt.datetime.now(dt.UTC)


@attrs.frozen
class RateLimit:
    """A client-wide token bucket: at most `calls` per `per_seconds`, adapting after 429s.

    The default keeps to the pace Esper's own fleet tooling keeps, 4000 calls per 5 minutes. Up
    to `burst` calls go at once after a quiet spell and the bucket refills at
    ``(calls - burst) / per_seconds``, so a full bucket plus a window's refill never exceeds
    `calls` in any window of `per_seconds` (a bucket refilling at ``calls / per_seconds`` would
    allow ``calls + burst``). After a 429 the rate is multiplied by `backoff_factor` (once per
    throttling episode: requests already in flight when the rate was cut do not cut it again),
    never below ``min_fraction`` of the configured rate; after `recover_after` seconds without a
    429 it grows by `recover_factor` per interval back to the configured rate.

    Args:
        calls: Calls allowed per `per_seconds`.
        per_seconds: The window, in seconds.
        burst: Calls that may go at once after a quiet spell (default: a 40th of `calls`).
        adaptive: Whether 429s lower the rate.
        backoff_factor: The rate multiplier after a 429.
        min_fraction: The lowest rate, as a fraction of the configured one.
        recover_after: Seconds without a 429 between recovery steps.
        recover_factor: The rate multiplier of each recovery step.

    .. versionadded:: 0.1
    """

    calls: int = attrs.field(default=4000, validator=in_range(1, integer=True))
    per_seconds: float = attrs.field(default=300.0, validator=in_range(0, above=True))
    burst: int = attrs.field(
        default=attrs.Factory(lambda self: max(1, self.calls // 40), takes_self=True),
        validator=in_range(1, integer=True),
    )
    adaptive: bool = True
    backoff_factor: float = attrs.field(default=0.5, validator=in_range(0, 1, above=True))
    min_fraction: float = attrs.field(default=1 / 32, validator=in_range(0, 1, above=True))
    recover_after: float = attrs.field(default=30.0, validator=in_range(0, above=True))
    recover_factor: float = attrs.field(default=1.25, validator=in_range(1))

    @property
    def rate(self) -> float:
        """The configured steady rate in calls per second."""
        return max(self.calls - self.burst, 1) / self.per_seconds

    @burst.validator
    def _burst_fits(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value > self.calls:
            raise ValidationError("burst", f"must not exceed calls ({self.calls})", value)


@attrs.frozen
class PauseEvent:
    """The whole client pauses: a 429 asked every request to wait `seconds`.

    .. versionadded:: 0.1
    """

    seconds: float
    """How long from now nothing is sent."""
    status_code: int
    """The status that caused it (429)."""
    retry_after: float | None
    """The server's Retry-After, if it sent one (otherwise `seconds` is a backoff)."""


@attrs.frozen
class RateChangeEvent:
    """The client's token bucket changed pace (cut after a 429, or recovering).

    .. versionadded:: 0.1
    """

    old_rate: float
    """Calls per second before."""
    new_rate: float
    """Calls per second now."""


TransportEvent = RetryEvent | GiveUpEvent | PauseEvent | RateChangeEvent
"""Everything the transport reports to an `on_event` hook."""

EventHook = Callable[[TransportEvent], None]
"""A callback for metrics; it runs synchronously on the request's task, so keep it quick."""


class ClientPaused(Exception):
    """Strictly private: the client is paused for longer than the caller will wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"client paused for {seconds:.1f} s more")
        self.seconds = seconds


class ClientGate:
    """Strictly private: the pause, the token bucket and the concurrency limit of one client."""

    def __init__(
        self,
        *,
        rate_limit: RateLimit | None,
        max_concurrency: int,
        clock: Clock,
        sleep: Sleep,
        emit: Callable[[TransportEvent], None],
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self._limit = rate_limit
        self._clock = clock
        self._sleep = sleep
        self._emit = emit
        # One waiter at a time computes its turn, so turns are handed out in FIFO order and a
        # pause that starts while someone waits for a token is seen when that waiter wakes.
        self._lock = anyio.Lock()
        now = clock.monotonic()
        self._paused_until = now
        self.rate = rate_limit.rate if rate_limit else float("inf")
        self._tokens = float(rate_limit.burst) if rate_limit else 0.0
        self._refilled_at = now
        self._last_cut = float("-inf")
        self._last_throttle = float("-inf")
        self._last_raise = float("-inf")

    def slot(self) -> anyio.CapacityLimiter:
        """The concurrency limiter (``async with gate.slot():`` around one attempt)."""
        return self.limiter

    async def wait_turn(self, *, max_pause: float) -> None:
        """Wait until the client is not paused and a token is free, then take it.

        Raises:
            ClientPaused: The remaining pause is longer than `max_pause`.
        """
        if self._limit is None and self._paused_until <= self._clock.monotonic():
            return
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                pause = self._paused_until - now
                if pause > max_pause:
                    raise ClientPaused(pause)
                if pause > 0:
                    await self._sleep(pause)
                    continue
                wait = self._take_token(now)
                if wait <= 0:
                    return
                await self._sleep(wait)

    def clear_pause(self) -> None:
        """End the client-wide pause now (the token bucket and its pace are left as they are)."""
        self._paused_until = min(self._paused_until, self._clock.monotonic())

    def throttled(self, *, sent_at: float, wait: float, retry_after: float | None) -> None:
        """Record a 429 for a request sent at `sent_at` (monotonic): pause all, maybe slow down.

        The pause is `wait` seconds, capped at `MAX_PAUSE`.
        """
        now = self._clock.monotonic()
        self._last_throttle = now
        wait = min(wait, MAX_PAUSE) if wait == wait else MAX_PAUSE  # NaN: the longest
        if now + wait > self._paused_until:
            self._paused_until = now + wait
            logger.warning("429: pausing every request of this client for %.2f s", wait)
            self._emit(PauseEvent(seconds=wait, status_code=429, retry_after=retry_after))
        limit = self._limit
        # Requests sent before the last cut were paced at the old rate: their 429s say nothing new.
        if limit is None or not limit.adaptive or sent_at <= self._last_cut:
            return
        self._last_cut = now
        floor = limit.rate * limit.min_fraction
        self._set_rate(max(floor, self.rate * limit.backoff_factor))

    def _take_token(self, now: float) -> float:
        """Take a token if one is free (0.0), else return the seconds until one will be."""
        limit = self._limit
        if limit is None:
            return 0.0
        quiet_since = max(self._last_throttle, self._last_raise)
        if self.rate < limit.rate and now - quiet_since >= limit.recover_after:
            self._last_raise = now
            self._set_rate(min(limit.rate, self.rate * limit.recover_factor))
        self._tokens = min(float(limit.burst), self._tokens + (now - self._refilled_at) * self.rate)
        self._refilled_at = now
        # The tolerance stops float rounding (0.9999999...) from asking for a wait so short that
        # the clock cannot move by it, which would spin forever.
        if self._tokens >= 1.0 - 1e-9:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def _set_rate(self, new_rate: float) -> None:
        if new_rate == self.rate:
            return
        old, self.rate = self.rate, new_rate
        logger.info("rate limit now %.3g calls/s (was %.3g)", new_rate, old)
        self._emit(RateChangeEvent(old_rate=old, new_rate=new_rate))
