"""The seam between a client's gate and where its rate budget is kept.

Without a backend the budget lives in the client (`ClientGate`'s token bucket): one budget per
process. A `RateLimitBackend` keeps it somewhere every process and host on the same API key can
see (`RedisBackend`), so N workers spend one budget between them instead of N.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["RateLimitBackend", "SharedBudget", "Turn", "bucket_name"]


@attrs.frozen
class Turn:
    """The answer of a shared budget to "may I send now?".

    .. versionadded:: 0.1
    """

    wait: float
    """Seconds to wait before asking again; 0 means the call was counted and may go now."""
    paused: bool = False
    """Whether the wait is a pause a 429 imposed (on any process) rather than pacing."""


class SharedBudget(Protocol):
    """An open connection to one API key's shared budget (see `RateLimitBackend.open`).

    .. versionadded:: 0.1
    """

    async def take(self, *, rate: float, burst: int, cost: int = 1) -> Turn:
        """Count `cost` calls at `rate` calls/s with up to `burst` at once, if the budget allows.

        A turn of cost N spends what N calls of cost 1 would (GCRA: N emission intervals);
        `cost` is 1 to `burst`.

        Raises:
            ValidationError: `cost` is out of range (nothing is counted).
            SharedBudgetError: The store cannot be reached.
        """
        ...

    async def pause(self, seconds: float) -> None:
        """Pause every process on the budget for `seconds` (a pause never shortens another).

        Raises:
            SharedBudgetError: The store cannot be reached.
        """
        ...


@runtime_checkable
class RateLimitBackend(Protocol):
    """Where a `RateLimit`'s budget is kept when it is shared by several processes or hosts.

    .. versionadded:: 0.1
    """

    @property
    def fallback_local(self) -> bool:
        """Whether a client paces itself alone (instead of raising) while the store is away."""
        ...

    def open(self, bucket: str) -> AbstractAsyncContextManager[SharedBudget]:
        """Connect to the budget named `bucket` (a hash of the API key, never the key)."""
        ...


def bucket_name(api_key: str) -> str:
    """The name of an API key's shared budget: a hash, so the key never reaches the store."""
    return hashlib.sha256(b"esper-cmds rate budget\0" + api_key.encode()).hexdigest()[:32]
