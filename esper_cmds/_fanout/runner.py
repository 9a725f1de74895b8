"""The fan-out engine: a fixed pool of workers driving each chunk through `lifecycle.decide`.

Strictly private. ``concurrency`` workers pull chunks from one shared iterator (never a task per
chunk). For each, the worker asks `decide` what to do next, does it (create through the port's
``commands.create``, so the client's rate gate and retry table apply; look up; wait; record in the
journal) and turns the result into the next event, until the chunk is created, reconciled,
resumed or failed. A chunk's failure is a value, never an exception, so it cannot cancel its
siblings; cancellation still propagates.
"""

from __future__ import annotations

import datetime as dt
import inspect
import sys
import uuid
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from attrs import define, evolve, field, frozen

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
from .._validation import in_range
from ..models import CommandRequest
from .journal import OpenJournal
from .lifecycle import Budget, Event, Phase, Step, decide
from .outcome import ChunkOutcome, Created, Failed, FanOutProgress, Reconciled, Resumed
from .plan import Chunk, Plan
from .port import FanOutPort
from .reconcile import Fence, find_request

__all__ = ["ChunkRetry", "Job", "ProgressCallback", "Runner", "sort_error"]

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


def _deprecated_sleep(_: object, __: object, value: Any) -> None:
    if value is not None:
        warnings.warn(
            "ChunkRetry(sleep=...) is deprecated: pass sleep= to EsperClient, which the fan-out"
            " takes its time from",
            DeprecationWarning,
            stacklevel=4,
        )


@frozen
class ChunkRetry:
    """How hard the fan-out tries each chunk, on top of the client's own retries.

    The waits are slept with the client's ``sleep`` and jittered with its ``random``.

    Attributes:
        max_attempts: Creates sent per chunk at most (a reconciled chunk stops early).
        backoff: Base of the full-jitter exponential wait between attempts, in seconds.
        max_backoff: Cap of that wait.
        settle: Seconds a create whose answer was lost (a timeout, a dropped connection, a 502
            or 504) may still be processed by the server. Such a chunk is sent again only once
            it has not appeared for this long after its attempt began; found sooner, it is
            adopted at once.
        sleep: Deprecated: pass ``sleep`` to `EsperClient` instead.
    """

    max_attempts: int = field(default=5, validator=in_range(1, integer=True))
    backoff: float = field(default=0.5, validator=in_range(0, sys.float_info.max))
    max_backoff: float = field(default=8.0, validator=in_range(0, sys.float_info.max))
    settle: float = field(default=30.0, validator=in_range(0, sys.float_info.max))
    sleep: Callable[[float], Awaitable[None]] | None = field(
        default=None, repr=False, validator=_deprecated_sleep
    )

    def delay(self, attempt: int, random: float) -> float:
        """The wait after the `attempt`-th failure: ``random * min(max_backoff, backoff *
        2**(attempt-1))`` (full jitter: chunks that failed together do not return together)."""
        exponent = min(max(attempt - 1, 0), 62)  # 2**63 overflows nothing but means nothing
        return random * min(self.max_backoff, self.backoff * 2.0**exponent)


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


@define
class _Track:
    """What the runner knows of one chunk while it drives it (the mutable half of the loop)."""

    job: Job
    phase: Phase = Phase.START
    attempts: int = 0
    in_doubt: dt.datetime | None = None
    in_flight: bool = True
    error: Exception | None = None
    request: CommandRequest | None = None
    retry_after: float | None = None

    @classmethod
    def of(cls, job: Job) -> tuple[_Track, Event]:
        # A doubt from an earlier run (the journal) or from an answer that never came: the
        # server may still be working on that create, so "absent" proves nothing yet.
        in_flight = job.error is None or _may_still_be_in_flight(job.error)
        track = cls(job, attempts=job.attempts, in_doubt=job.in_doubt_since, in_flight=in_flight)
        track.error = job.error
        if job.request_id is not None:
            return track, Event.RECORDED
        return track, Event.FRESH if job.in_doubt_since is None else Event.DOUBTED


def sort_error(error: EsperError) -> Event:
    """The event a failed create is: refused before storing, fate unknown, or refused outright."""
    if isinstance(error, RateLimitError | SharedBudgetError):
        return Event.THROTTLED  # (a shared budget out of reach stops the create before sending)
    if isinstance(error, _IN_DOUBT):
        return Event.LOST
    return Event.REFUSED  # the server refused the content: sending again cannot help


