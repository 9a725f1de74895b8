"""The time seam: what a client's ``clock``, ``sleep`` and ``random`` are.

Every wait, timestamp and jitter of an `EsperClient`, and of the fan-outs and watches it runs,
comes from these three (``EsperClient(clock=..., sleep=..., random=...)``). `esper_cmds.testing`
builds a fake clock on them; implement `Clock` to bring your own.

.. versionadded:: 0.2
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable
from typing import Protocol

__all__ = ["Clock", "Random", "Sleep", "SystemClock"]


class Sleep(Protocol):
    """An async sleep such as `anyio.sleep`; tests inject one that only advances a fake clock."""

    def __call__(self, seconds: float, /) -> Awaitable[None]:
        """Return after `seconds` (on this sleep's clock)."""
        ...


class Random(Protocol):
    """A source of jitter, uniform in [0, 1), such as `random.random`."""

    def __call__(self) -> float:
        """The next number in [0, 1)."""
        ...


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
