"""What a fan-out reports: one outcome per chunk, the totals, and the failures to retry.

Strictly private; the names are re-exported from ``esper_cmds``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from attrs import field, frozen

from .._errors import FanOutError
from ..models import CommandRequest
from .plan import Chunk, Plan

__all__ = [
    "ChunkOutcome",
    "Created",
    "Failed",
    "FanOutError",
    "FanOutProgress",
    "FanOutResult",
    "FanOutTotals",
    "Reconciled",
    "Resumed",
]


@frozen(repr=False)
class Created:
    """The chunk's request was created and the server said so.

    Attributes:
        chunk: The chunk.
        request: The request as the server stored it.
        attempts: Create attempts this run made for the chunk.
    """

    chunk: Chunk
    request: CommandRequest
    attempts: int = 1

    @property
    def request_id(self) -> uuid.UUID:
        """The created request's id."""
        return self.request.id

    def __repr__(self) -> str:
        # Compact, as for Chunk: the request's 1000 device ids would bury everything else.
        return (
            f"Created(chunk={self.chunk!r}, request_id={str(self.request_id)!r},"
            f" attempts={self.attempts!r})"
        )


@frozen
class Reconciled:
    """A create whose answer was lost was found on the server: it exists, exactly once.

    Attributes:
        chunk: The chunk.
        request: The request found by listing the server's requests.
        attempts: Create attempts this run made for the chunk (0 when the attempt was a
            previous run's, recorded as started in the journal).
    """

    chunk: Chunk
    request: CommandRequest
    attempts: int = 1

    @property
    def request_id(self) -> uuid.UUID:
        """The found request's id."""
        return self.request.id


@frozen
class Resumed:
    """The journal says an earlier run created this chunk's request; nothing was sent.

    Attributes:
        chunk: The chunk.
        request_id: The request recorded in the journal.
    """

    chunk: Chunk
    request_id: uuid.UUID


@frozen
class Failed:
    """The chunk has no request.

    Attributes:
        chunk: The chunk.
        error: The last error.
        retryable: Whether trying again could help (throttling, server or network trouble) or
            not (the server refused the content, e.g. unknown device ids: 400).
        attempts: Create attempts this run made for the chunk.
        in_doubt_since: Set when the last attempt's fate is unknown (a lost answer that could not
            be looked up): a retry reconciles from this instant before creating again.
    """

    chunk: Chunk
    error: Exception
    retryable: bool
    attempts: int = 1
    in_doubt_since: dt.datetime | None = None


ChunkOutcome: TypeAlias = Created | Reconciled | Resumed | Failed
"""The outcome of one chunk."""


@frozen
class FanOutTotals:
    """Counts of chunks (and their targets) by outcome."""

    chunks: int
    created: int
    reconciled: int
    resumed: int
    failed: int
    targets: int
    targets_failed: int


@frozen
class FanOutProgress:
    """Passed to ``on_progress`` after each chunk finishes.

    Attributes:
        done: Chunks finished so far (in this run, including resumed ones).
        total: Chunks in the plan.
        outcome: The chunk that just finished.
    """

    done: int
    total: int
    outcome: ChunkOutcome


_Retry = Callable[["FanOutResult"], Awaitable["FanOutResult"]]


@frozen
class FanOutResult:
    """Everything a fan-out did, one outcome per chunk in plan order.

    Attributes:
        plan: The chunks and the create body.
        outcomes: One outcome per chunk, ordered by chunk index.
    """

    plan: Plan
    outcomes: tuple[ChunkOutcome, ...]
    _retry: _Retry | None = field(default=None, repr=False, eq=False, alias="retry")

    @property
    def created(self) -> tuple[Created, ...]:
        """Chunks created by this run."""
        return tuple(o for o in self.outcomes if isinstance(o, Created))

    @property
    def reconciled(self) -> tuple[Reconciled, ...]:
        """Chunks whose lost answers were found on the server."""
        return tuple(o for o in self.outcomes if isinstance(o, Reconciled))

    @property
    def resumed(self) -> tuple[Resumed, ...]:
        """Chunks an earlier run created, per the journal."""
        return tuple(o for o in self.outcomes if isinstance(o, Resumed))

    @property
    def failed(self) -> tuple[Failed, ...]:
        """Chunks without a request."""
        return tuple(o for o in self.outcomes if isinstance(o, Failed))

    @property
    def ok(self) -> bool:
        """True when every chunk has a request."""
        return not self.failed

    @property
    def request_ids(self) -> tuple[uuid.UUID, ...]:
        """The ids of every chunk's request, in plan order (failed chunks have none)."""
        return tuple(o.request_id for o in self.outcomes if not isinstance(o, Failed))

    @property
    def totals(self) -> FanOutTotals:
        """Counts by outcome."""
        failed = self.failed
        return FanOutTotals(
            chunks=len(self.outcomes),
            created=len(self.created),
            reconciled=len(self.reconciled),
            resumed=len(self.resumed),
            failed=len(failed),
            targets=sum(len(c.targets) for c in self.plan.chunks),
            targets_failed=sum(len(f.chunk.targets) for f in failed),
        )

    def raise_for_failures(self) -> None:
        """Raise `FanOutError` if any chunk failed; otherwise do nothing."""
        if self.failed:
            raise FanOutError(self)

    async def retry_failed(self) -> FanOutResult:
        """Run only the failed chunks again (with the same client, options and journal).

        Chunks whose last attempt is in doubt are looked up on the server first, so a retry
        never sends a chunk twice. Returns the merged result; this one is unchanged.
        """
        if not self.failed or self._retry is None:
            return self
        return await self._retry(self)