class Runner:
    """Settles a list of jobs with a bounded pool of workers."""

    def __init__(
        self,
        port: FanOutPort,
        plan: Plan,
        *,
        concurrency: int,
        retry: ChunkRetry,
        journal: OpenJournal | None,
        on_progress: ProgressCallback | None,
        emit: MemoryObjectSendStream[ChunkOutcome] | None,
        fence: Fence,
    ) -> None:
        self._port = port
        self._plan = plan
        self._spec = plan.targeted_spec
        self._concurrency = concurrency
        self._retry = retry
        self._sleep = port.sleep if retry.sleep is None else retry.sleep
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
        held: deque[Job] = deque()  # chunks another run was working on when their turn came
        async with anyio.create_task_group() as tg:
            for _ in range(min(self._concurrency, len(jobs))):
                tg.start_soon(self._worker, todo, held, tg.cancel_scope)
        if self._fatal is not None:
            raise self._fatal

    async def _worker(
        self, todo: Iterator[Job], held: deque[Job], scope: anyio.CancelScope
    ) -> None:
        """Settle jobs from `todo` (shared: each job goes to exactly one worker). A chunk that
        another run sharing the journal holds is put off to `held`, so that runs started
        together share the work instead of each waiting behind the other's claims; once `todo`
        is empty, those are settled, waiting for each to be let go (this worker drains what it
        put off itself, so none is left behind)."""
        try:
            for job in todo:
                outcome = await self._claim_and_settle(job, wait=False)
                if outcome is None:
                    held.append(job)
                else:
                    await self._finish(outcome)
            while held:
                outcome = await self._claim_and_settle(held.popleft(), wait=True)
                assert outcome is not None  # a claim that waits always yields the chunk's state
                await self._finish(outcome)
        except Exception as exc:  # journal or progress callback: stop the whole run
            self._fatal = exc
            scope.cancel()

    async def _finish(self, outcome: ChunkOutcome) -> None:
        self._outcomes[outcome.chunk.index] = outcome
        if self._on_progress is not None:
            maybe = self._on_progress(FanOutProgress(len(self._outcomes), self._total, outcome))
            if inspect.isawaitable(maybe):
                await maybe
        if self._emit is not None:
            await self._emit.send(outcome)

    async def _claim_and_settle(self, job: Job, *, wait: bool) -> ChunkOutcome | None:
        """The chunk's outcome; None if another run holds it and `wait` is False."""
        if self._journal is None or job.request_id is not None:
            return await self._settle(job)
        # A journal shared with other runs (another host): the chunk is held while it is
        # settled, and what the others did to it since the journal was read comes first.
        async with self._journal.claim(job.chunk, wait=wait) as news:
            if news is None:
                return None
            if news.request_id is not None:
                return Resumed(job.chunk, news.request_id)  # done by another run
            if news.started_at is not None and job.in_doubt_since is None:
                job = evolve(job, in_doubt_since=news.started_at)  # theirs, in doubt: look first
            return await self._settle(job)

    async def _settle(self, job: Job) -> ChunkOutcome:
        """Drive one chunk: ask `decide`, do the step, feed its result back, until an outcome."""
        track, event = _Track.of(job)
        while True:
            step = decide(track.phase, self._budget(track), self._settle_left(track) > 0, event)
            outcome = await self._conclude(step, track)
            if outcome is not None:
                return outcome
            event = await self._act(step, track)

    def _budget(self, track: _Track) -> Budget:
        if track.attempts == 0:
            return Budget.UNTRIED
        return Budget.SPENT if track.attempts >= self._retry.max_attempts else Budget.LEFT

    def _settle_left(self, track: _Track) -> float:
        """Seconds a lost create may still land on the server (0 when it cannot)."""
        if track.in_doubt is None or not track.in_flight:
            return 0.0
        elapsed = (self._port.clock.utcnow() - track.in_doubt).total_seconds()
        return self._retry.settle - elapsed

    async def _act(self, step: Step, track: _Track) -> Event:
        """Do a step that leads to another event: send, wait, look up."""
        if step is Step.BACK_OFF:
            delay = self._retry.delay(track.attempts, self._port.random())
            await self._sleep(max(track.retry_after or 0.0, delay))
        if step in (Step.SEND, Step.BACK_OFF):
            return await self._send(track)
        if step is Step.SETTLE:
            # Give the lost create time to land before concluding it never will.
            await self._sleep(self._settle_left(track))
            return await self._look_up(track, Phase.SETTLED)
        assert step is Step.LOOK_UP, step  # decide() gave INVALID: a bug in the runner
        return await self._look_up(track, Phase.LOOKING)

    async def _conclude(self, step: Step, track: _Track) -> ChunkOutcome | None:
        """The outcome a final step gives (recording it first), or None for any other step."""
        chunk, attempts = track.job.chunk, track.attempts
        if step is Step.RESUME:
            assert track.job.request_id is not None
            return Resumed(chunk, track.job.request_id)
        if step in (Step.RECORD_CREATED, Step.RECORD_FOUND):
            assert track.request is not None
            await self._record(chunk, track.request)
            if step is Step.RECORD_CREATED:
                return Created(chunk, track.request, attempts)
            return Reconciled(chunk, track.request, attempts)
        if step in (Step.GIVE_UP, Step.REJECT):
            assert track.error is not None  # only reached after a failed attempt
            return Failed(chunk, track.error, retryable=step is Step.GIVE_UP, attempts=attempts)
        if step is Step.GIVE_UP_IN_DOUBT:
            error = track.error or EsperError("a previous run's create is in doubt")
            return Failed(
                chunk, error, retryable=True, attempts=attempts, in_doubt_since=track.in_doubt
            )
        return None

    async def _send(self, track: _Track) -> Event:
        chunk = track.job.chunk
        track.phase, track.retry_after = Phase.SENDING, None
        track.attempts += 1
        began = self._port.clock.utcnow()
        if self._journal is not None:
            await self._journal.started(chunk, began)
        try:
            track.request = await self._port.commands.create(
                spec=self._spec, devices=chunk.devices or None, groups=chunk.groups or None
            )
        except EsperError as exc:
            track.error = exc
            event = sort_error(exc)
            if isinstance(exc, RateLimitError):
                track.retry_after = exc.retry_after
            if event is Event.LOST:
                track.in_flight = _may_still_be_in_flight(exc)
                started = exc.started_at if isinstance(exc, AmbiguousCreateError) else began
                track.in_doubt = min(began, started)
            return event
        return Event.CREATED

    async def _look_up(self, track: _Track, phase: Phase) -> Event:
        track.phase = phase
        try:
            found = await find_request(
                self._port.commands, self._plan, track.job.chunk, fence=self._fence
            )
        except EsperError as exc:
            track.error = track.error or exc
            return Event.LOOKUP_FAILED
        if found is None:
            return Event.ABSENT
        track.request = found
        return Event.FOUND

    async def _record(self, chunk: Chunk, request: CommandRequest) -> None:
        if self._journal is not None:
            await self._journal.created(chunk, request, self._port.clock.utcnow())
