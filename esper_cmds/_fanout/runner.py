"""The fan-out engine: a fixed pool of workers creating chunks, each to a final outcome.

Strictly private. ``concurrency`` workers pull chunks from one shared iterator (never a task per
chunk), create each through ``client.commands.create_from_payload`` (so the client's rate gate and
retry table apply) and settle it: created, reconciled, or failed with the reason. A chunk's failure
is a value, never an exception, so it cannot cancel its siblings; cancellation still propagates.
"""

from __future__ import annotations

import datetime as dt
import inspect
import random
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from attrs import evolve, field, frozen

from .._errors import (
    AmbiguousCreateError,
    ConflictError,
    EsperError,
    MalformedResponseError,
    RateLimitError,
    ServerError,
    SharedBudgetError,
    TransportError,
)
from .._retry import full_jitter
from .._validation import in_range
from .journal import OpenJournal
from .outcome import ChunkOutcome, Created, Failed, FanOutProgress, Reconciled, Resumed
from .plan import Chunk, Plan
from .reconcile import Fence, find_request

if TYPE_CHECKING:
    from .._client import EsperClient

__all__ = ["ChunkRetry", "Job", "ProgressCallback", "Runner"]

ProgressCallback = Callable[[FanOutProgress], Awaitable[None] | None]
"""Called after every chunk; may be a plain function or a coroutine function."""

# Answers that may come after the server stored the request: look before sending again.
_IN_DOUBT = (
    AmbiguousCreateError,
    ServerError,
    TransportError,
    MalformedResponseError,
    ConflictError,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _may_still_be_in_flight(error: Exception) -> bool:
    """Whether the server may still be processing a create that failed with `error`.

    A lost answer (a timeout, a dropped connection) or a proxy that gave up on its upstream
    (502, 504) leaves the create possibly running on the server; an answer from the server
    itself (500, a malformed 2xx, 409) means it is done with it, stored or not.
    """
    cause = error.cause if isinstance(error, AmbiguousCreateError) else error
    if isinstance(cause, TransportError):
        return True
    return isinstance(cause, ServerError) and cause.status_code in (502, 504)


@frozen
class ChunkRetry:
    """How hard the fan-out tries each chunk, on top of the client's own retries.

    Attributes:
        max_attempts: Creates sent per chunk at most (a reconciled chunk stops early).
        backoff: Base of the full-jitter exponential wait between attempts, in seconds.
        max_backoff: Cap of that wait.
        settle: Seconds a create whose answer was lost (a timeout, a dropped connection, a 502
            or 504) may still be processed by the server. Such a chunk is sent again only once
            it has not appeared for this long after its attempt began; found sooner, it is
            adopted at once.
        sleep: The sleep function (inject a fake one in tests).
    """

    max_attempts: int = field(default=5, validator=in_range(1, integer=True))
    backoff: float = field(default=0.5, validator=in_range(0, sys.float_info.max))
    max_backoff: float = field(default=8.0, validator=in_range(0, sys.float_info.max))
    settle: float = field(default=30.0, validator=in_range(0, sys.float_info.max))
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep, repr=False)

    def delay(self, attempt: int) -> float:
        """The wait after the `attempt`-th failure (full jitter)."""
        return full_jitter(attempt, base=self.backoff, cap=self.max_backoff, random=random.random())


@frozen
class Job:
    """A chunk to settle and what is already known about it.

    Attributes:
        chunk: The chunk.
        request_id: Created by an earlier run (per the journal): nothing to do.
        in_doubt_since: An earlier attempt's fate is unknown: reconcile from here first.
        error: The error that left it in doubt, for the report.
        attempts: Attempts already made in this run.
    """

    chunk: Chunk
    request_id: uuid.UUID | None = None
    in_doubt_since: dt.datetime | None = None
    error: Exception | None = None
    attempts: int = 0


