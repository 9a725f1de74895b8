"""Simulated time: a clock tests advance by hand, and a real clock with a speed-up factor."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["DEFAULT_START", "Clock", "ManualClock", "RealClock"]

DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Where a `ManualClock` starts unless told otherwise: fixed, so runs are reproducible."""


@runtime_checkable
class Clock(Protocol):
    """What the simulator needs from a clock: the current simulated instant."""

    def now(self) -> dt.datetime:
        """The current simulated time as an aware UTC datetime."""
        ...

    def time(self) -> float:
        """The current simulated time as POSIX seconds (cheap; used on every read)."""
        ...


def _aware_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class ManualClock:
    """A clock that only moves when `advance` is called, so tests never wait in real time."""

    def __init__(self, *, start: dt.datetime = DEFAULT_START) -> None:
        self._now = _aware_utc(start).timestamp()
        # advance() may be called from the test thread while the loopback server thread reads.
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """The current simulated time as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self._now, dt.UTC)

    def time(self) -> float:
        """The current simulated time as POSIX seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by `seconds` (which must not be negative)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (seconds={seconds!r})")
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now().isoformat()})"


class RealClock:
    """Wall-clock time, optionally sped up: `speed=60` makes one real second a simulated minute."""

    def __init__(self, *, speed: float = 1.0, start: dt.datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive (speed={speed!r})")
        self.speed = speed
        origin = dt.datetime.now(dt.UTC) if start is None else _aware_utc(start)
        self._origin = origin.timestamp()
        # monotonic, so a wall-clock adjustment on the host cannot move simulated time backwards.
        self._mono0 = time.monotonic()

    def now(self) -> dt.datetime:
        """The current simulated time as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def time(self) -> float:
        """The current simulated time as POSIX seconds."""
        return self._origin + (time.monotonic() - self._mono0) * self.speed

    def __repr__(self) -> str:
        return f"RealClock(speed={self.speed!r}, now={self.now().isoformat()})"
