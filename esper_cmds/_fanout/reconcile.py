"""Reconciliation: did a create whose answer was lost actually store a request?

Strictly private. A create can fail after the server stored it (a dropped connection, a 5xx after
the write, a crash between send and journal). Resending blindly would give those devices the
command twice, so the fan-out first looks for the request on the server: requests for the same
command and type that target the chunk's first target and whose targets are exactly the chunk's.
Chunks are disjoint, so such a request can only be this chunk's, provided it is newer than the
fan-out itself.

"Newer than the fan-out" is decided on the server's own clock, never ours: before sending
anything, the fan-out notes the newest requests the enterprise already has (its `Fence`: the
newest creation time and every request created at that instant). Every request the fan-out
creates is listed before the fence; an identical request from an earlier run is not. Where the
server gives no creation times, the listing's newest-first order is all there is: the walk stops
at the first fence request. A journal keeps the fence of its first run, so a resumed run looks
back that far.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from attrs import field, frozen

from ..models import CommandRequest
from .plan import Chunk, Plan
from .port import CommandsPort

__all__ = ["Fence", "find_request", "take_fence"]

_PAGE_SIZE = 50


def _as_utc(when: dt.datetime | None) -> dt.datetime | None:
    """An aware datetime: a server time without an offset is UTC (Esper's clock is)."""
    if when is not None and when.utcoffset() is None:
        return when.replace(tzinfo=dt.UTC)
    return when


def _id_set(ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    return frozenset(ids)


@frozen
class Fence:
    """The newest requests that existed before the fan-out began (none: there were none).

    Attributes:
        created_on: The newest creation time on the server's clock.
        request_id: The newest request's id.
        request_ids: Every request created at that same instant (servers with coarse timestamps
            list several): none of them is ever one of ours, whatever the times say.
    """

    created_on: dt.datetime | None = field(default=None, converter=_as_utc)
    request_id: uuid.UUID | None = None
    request_ids: frozenset[uuid.UUID] = field(factory=frozenset, converter=_id_set)

    def __attrs_post_init__(self) -> None:
        if self.request_id is not None and self.request_id not in self.request_ids:
            object.__setattr__(self, "request_ids", self.request_ids | {self.request_id})

    def excludes(self, request: CommandRequest) -> bool:
        """True if `request` provably existed before the fan-out began."""
        if request.id in self.request_ids:
            return True
        created_on = _as_utc(request.created_on)
        return (
            self.created_on is not None and created_on is not None and created_on < self.created_on
        )


_MAX_FENCE_PAGES = 20


async def take_fence(commands: CommandsPort) -> Fence:
    """The enterprise's newest requests, read before anything is sent.

    Every request sharing the newest creation time is noted, so an identical request created
    in that same instant (a coarse server clock) is never taken for one of the fan-out's.
    """
    pager = commands.list(page_size=_PAGE_SIZE)
    page = await pager.first_page()
    if not page.results:
        return Fence()
    newest = page.results[0]
    ids: set[uuid.UUID] = set()
    for _ in range(_MAX_FENCE_PAGES):
        ties = [r for r in page.results if r.created_on == newest.created_on]
        ids.update(r.id for r in ties)
        if len(ties) < len(page.results) or page.next is None or newest.created_on is None:
            break
        page = await pager.fetch_page(page.next)
    return Fence(newest.created_on, newest.id, frozenset(ids))


def _matches(request: CommandRequest, plan: Plan, chunk: Chunk) -> bool:
    # Typed values on both sides: a value the library does not know stays a str, and a str is
    # never equal to a member it does not name.
    if request.command != plan.spec.command:
        return False
    if request.command_type is not None and request.command_type != plan.command_type:
        return False
    if request.device_type is not None and request.device_type != plan.spec.device_type:
        return False
    if chunk.devices:
        return {str(d) for d in request.devices} == set(chunk.devices) and not request.groups
    return {str(g) for g in request.groups} == set(chunk.groups)


async def find_request(
    commands: CommandsPort, plan: Plan, chunk: Chunk, *, fence: Fence
) -> CommandRequest | None:
    """The request this fan-out stored for `chunk`, or None if provably there is none.

    Raises:
        EsperError: The listing failed (the chunk stays in doubt).
    """
    # Filtering by one device keeps the URL short (1000 ids would not fit in a request line); a
    # GROUP request's devices are not listed by id, so those are found by command and type alone.
    pager = commands.list(
        command=plan.spec.command.value,
        command_type=plan.command_type,
        devices=chunk.devices[:1] or None,
        page_size=_PAGE_SIZE,
    )
    # Page by page rather than ``async for``: leaving an async generator early would leave it
    # to the garbage collector to close (trio warns about that).
    page = await pager.first_page()
    while True:
        for request in page.results:
            if request.id in fence.request_ids:
                if request.created_on is None or fence.created_on is None:
                    return None  # no times to go by: newest first, everything after is older
                continue  # the same instant as ours may follow it in the listing
            if fence.excludes(request):
                return None  # newest first: everything after this is older still
            if _matches(request, plan, chunk):
                return request
        if page.next is None:
            return None
        page = await pager.fetch_page(page.next)
