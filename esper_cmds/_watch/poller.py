"""The polling engine: rounds of as few status reads as the API allows, until done or deadline.

A round costs, for the requests still being watched:

1. the per-state totals of many requests at once: one request listing (page size 1000) per
   `_TOTALS_CHUNK` requests, filtered by one known device of each, so it finds them on its
   first page; skipped where it could not save a call (a lone request of up to 1000 devices);
2. no status read at all for a request whose totals equal what was last seen (nothing moved);
3. otherwise the cheaper of one unfiltered read (1 call per 1000 devices) or reads filtered by
   the states that can hold changes (for requests of more than 1000 devices);
4. a request whose devices are all done is never read again.

The first round reads every status once, unfiltered, to learn each request's devices.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from .._errors import (
    MalformedResponseError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from .._validation import parse_uuid
from ..models import CommandRequest, CommandStatus
from .backoff import PollBackoff, check_number
from .events import StateChange, WatchSummary
from .port import WatchPort
from .tracker import ReadPlan, RequestTracker

__all__ = ["Poller"]

_TRANSIENT = (TransportError, ServerError, RateLimitError, MalformedResponseError)
"""Read failures worth another try next round; anything else (404, 401, ...) ends the watch."""

_TOTALS_CHUNK = 50
"""Requests looked up per request listing: 50 device ids keep the URL under about 2 KB."""

_MAX_TOTALS_MISSES = 2
"""After this many listings in a row without a request, stop looking its totals up."""


class Poller:
    """Strictly private: the state and the loop behind one ``watch``."""

    def __init__(
        self,
        client: WatchPort,
        request_ids: Iterable[uuid.UUID | str | CommandRequest],
        *,
        timeout: float | None,
        deadline: float | None,
        interval: float,
        max_interval: float,
        backoff: float,
        jitter: float,
        queued_is_done: bool,
        concurrency: int,
        page_size: int,
        use_totals: bool,
    ) -> None:
        self._client = client
        self._trackers: dict[uuid.UUID, RequestTracker] = {}
        if isinstance(request_ids, str | bytes | uuid.UUID | CommandRequest) or not isinstance(
            request_ids, Iterable
        ):
            raise ValidationError(
                "request_ids", "must be a list of request ids (or CommandRequests)", request_ids
            )
        for item in request_ids:
            rid = item.id if isinstance(item, CommandRequest) else parse_uuid(item, "request_ids")
            self._trackers.setdefault(rid, RequestTracker(rid, queued_is_done=queued_is_done))
        if (timeout is None) == (deadline is None):
            raise ValidationError("timeout", "give exactly one of timeout or deadline", timeout)
        if timeout is not None and not check_number("timeout", timeout) >= 0:
            raise ValidationError("timeout", "must be 0 seconds or more", timeout)
        if deadline is not None:
            check_number("deadline", deadline)
        if not (isinstance(concurrency, int) and concurrency >= 1):
            raise ValidationError("concurrency", "must be an integer of 1 or more", concurrency)
        if not (isinstance(page_size, int) and 1 <= page_size <= 1000):
            raise ValidationError("page_size", "must be an integer from 1 to 1000", page_size)
        self._backoff = PollBackoff(
            interval=interval,
            max_interval=max_interval,
            factor=backoff,
            jitter=jitter,
            random=client.random,
        )
        self._timeout = timeout
        self._deadline = deadline
        self._page_size = page_size
        self._use_totals = use_totals
        self._limiter = anyio.CapacityLimiter(concurrency)
        # The client's time, like every wait of the library: a test's fake clock drives the
        # watch's rounds and deadline as it drives the transport's backoff.
        self._clock = client.clock
        self._sleep = client.sleep
        self._rounds = 0
        self._calls = 0
        self._errors = 0
        self._totals_useless = False
        """Every request changed last round, so totals would have saved nothing."""
        self.failure: Exception | None = None
        """A non-transient error that ended the watch; raised to whoever iterates the changes."""

    # -- public face -------------------------------------------------------------------------

    def summary(self) -> WatchSummary:
        """A snapshot of where everything stands."""
        requests = {rid: t.summary() for rid, t in self._trackers.items()}
        return WatchSummary(
            requests=requests,
            done=all(r.done for r in requests.values()),
            rounds=self._rounds,
            calls=self._calls,
            errors=self._errors,
        )

    async def run(self, send: MemoryObjectSendStream[StateChange]) -> None:
        """Poll until every device is done or the deadline passes, then close `send`.

        A non-transient error is kept in `failure` (not raised) so the reader of the stream gets
        it as itself, not wrapped in an exception group.
        """
        async with send:
            deadline = self._deadline
            if deadline is None:
                deadline = self._clock.monotonic() + (self._timeout or 0.0)
            try:
                # A slow API must not hold the watch long past its deadline: besides the check
                # between rounds (on the client's clock), a cancel scope cuts a round still
                # running when the time left, plus a grace for the round made at the deadline
                # itself, has passed on the event loop's clock. The allowance is converted once,
                # at the start, from the client's clock to the loop's: with the real clock the
                # two move together, so the cut lands at the deadline plus the grace; with a
                # fake clock (instant sleeps) the cut is a real-time bound that a test never
                # reaches, while the deadline itself still follows the fake clock. The same code
                # for every clock: nothing depends on which clock object was passed.
                allowance = deadline - self._clock.monotonic() + self._backoff.current
                with anyio.move_on_after(max(allowance, 0.0)):
                    await self._loop(send, deadline)
            except Exception as exc:  # handed to the reader; cancellation is not caught here
                self.failure = exc

    async def _loop(self, send: MemoryObjectSendStream[StateChange], deadline: float) -> None:
        while True:
            changed = await self._round(send)
            if self.failure is not None:
                return
            if all(t.done for t in self._trackers.values()):
                return
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return
            await self._sleep(min(self._backoff.next_delay(changed=changed), remaining))

    # -- one round ---------------------------------------------------------------------------

    async def _round(self, send: MemoryObjectSendStream[StateChange]) -> bool:
        """Bring every unfinished request up to date; whether any device changed."""
        self._rounds += 1
        active = [t for t in self._trackers.values() if not t.done]
        known = sum(1 for t in active if t.read_once)
        use_totals = self._use_totals and not self._totals_useless
        totals = await self._fetch_totals(active) if use_totals else {}
        if self.failure is not None:
            return False
        changed: list[RequestTracker] = []
        async with anyio.create_task_group() as tg:

            async def update(tracker: RequestTracker) -> None:
                plan = tracker.plan(totals.get(tracker.request_id), page_size=self._page_size)
                try:
                    if await self._update(tracker, plan, send):
                        changed.append(tracker)
                except Exception as exc:  # kept as itself, not wrapped in an exception group
                    self._fail(exc, tg)

            for tracker in active:
                tg.start_soon(update, tracker)
        # When every request moves every round (all started together), the listing is one call
        # more for nothing: read directly until a round shows some request standing still. A
        # first read is all "changes" and says nothing about movement, so it does not count.
        self._totals_useless = known == len(active) > 1 and len(changed) == known
        return bool(changed)

    async def _update(
        self,
        tracker: RequestTracker,
        plan: ReadPlan,
        send: MemoryObjectSendStream[StateChange],
    ) -> int:
        """Make one request's reads and report what changed; the number of changes."""
        seen: set[uuid.UUID] = set()
        changes = 0
        for state in plan.states:
            statuses = await self._read(tracker.request_id, state=state)
            if statuses is None:
                return changes  # a transient failure: try again next round
            if state is None:
                tracker.read_once = True  # an unfiltered read sees every device
            changes += self._observe(tracker, statuses, seen, send)
        if plan.filtered:
            # A device that left the states read, or moved between two of the reads, was missed.
            unseen = tracker.unseen_in_flight(seen)
            if len(unseen) >= tracker.unfiltered_cost(self._page_size):
                unseen_reads: list[uuid.UUID | None] = [None]
            else:
                unseen_reads = list(unseen)
            for device in unseen_reads:
                statuses = await self._read(tracker.request_id, device=device)
                if statuses is None:
                    return changes
                changes += self._observe(tracker, statuses, seen, send)
        return changes

    def _fail(self, exc: Exception, tg: anyio.abc.TaskGroup) -> None:
        if self.failure is None:
            self.failure = exc
        tg.cancel_scope.cancel()

    def _observe(
        self,
        tracker: RequestTracker,
        statuses: list[CommandStatus],
        seen: set[uuid.UUID],
        send: MemoryObjectSendStream[StateChange],
    ) -> int:
        now = self._clock.utcnow()
        changes = 0
        for status in statuses:
            seen.add(status.device)
            change = tracker.observe(status, now=now)
            if change is not None:
                # The buffer is unbounded, so polling never waits for a slow reader.
                send.send_nowait(change)
                changes += 1
        return changes

    async def _read(
        self,
        request_id: uuid.UUID,
        *,
        state: str | None = None,
        device: uuid.UUID | None = None,
    ) -> list[CommandStatus] | None:
        """Every page of one status listing; None after a transient failure."""
        pager = self._client.commands.statuses(
            request_id, state=state, device=device, page_size=self._page_size
        )
        out: list[CommandStatus] = []
        async with self._limiter:
            try:
                async for page in pager.pages():
                    self._calls += 1
                    out.extend(page.results)
            except _TRANSIENT:
                self._errors += 1
                return None
        return out

    async def _fetch_totals(self, active: list[RequestTracker]) -> dict[uuid.UUID, dict[str, int]]:
        """Per-state totals of the requests worth looking up, from as few listings as possible."""
        eligible = [
            t for t in active if t.read_once and t.statuses and t.totals_misses < _MAX_TOTALS_MISSES
        ]
        found: dict[uuid.UUID, dict[str, int]] = {}
        chunks = [eligible[i : i + _TOTALS_CHUNK] for i in range(0, len(eligible), _TOTALS_CHUNK)]
        async with anyio.create_task_group() as tg:
            for chunk in chunks:
                if sum(t.unfiltered_cost(self._page_size) for t in chunk) < 2:
                    continue  # one status read is as cheap as the listing
                tg.start_soon(self._fetch_totals_chunk, chunk, found, tg)
        return found

    async def _fetch_totals_chunk(
        self,
        chunk: list[RequestTracker],
        found: dict[uuid.UUID, dict[str, int]],
        tg: anyio.abc.TaskGroup,
    ) -> None:
        # Any one device of a request finds it: the listing matches requests targeting any of them.
        sample = [next(iter(t.statuses)) for t in chunk]
        pager = self._client.commands.list(devices=sample, page_size=1000)
        async with self._limiter:
            try:
                page = await pager.first_page()
            except _TRANSIENT:
                self._errors += 1
                return
            except Exception as exc:  # kept as itself, not wrapped in an exception group
                self._fail(exc, tg)
                return
            finally:
                self._calls += 1
        listed = {r.id: r for r in page.results}
        for tracker in chunk:
            request = listed.get(tracker.request_id)
            if request is None:
                tracker.totals_misses += 1
            else:
                tracker.totals_misses = 0
                found[tracker.request_id] = {str(s): n for s, n in request.totals().items()}
