"""``watch`` and ``wait``: follow command requests until every device is done or time is up."""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import AsyncIterator, Iterable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from ..models import CommandRequest
from .events import StateChange, WatchSummary, WatchTimeoutError
from .poller import Poller
from .port import WatchPort

__all__ = ["WatchChanges", "wait", "watch"]

DEFAULT_INTERVAL = 2.0
DEFAULT_MAX_INTERVAL = 30.0
DEFAULT_BACKOFF = 1.5
DEFAULT_JITTER = 0.2
DEFAULT_CONCURRENCY = 8


class WatchChanges:
    """The changes a running watch observes: ``async for change in changes``, and `summary`.

    Iteration ends when every device is done or the deadline passes; then `summary` says which.
    A non-transient read error (the request does not exist, the key is refused) ends the
    iteration by raising that error.

    .. versionadded:: 0.1
    """

    def __init__(self, receive: MemoryObjectReceiveStream[StateChange], poller: Poller) -> None:
        self._receive = receive
        self._poller = poller

    def __aiter__(self) -> WatchChanges:
        return self

    async def __anext__(self) -> StateChange:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            if self._poller.failure is not None:
                raise self._poller.failure from None
            raise StopAsyncIteration from None

    @property
    def summary(self) -> WatchSummary:
        """Where every request stands now (final once iteration has ended)."""
        return self._poller.summary()

    async def wait(self) -> WatchSummary:
        """Consume the remaining changes and return the final summary."""
        async for _ in self:
            pass
        return self.summary


@contextlib.asynccontextmanager
async def watch(
    client: WatchPort,
    request_ids: Iterable[uuid.UUID | str | CommandRequest],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - a deadline over many polls, not one await
    deadline: float | None = None,
    interval: float = DEFAULT_INTERVAL,
    max_interval: float = DEFAULT_MAX_INTERVAL,
    backoff: float = DEFAULT_BACKOFF,
    jitter: float = DEFAULT_JITTER,
    queued_is_done: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    page_size: int = 1000,
    use_totals: bool = True,
) -> AsyncIterator[WatchChanges]:
    """Poll many command requests at once and report every device's state changes.

    ::

        async with watch(client, [r.id for r in requests], timeout=600) as changes:
            async for change in changes:
                print(change.device, change.old_state, "->", change.new_state)
        if not changes.summary.done:
            print("still pending:", changes.summary.pending)

    Polling runs while the block runs and stops when it is left. Each round costs as few API
    calls as the API allows: per-state totals of up to 50 requests from one request listing, no
    status read for a request whose totals did not move, one read of up to 1000 statuses
    otherwise, and nothing for a request whose devices are all done. The interval starts at
    `interval`, grows by `backoff` (with `jitter`) up to `max_interval` while nothing changes, and
    returns to `interval` on a change. Reads go through the client, so its rate and concurrency
    limits apply; `concurrency` bounds this watch's own reads in flight.

    Args:
        client: The client to read with.
        request_ids: The command requests (ids, or the `CommandRequest` objects ``create``
            returned); duplicates are watched once.
        timeout: Seconds to watch at most. Give this or `deadline`.
        deadline: An instant on ``client.clock.monotonic()`` to stop at.
        interval: The first and shortest delay between rounds, in seconds.
        max_interval: The longest delay between rounds.
        backoff: Growth factor of the delay per round without a change.
        jitter: Each delay is shortened by a random share of up to this (0 for none).
        queued_is_done: Count "Command Queued" (an offline device under ``device_type="all"``,
            which may not come back for days) as done.
        concurrency: Status reads of this watch in flight at once.
        page_size: Statuses per page (at most 1000, the API's maximum).
        use_totals: Use the request listing's per-state totals to skip unchanged requests.

    Time comes from the client: its ``clock`` (the deadline, each change's fallback time), its
    ``sleep`` (between rounds) and its ``random`` (the jitter). A test moves a watch's time with
    `esper_cmds.testing.FakeClock`, passed to the client.

    Yields:
        `WatchChanges`: iterate it for `StateChange` events; its ``summary`` is a `WatchSummary`.

    Raises:
        ValidationError: Bad arguments (e.g. neither or both of timeout and deadline).
        APIStatusError: While iterating, a read failed in a way another round cannot fix (404,
            401, 403, 400). Server errors, timeouts and 429s are retried next round.

    .. versionadded:: 0.1
    """
    poller = Poller(
        client,
        request_ids,
        timeout=timeout,
        deadline=deadline,
        interval=interval,
        max_interval=max_interval,
        backoff=backoff,
        jitter=jitter,
        queued_is_done=queued_is_done,
        concurrency=concurrency,
        page_size=page_size,
        use_totals=use_totals,
    )
    # Unbounded: polling keeps its pace whatever the reader does; at most one event per device
    # and state is ever buffered.
    send, receive = anyio.create_memory_object_stream[StateChange](math.inf)
    body_error: Exception | None = None
    with receive:
        async with anyio.create_task_group() as tg:
            tg.start_soon(poller.run, send)
            try:
                yield WatchChanges(receive, poller)
            except Exception as exc:  # re-raised below as itself, not as an exception group
                body_error = exc
            finally:
                tg.cancel_scope.cancel()
    if body_error is not None:
        raise body_error


async def wait(
    client: WatchPort,
    request_id: uuid.UUID | str | CommandRequest,
    *,
    timeout: float,  # noqa: ASYNC109 - a deadline over many polls, not one await
    interval: float = DEFAULT_INTERVAL,
    max_interval: float = DEFAULT_MAX_INTERVAL,
    queued_is_done: bool = False,
) -> WatchSummary:
    """Wait until every device of one request is done.

    ::

        summary = await wait(client, request.id, timeout=300)
        print(summary.totals())

    Args:
        client: The client to read with.
        request_id: The command request (its id or the `CommandRequest`).
        timeout: Seconds to wait at most.
        interval: The first and shortest delay between polls, in seconds.
        max_interval: The longest delay between polls.
        queued_is_done: Count "Command Queued" as done.

    Time comes from the client's ``clock``, ``sleep`` and ``random``, as for `watch`.

    Returns:
        The final summary; ``summary.done`` is True.

    Raises:
        WatchTimeoutError: The timeout passed first; its ``summary`` names the pending devices.
        APIStatusError: A read failed in a way another poll cannot fix (404, 401, 403, 400).

    .. versionadded:: 0.1
    """
    async with watch(
        client,
        [request_id],
        timeout=timeout,
        interval=interval,
        max_interval=max_interval,
        queued_is_done=queued_is_done,
    ) as changes:
        summary = await changes.wait()
    if not summary.done:
        raise WatchTimeoutError(summary)
    return summary