class Runner:
    """Settles a list of jobs with a bounded pool of workers."""

    def __init__(
        self,
        client: EsperClient,
        plan: Plan,
        *,
        concurrency: int,
        retry: ChunkRetry,
        journal: OpenJournal | None,
        on_progress: ProgressCallback | None,
        emit: MemoryObjectSendStream[ChunkOutcome] | None,
        fence: Fence,
    ) -> None:
        self._client = client
        self._plan = plan
        self._concurrency = concurrency
        self._retry = retry
        self._journal = journal
        self._on_progress = on_progress
        self._emit = emit
        self._fence = fence
        self._outcomes: dict[int, ChunkOutcome] = {}
        self._fatal: BaseException | None = None
        self._total = 0

    async def run(self, jobs: Sequence[Job]) -> dict[int, ChunkOutcome]:
        """Settle every job; return the outcomes by chunk index.

        Raises:
            JournalError: The journal could not be written (the run stops: it would not be
                resumable).
            Exception: Whatever ``on_progress`` raised (the run stops).
        """
        self._total = len(jobs)
        await self._pass(jobs)
        return self._outcomes

    async def _pass(self, jobs: Sequence[Job]) -> None:
        todo = iter(jobs)
        async with anyio.create_task_group() as tg:
            for _ in range(min(self._concurrency, len(jobs))):
                tg.start_soon(self._worker, todo, tg.cancel_scope)
        if self._fatal is not None:
            raise self._fatal

    async def _worker(self, todo: Iterator[Job], scope: anyio.CancelScope) -> None:
        for job in todo:  # shared: each job goes to exactly one worker
            try:
                outcome = await self._claim_and_settle(job)
                await self._finish(outcome)
            except Exception as exc:  # journal or progress callback: stop the whole run
                self._fatal = exc
                scope.cancel()
                return

    async def _finish(self, outcome: ChunkOutcome) -> None:
        self._outcomes[outcome.chunk.index] = outcome
        if self._on_progress is not None:
            maybe = self._on_progress(FanOutProgress(len(self._outcomes), self._total, outcome))
            if inspect.isawaitable(maybe):
                await maybe
        if self._emit is not None:
            await self._emit.send(outcome)

    async def _claim_and_settle(self, job: Job) -> ChunkOutcome:
        if self._journal is None or job.request_id is not None:
            return await self._settle(job)
        # A journal shared with other runs (another host): the chunk is held while it is
        # settled, and what the others did to it since the journal was read comes first.
        async with self._journal.claim(job.chunk) as news:
            if news.request_id is not None:
                return Resumed(job.chunk, news.request_id)  # done by another run
            if news.started_at is not None and job.in_doubt_since is None:
                job = evolve(job, in_doubt_since=news.started_at)  # theirs, in doubt: look first
            return await self._settle(job)

    async def _settle(self, job: Job) -> ChunkOutcome:
        chunk = job.chunk
        if job.request_id is not None:
            return Resumed(chunk, job.request_id)
        attempts, in_doubt, last_error = job.attempts, job.in_doubt_since, job.error
        # A doubt from an earlier run (the journal) or from an answer that never came: the
        # server may still be working on that create, so "not listed" proves nothing yet.
        in_flight = job.error is None or _may_still_be_in_flight(job.error)
        retry = self._retry
        while True:
            if in_doubt is not None:
                try:
                    found = await find_request(
                        self._client.commands, self._plan, chunk, fence=self._fence
                    )
                    settling = retry.settle - (_now() - in_doubt).total_seconds()
                    if found is None and in_flight and settling > 0:
                        # Give the lost create time to land before concluding it never will.
                        await retry.sleep(settling)
                        found = await find_request(
                            self._client.commands, self._plan, chunk, fence=self._fence
                        )
                except EsperError as exc:
                    return self._in_doubt(chunk, last_error or exc, attempts, in_doubt)
                if found is not None:
                    await self._record(chunk, found)
                    return Reconciled(chunk, found, attempts)
                in_doubt = None  # provably never stored: safe to send
                if attempts >= retry.max_attempts:
                    return self._failed(chunk, last_error, attempts)
                if attempts:
                    await retry.sleep(retry.delay(attempts))
            attempts += 1
            began = _now()
            if self._journal is not None:
                await self._journal.started(chunk, began)
            try:
                request = await self._client.commands.create_from_payload(
                    self._plan.payload(chunk), encoded=self._plan.encoded_payload(chunk)
                )
            except (RateLimitError, SharedBudgetError) as exc:  # refused before anything was stored
                # (a shared budget that cannot be reached stops the create before it is sent)
                last_error = exc
                if attempts >= retry.max_attempts:
                    return Failed(chunk, exc, retryable=True, attempts=attempts)
                retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
                await retry.sleep(max(retry_after or 0.0, retry.delay(attempts)))
                continue
            except _IN_DOUBT as exc:
                last_error = exc
                in_flight = _may_still_be_in_flight(exc)
                in_doubt = (
                    min(began, exc.started_at) if isinstance(exc, AmbiguousCreateError) else began
                )
                continue
            except EsperError as exc:  # the server refused the content: sending again cannot help
                return Failed(chunk, exc, retryable=False, attempts=attempts)
            await self._record(chunk, request)
            return Created(chunk, request, attempts)

    async def _record(self, chunk: Chunk, request: Any) -> None:
        if self._journal is not None:
            await self._journal.created(chunk, request, _now())

    @staticmethod
    def _failed(chunk: Chunk, error: Exception | None, attempts: int) -> Failed:
        assert error is not None  # only reached after a failed attempt
        return Failed(chunk, error, retryable=True, attempts=attempts)

    @staticmethod
    def _in_doubt(
        chunk: Chunk, error: Exception | None, attempts: int, since: dt.datetime
    ) -> Failed:
        cause = error if error is not None else EsperError("a previous run's create is in doubt")
        return Failed(chunk, cause, retryable=True, attempts=attempts, in_doubt_since=since)
