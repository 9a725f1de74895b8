"""The polling interval: short while things change, growing with jitter while they do not."""

from __future__ import annotations

from collections.abc import Callable

from .._errors import ValidationError

__all__ = ["PollBackoff", "check_number"]


def check_number(field: str, value: object) -> float:
    """`value` as a float if it is a real number (not a bool, not NaN), else `ValidationError`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValidationError(field, "must be a number", value)
    return float(value)


class PollBackoff:
    """Strictly private: the delay before the next polling round.

    The first delay is `interval`. Each round that saw no change multiplies it by `factor`, up to
    `max_interval`; a round that saw a change resets it. Every delay is then shortened by a random
    share of up to `jitter`, so many watchers started together drift apart instead of polling in
    step (and never wait longer than `max_interval`).
    """

    def __init__(
        self,
        *,
        interval: float,
        max_interval: float,
        factor: float,
        jitter: float,
        random: Callable[[], float],
    ) -> None:
        for name, value in (
            ("interval", interval),
            ("max_interval", max_interval),
            ("backoff", factor),
            ("jitter", jitter),
        ):
            check_number(name, value)
        if not interval > 0:
            raise ValidationError("interval", "must be more than 0 seconds", interval)
        if not max_interval >= interval:
            raise ValidationError("max_interval", "must be at least `interval`", max_interval)
        if not factor >= 1:
            raise ValidationError("backoff", "must be 1 or more", factor)
        if not 0 <= jitter < 1:
            raise ValidationError("jitter", "must be from 0 up to (not including) 1", jitter)
        self._interval = interval
        self._max = max_interval
        self._factor = factor
        self._jitter = jitter
        self._random = random
        self._current = interval

    @property
    def current(self) -> float:
        """The un-jittered delay the next call returns (before this round's outcome applies)."""
        return self._current

    def next_delay(self, *, changed: bool) -> float:
        """The delay before the next round, given whether the round just made saw a change."""
        if changed:
            self._current = self._interval
        delay = self._current * (1 - self._jitter * self._random())
        if not changed:
            self._current = min(self._max, self._current * self._factor)
        return delay
