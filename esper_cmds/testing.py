"""Helpers for testing code that uses `EsperClient`: time that moves only when you say so.

Every wait of the library (retry backoff, rate-limit pacing, 429 pauses, a watch's rounds and
deadline, a fan-out's settle window) and every timestamp and jitter it takes comes from the
client's ``clock``, ``sleep`` and ``random``. Give the client a `FakeClock` and a fixed random,
and a test of a retry storm or a ten-minute watch runs in milliseconds, the same every time::

    from esper_cmds import testing
    from esper_cmds.simulator import Simulator

    sim = Simulator(devices=10)
    clock = testing.FakeClock.for_simulator(sim)  # moves the simulator's devices along
    async with testing.client(simulator=sim, clock=clock) as client:
        request = await client.commands.create(command="REBOOT", devices=[...])
        summary = await client.wait(request, timeout=600)  # instant: sleeping moves the clock
    assert clock.sleeps  # every wait the library asked for, in seconds

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio.lowlevel

from ._client import EsperClient as _EsperClient
from ._errors import ValidationError as _ValidationError

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["DEFAULT_START", "FakeClock", "SupportsAdvance", "client", "fixed_random"]

DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Where a `FakeClock`'s UTC time starts unless told otherwise."""


class SupportsAdvance(Protocol):
    """Anything a `FakeClock` moves along with itself, e.g. a simulator's ``ManualClock``."""

    def advance(self, seconds: float) -> None:
        """Move forward by `seconds`."""
        ...


class FakeClock:
    """A client clock that moves only when told: `advance`, or its `sleep` awaited.

    Pass it as both ``clock=`` and ``sleep=clock.sleep`` (`client` does): every wait the library
    makes then returns at once, having moved the clock by what it asked for, and is recorded in
    `sleeps`. Sleeping is still a checkpoint, so cancellation and other tasks work as usual.

    Args:
        start: The UTC time `utcnow` returns before the clock has moved.
        drives: Clocks moved along with this one, by the same amount: a simulator's
            ``ManualClock``, so the fake server's devices progress while the client waits.

    .. versionadded:: 0.1
    """

    def __init__(
        self, *, start: dt.datetime = DEFAULT_START, drives: Sequence[SupportsAdvance] = ()
    ):
        if not isinstance(start, dt.datetime) or start.tzinfo is None:
            raise _ValidationError("start", "must be a timezone-aware datetime", start)
        if isinstance(drives, str) or not isinstance(drives, Sequence):
            raise _ValidationError("drives", "must be a sequence of clocks with advance()", drives)
        for i, other in enumerate(drives):
            if not callable(getattr(other, "advance", None)):
                raise _ValidationError(f"drives[{i}]", "must have an advance() method", other)
        self._start = start
        self._elapsed = 0.0
        self._drives = tuple(drives)
        self.sleeps: list[float] = []
        """Every sleep awaited, in seconds, in order."""

    @classmethod
    def for_simulator(cls, simulator: Simulator) -> FakeClock:
        """A clock starting at `simulator`'s time that drives its clock, if that is manual."""
        drives: list[SupportsAdvance] = []
        if callable(getattr(simulator.clock, "advance", None)):
            drives.append(simulator.clock)  # type: ignore[arg-type]
        return cls(start=simulator.clock.now(), drives=drives)

    def __repr__(self) -> str:
        return f"FakeClock(now={self.utcnow().isoformat()}, sleeps={len(self.sleeps)})"

    def monotonic(self) -> float:
        """Seconds since the clock was made (moves only by `advance` and `sleep`)."""
        return self._elapsed

    def utcnow(self) -> dt.datetime:
        """`start` plus the seconds the clock has moved."""
        return self._start + dt.timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        """Move the clock (and the clocks it drives) forward by `seconds`."""
        self._check_step(seconds)
        self._elapsed += seconds
        for other in self._drives:
            other.advance(seconds)

    def _check_step(self, seconds: object) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds < math.inf
        ):
            raise _ValidationError(
                "seconds", "must be a finite number, 0 or more (a clock cannot go back)", seconds
            )
        try:
            self._start + dt.timedelta(seconds=self._elapsed + seconds)
        except OverflowError:
            raise _ValidationError(
                "seconds", "would move the clock past the year 9999", seconds
            ) from None

    async def sleep(self, seconds: float) -> None:
        """Record the sleep and advance by it instead of waiting (a negative one counts as 0)."""
        step: object = seconds
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds < 0:
            step = 0.0  # as anyio's sleep: a wait that is already over
        self._check_step(step)  # before recording: a refused sleep leaves no trace
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        await anyio.lowlevel.checkpoint()


def fixed_random(value: float = 0.5) -> Callable[[], float]:
    """A ``random=`` for the client that always returns `value`, so every jitter is known.

    With 0.5, each backoff is half its window; with 0.0 there is no backoff wait at all.

    .. versionadded:: 0.1
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise _ValidationError("value", "must be a number from 0 up to (not including) 1", value)

    def random() -> float:
        return value

    return random


def client(
    *,
    simulator: Simulator | None = None,
    clock: FakeClock | None = None,
    random: float = 0.5,
    **options: Any,
) -> _EsperClient:
    """An `EsperClient` on fake time: a `FakeClock` (instant sleeps) and a fixed random.

    With `simulator`, the client talks to it in-process (its base URL, key, enterprise and
    transport), with no client-side rate limit, and the clock (unless given) is
    `FakeClock.for_simulator`: it starts at the simulator's time and drives its
    ``ManualClock``. Use it in ``async with`` as usual.

    Args:
        simulator: An `esper_cmds.simulator.Simulator` to talk to.
        clock: The clock to use (a new `FakeClock` by default).
        random: The value every jitter draws (see `fixed_random`).
        **options: Any other `EsperClient` argument, overriding these defaults.

    .. versionadded:: 0.1
    """
    if clock is None:
        clock = FakeClock() if simulator is None else FakeClock.for_simulator(simulator)
    elif not isinstance(clock, FakeClock):
        raise _ValidationError(
            "clock", "must be a FakeClock (or pass clock= to EsperClient)", clock
        )
    settings: dict[str, Any] = {
        "clock": clock,
        "sleep": clock.sleep,
        "random": fixed_random(random),
    }
    if simulator is not None:
        settings.update(
            base_url=simulator.base_url,
            api_key=simulator.api_key,
            enterprise_id=simulator.enterprise_id,
            transport=simulator.transport,
            env={},
            rate_limit=None,
        )
    settings.update(options)
    return _EsperClient(**settings)
