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
import math
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import attrs

from ._errors import ClientClosedError, SharedBudgetError, ValidationError
from ._retry import GiveUpEvent, RetryEvent
from ._validation import in_range
from .clock import Clock, Sleep, SystemClock

if TYPE_CHECKING:
    from ._budget import RateLimitBackend, SharedBudget

__all__ = [
    "MAX_PAUSE",
    "ClientGate",
    "ClientPaused",
    "ClientStatistics",
    "Clock",
    "EventHook",
    "PauseEvent",
    "RateChangeEvent",
    "RateLimit",
    "RateWaitEvent",
    "Sleep",
    "SystemClock",
    "TransportEvent",
]

logger = logging.getLogger("esper_cmds")

MAX_PAUSE = 3600.0
"""The longest client-wide pause one 429 can impose, in seconds. A server may ask for far more
(``Retry-After: 1e308``, or a date in the year 9999); honoured as said, that would stop the client
for good. The call that heard it still raises `RateLimitError` with the server's full figure."""


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
        backend: Where the budget is kept: None for this client alone (the default), or a
            `RedisBackend` for one budget shared by every process and host on the same API key
            (see README "Several processes or hosts").

    .. versionadded:: 0.1
    .. versionchanged:: 0.1 ``backend``.
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
    backend: RateLimitBackend | None = attrs.field(default=None, kw_only=True, eq=False)

    @backend.validator
    def _backend_kind(self, attribute: attrs.Attribute[object], value: object) -> None:
        from ._budget import RateLimitBackend

        if value is not None and not isinstance(value, RateLimitBackend):
            raise ValidationError("backend", "must be a RedisBackend (or None)", value)

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


@attrs.frozen
class RateWaitEvent:
    """A call waited on this client's own rate limit (or a 429 pause) for longer than
    `SLOW_WAIT` before it was sent: the client, not the server, was the bottleneck.

    .. versionadded:: 0.1
    """

    seconds: float
    """How long the call waited for its turn."""
    rate: float
    """The client's pace when the turn came, in calls per second."""


SLOW_WAIT = 1.0
"""Seconds a call may wait for its turn before a `RateWaitEvent` and a debug log line say so."""

TransportEvent = RetryEvent | GiveUpEvent | PauseEvent | RateChangeEvent | RateWaitEvent
"""Everything the transport reports to an `on_event` hook."""

EventHook = Callable[[TransportEvent], None]
"""A callback for metrics; it runs synchronously on the request's task, so keep it quick."""


class ClientPaused(Exception):
    """Strictly private: the client is paused for longer than the caller will wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"client paused for {seconds:.1f} s more")
        self.seconds = seconds


_WINDOW = 3.0
"""Seconds of recent sends and 429s from which the server's real rate is estimated at a 429."""
_ESTIMATE_MIN_ACCEPTED = 10
"""A configured rate is cut to the estimate only when the window saw this many calls accepted
(fewer say nothing about the server's rate; the cut is then by `RateLimit.backoff_factor`)."""
_UNKNOWN_BACKOFF = 0.8
"""With no configured limit: the rate after a 429, as a share of the accepted rate just seen."""
_UNKNOWN_STEP = 1.0
"""With no configured limit: seconds between increases while callers queue for tokens."""
_UNKNOWN_INCREASE = 0.03
"""With no configured limit: each increase raises the rate by this share (a few percent a
second: scale-free, so a learnt 0.5 calls/s and a learnt 500 recover alike)."""
_UNKNOWN_MIN_RATE = 0.05
"""With no configured limit: the slowest pace a run of 429s can bring the client to (calls/s)."""


def _header(headers: Mapping[str, str], name: str) -> float | None:
    for key in (name, f"X-{name}"):
        value = headers.get(key)
        if value is None:
            continue
        try:
            number = float(value.split(",")[0].split(";")[0].strip())
        except ValueError:
            return None
        return number if math.isfinite(number) and number >= 0 else None
    return None


def _quota(headers: Mapping[str, str], utcnow: dt.datetime) -> tuple[float, float] | None:
    """(calls remaining, seconds until the window resets) from the server's headers, or None."""
    remaining = _header(headers, "RateLimit-Remaining")
    reset = _header(headers, "RateLimit-Reset")
    if remaining is None or reset is None:
        return None
    if reset > 1_000_000_000:  # a Unix time (GitHub's form), not a number of seconds
        reset -= utcnow.timestamp()
    if reset <= 0:
        return None
    return remaining, reset


@attrs.frozen
class ClientStatistics:
    """A snapshot of a client's pacing and concurrency, from `EsperClient.statistics`.

    Shared by the client and every `EsperClient.with_options` view of it.

    .. versionadded:: 0.1
    """

    rate: float
    """Calls per second the client paces at now (``inf`` while nothing is paced); it falls after
    a 429 and recovers in steps."""
    max_concurrency: int
    """Requests that may be in flight at once."""
    in_flight: int
    """Requests in flight now (holding a concurrency slot)."""
    paused_for: float
    """Seconds left of a client-wide pause a 429 imposed (0 when not paused)."""


class ClientGate:
    """Strictly private: the pause, the token bucket and the concurrency limit of one client.

    Pacing, by mode:

    - **A configured `RateLimit`**: a token bucket at its rate. A 429 cuts the rate (to
      ``backoff_factor`` of the rate, or of the accepted rate just seen if lower) and quiet
      restores it step by step.
    - **No limit (``rate_limit=None``)**: nothing is paced until the first 429. Then the rate is
      learnt from the 429s: cut to `_UNKNOWN_BACKOFF` of the rate the server just accepted (once
      the window holds enough calls to say), and raised by a few percent each second while
      callers are queueing for tokens (never while idle, so a
      quiet client does not drift to an unbounded rate and burst).
    - **A shared budget** (`RateLimit.backend`): the turn is taken from the backend (one budget
      for every process on the key), at this client's current (adaptive) rate; a 429 here pauses
      every process through the backend too.

    In every mode, quota headers (``RateLimit-Remaining`` / ``-Reset``) set the pace when the
    server sends them (`observe`), and the bucket is emptied by a 429, so the callers the pause
    held back are released one token at a time, not all at once when it ends.
    """

    def __init__(
        self,
        *,
        rate_limit: RateLimit | None,
        max_concurrency: int,
        clock: Clock,
        sleep: Sleep,
        emit: Callable[[TransportEvent], None],
        bucket: str = "",
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self._limit = rate_limit
        self._clock = clock
        self._sleep = sleep
        self._emit = emit
        self._bucket = bucket
        self._backend: RateLimitBackend | None = rate_limit.backend if rate_limit else None
        self._shared: SharedBudget | None = None
        self._opened: AsyncExitStack | None = None
        # One waiter at a time computes its turn, so turns are handed out in FIFO order and a
        # pause that starts while someone waits for a token is seen when that waiter wakes.
        self._lock = anyio.Lock()
        self._loop: object | None = None
        now = clock.monotonic()
        self._paused_until = now
        self.rate = rate_limit.rate if rate_limit else float("inf")
        self._tokens = float(rate_limit.burst) if rate_limit else 0.0
        self._refilled_at = now
        self._last_cut = float("-inf")
        self._last_throttle = float("-inf")
        self._last_raise = float("-inf")
        self._sent: deque[float] = deque()
        self._throttles: deque[float] = deque()

    async def open(self) -> None:
        """Connect the shared budget, if the rate limit has a backend (``async with`` client)."""
        if self._backend is None or self._opened is not None:
            return
        stack = AsyncExitStack()
        self._shared = await stack.enter_async_context(self._backend.open(self._bucket))
        self._opened = stack

    async def close(self) -> None:
        """Disconnect the shared budget."""
        stack, self._opened, self._shared = self._opened, None, None
        if stack is not None:
            await stack.aclose()

    def statistics(self) -> ClientStatistics:
        """Where pacing and concurrency stand now."""
        return ClientStatistics(
            rate=self.rate,
            max_concurrency=int(self.limiter.total_tokens),
            in_flight=int(self.limiter.borrowed_tokens),
            paused_for=max(0.0, self._paused_until - self._clock.monotonic()),
        )

    def slot(self) -> anyio.CapacityLimiter:
        """The concurrency limiter (``async with gate.slot():`` around one attempt)."""
        return self.limiter

    async def wait_turn(self, *, max_pause: float, cost: int = 1) -> None:
        """Wait until the client is not paused and `cost` tokens are free, then take them.

        Every Esper call costs one (Esper counts calls, whatever their size); a larger `cost`
        is for budgets that weigh calls, up to the bucket's burst (a dearer call could never go).

        Raises:
            ClientPaused: The remaining pause is longer than `max_pause`.
            SharedBudgetError: The shared budget cannot be reached (nothing is sent).
            ValidationError: `cost` is not a whole number from 1 to the burst.
        """
        self._check_cost(cost)
        self.check_loop()
        if self.rate == float("inf") and self._paused_until <= self._clock.monotonic():
            self._note_sent(self._clock.monotonic())
            return
        entered = self._clock.monotonic()
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                pause = self._paused_until - now
                if pause > max_pause:
                    raise ClientPaused(pause)
                if pause > 0:
                    await self._sleep(pause)
                    continue
                if self._backend is not None and self._limit is not None:
                    wait, shared_pause = await self._take_shared(
                        now, self._limit, self._backend, cost
                    )
                    if shared_pause > max_pause:
                        raise ClientPaused(shared_pause)
                else:
                    wait = self._take_token(now, cost)
                if wait <= 0:
                    self._note_sent(now)
                    self._report_wait(now - entered)
                    return
                await self._sleep(wait)

    def _report_wait(self, waited: float) -> None:
        # 300 concurrent reads at the default pace take 15 s: say so, or it looks like the server.
        if waited > SLOW_WAIT:
            logger.debug(
                "waited %.2f s for this client's rate limit (%.3g calls/s)", waited, self.rate
            )
            self._emit(RateWaitEvent(seconds=waited, rate=self.rate))

    def check_loop(self) -> None:
        """Bind the client to the event loop of its first call; refuse any other loop at once.

        Its connections, locks and shared-budget connection belong to that loop: used from a
        second ``asyncio.run`` they fail deep inside httpx ("Event loop is closed"), or worse,
        hang. Nothing has been sent when this raises.
        """
        loop = anyio.lowlevel.current_token().native_token
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise ClientClosedError(
                "this client was first used in another event loop (e.g. an earlier asyncio.run):"
                " create the client inside the event loop that runs your calls, e.g. in"
                " `async def main(): async with EsperClient(...) as client: ...`"
            )

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Pace by the server's own quota headers, if it sends them (any response).

        ``RateLimit-Remaining`` / ``RateLimit-Reset`` (the IETF draft: seconds until the window
        resets) or ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (seconds, or a Unix time as
        GitHub sends it): the rest of the window's calls are spread over what is left of it
        (never above a configured rate), and an exhausted quota pauses the client until the
        reset. Headers that do not parse are ignored.
        """
        quota = _quota(headers, self._clock.utcnow())
        limit = self._limit
        if quota is None or (limit is not None and not limit.adaptive):
            return
        remaining, reset = quota
        now = self._clock.monotonic()
        if remaining < 1:
            wait = min(reset, MAX_PAUSE)
            if now + wait > self._paused_until:
                self._paused_until = now + wait
                self._tokens = 0.0
                self._refilled_at = self._paused_until
                logger.warning("quota spent: pausing every request of this client for %.2f s", wait)
                self._emit(PauseEvent(seconds=wait, status_code=status, retry_after=reset))
            return
        ceiling = limit.rate if limit is not None else float("inf")
        target = min(ceiling, remaining / reset)
        # Small moves are noise (the quota ticks down call by call): only a 10 % change counts.
        if self.rate == float("inf") or abs(target - self.rate) > 0.1 * self.rate:
            self._set_rate(target)

    def clear_pause(self) -> None:
        """End the client-wide pause now (the token bucket and its pace are left as they are)."""
        self._paused_until = min(self._paused_until, self._clock.monotonic())

    async def throttled(self, *, sent_at: float, wait: float, retry_after: float | None) -> None:
        """Record a 429 for a request sent at `sent_at` (monotonic): pause all, maybe slow down.

        The pause is `wait` seconds, capped at `MAX_PAUSE`; with a shared budget it pauses every
        process on the key (best effort: a backend that cannot be reached pauses this one only).
        """
        now = self._clock.monotonic()
        self._last_throttle = now
        self._throttles.append(now)
        wait = min(wait, MAX_PAUSE) if wait == wait else MAX_PAUSE  # NaN: the longest
        if now + wait > self._paused_until:
            self._paused_until = now + wait
            logger.warning("429: pausing every request of this client for %.2f s", wait)
            self._emit(PauseEvent(seconds=wait, status_code=429, retry_after=retry_after))
            # Paused callers are released by the bucket one token at a time, not all at once.
            self._tokens = 0.0
            self._refilled_at = self._paused_until
        limit = self._limit
        # Requests sent before the last cut were paced at the old rate: their 429s say nothing new.
        if sent_at > self._last_cut and (limit is None or limit.adaptive):
            self._last_cut = now
            self._cut(now, limit)
        if self._shared is not None:
            try:
                await self._shared.pause(wait)
            except SharedBudgetError as exc:
                logger.warning("could not share a 429 pause: %s", exc)

    def _cut(self, now: float, limit: RateLimit | None) -> None:
        sent, throttled = self._recent(now)
        accepted = max(sent - throttled, 0)
        span = _WINDOW
        if self._sent:
            span = min(_WINDOW, max(now - self._sent[0], 1.0))
        if limit is None:
            if sent < _ESTIMATE_MIN_ACCEPTED:
                # Too few calls to say anything about the server's rate: the pause alone answers.
                return
            seen = accepted if accepted else sent * 0.5
            estimate = seen / span
            cut_to = max(_UNKNOWN_MIN_RATE, min(self.rate, estimate) * _UNKNOWN_BACKOFF)
            self._last_raise = now
            self._set_rate(cut_to)
            return
        floor = limit.rate * limit.min_fraction
        if accepted >= _ESTIMATE_MIN_ACCEPTED and accepted / span < self.rate:
            # The server accepted less than the configured rate: it is the better guess.
            self._set_rate(max(floor, accepted / span * _UNKNOWN_BACKOFF))
            return
        self._set_rate(max(floor, self.rate * limit.backoff_factor))

    def _note_sent(self, now: float) -> None:
        self._sent.append(now)
        self._recent(now)

    def _recent(self, now: float) -> tuple[int, int]:
        """Sends and 429s in the last `_WINDOW` seconds (older ones are forgotten)."""
        horizon = now - _WINDOW
        for times in (self._sent, self._throttles):
            while times and times[0] < horizon:
                times.popleft()
        return len(self._sent), len(self._throttles)

    def _recover(self, now: float, *, queueing: bool) -> None:
        limit = self._limit
        if limit is None:
            # Additive increase, only while the rate is what holds callers back.
            if queueing and now - max(self._last_throttle, self._last_raise) >= _UNKNOWN_STEP:
                self._last_raise = now
                self._set_rate(self.rate * (1 + _UNKNOWN_INCREASE))
            return
        quiet_since = max(self._last_throttle, self._last_raise)
        if self.rate >= limit.rate:
            return
        if now - quiet_since >= limit.recover_after:
            self._last_raise = now
            self._set_rate(min(limit.rate, self.rate * limit.recover_factor))
        elif queueing and limit.adaptive and now - quiet_since >= _UNKNOWN_STEP:
            # Busy and not throttled: probe upwards a few percent a second, as without a limit.
            self._last_raise = now
            self._set_rate(min(limit.rate, self.rate * (1 + _UNKNOWN_INCREASE)))

    def _burst(self) -> float:
        if self._limit is not None:
            return float(self._limit.burst)
        return max(1.0, self.rate / 10)  # a learnt rate: a tenth of a second's worth

    def _check_cost(self, cost: int) -> None:
        burst = self._limit.burst if self._limit is not None else None
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
            raise ValidationError("cost", "must be a positive integer", cost)
        if burst is not None and cost > burst:
            raise ValidationError("cost", f"must not exceed the rate limit's burst ({burst})", cost)

    def _take_token(self, now: float, cost: int = 1) -> float:
        """Take `cost` tokens if free (0.0), else return the seconds until they will be."""
        if self.rate == float("inf"):
            return 0.0
        self._tokens = min(
            self._burst(), self._tokens + max(now - self._refilled_at, 0.0) * self.rate
        )
        self._refilled_at = max(now, self._refilled_at)
        # The tolerance stops float rounding (0.9999999...) from asking for a wait so short that
        # the clock cannot move by it, which would spin forever.
        # A learnt burst may be below `cost`: the call then waits for a full bucket.
        need = min(float(cost), self._burst())
        if self._tokens >= need - 1e-9:
            self._recover(now, queueing=False)
            self._tokens = max(0.0, self._tokens - need)
            return 0.0
        self._recover(now, queueing=True)
        return (need - self._tokens) / self.rate

    async def _take_shared(
        self, now: float, limit: RateLimit, backend: RateLimitBackend, cost: int = 1
    ) -> tuple[float, float]:
        """A turn from the shared budget: (seconds to wait, of which a shared pause)."""
        shared = self._shared
        try:
            if shared is None:
                raise SharedBudgetError(
                    "the shared rate limit is not connected: use the client as"
                    " `async with EsperClient(...) as client:`"
                )
            self._recover(now, queueing=False)
            turn = await shared.take(rate=self.rate, burst=limit.burst, cost=cost)
        except SharedBudgetError as exc:
            if not backend.fallback_local or shared is None:
                raise
            logger.warning("shared rate limit unavailable, pacing this process alone: %s", exc)
            return self._take_token(now, cost), 0.0
        return turn.wait, turn.wait if turn.paused else 0.0

    def _set_rate(self, new_rate: float) -> None:
        if new_rate == self.rate:
            return
        old, self.rate = self.rate, new_rate
        logger.info("rate limit now %.3g calls/s (was %.3g)", new_rate, old)
        self._emit(RateChangeEvent(old_rate=old, new_rate=new_rate))
