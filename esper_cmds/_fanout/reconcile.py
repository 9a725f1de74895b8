"""Reconciliation: did a create whose answer was lost actually store a request?

Strictly private. A create can fail after the server stored it (a dropped connection, a 5xx after
the write, a crash between send and journal). Resending blindly would give those devices the
command twice, so the fan-out first looks for the request on the server: requests for the same
command and type that target the chunk's first target, created since the attempt began, whose
targets are exactly the chunk's. Chunks are disjoint, so such a request can only be this chunk's.

"Since the attempt began" is in the server's clock, which may differ from ours (a simulator on a
fixed clock, a skewed host). The offset is learned from the ``created_on`` of requests this
fan-out (or its journal) created; until one is known, only "no matching request at all" proves
absence.
"""

from __future__ import annotations

import datetime as dt

from attrs import define, field

from .._resources import Commands
from ..models import CommandRequest
from .plan import Chunk, Plan

__all__ = ["ServerClock", "ServerClockUnknownError", "find_request"]

_PAGE_SIZE = 50


class ServerClockUnknownError(Exception):
    """Strictly private: a matching request exists, but we cannot tell if it is this attempt's."""


@define
class ServerClock:
    """The server's clock relative to ours, learned from requests it created."""

    _offset: dt.timedelta | None = field(default=None, alias="offset")

    @property
    def offset(self) -> dt.timedelta | None:
        """Server time minus local time; the smallest seen, so a window is never too narrow."""
        return self._offset

    def observe(self, request: CommandRequest, local_after: dt.datetime) -> None:
        """Learn from a request created before `local_after` (our clock)."""
        if request.created_on is not None:
            self.observe_offset(request.created_on - local_after)

    def observe_offset(self, offset: dt.timedelta) -> None:
        """Learn one offset sample."""
        if self._offset is None or offset < self._offset:
            self._offset = offset


def _matches(request: CommandRequest, plan: Plan, chunk: Chunk) -> bool:
    if str(request.command) != plan.template["command"]:
        return False
    if request.command_type is not None and str(request.command_type) != plan.command_type:
        return False
    device_type = plan.template.get("device_type")
    if request.device_type is not None and str(request.device_type) != device_type:
        return False
    if chunk.devices:
        return {str(d) for d in request.devices} == set(chunk.devices) and not request.groups
    return {str(g) for g in request.groups} == set(chunk.groups)


async def find_request(
    commands: Commands,
    plan: Plan,
    chunk: Chunk,
    *,
    attempt_began: dt.datetime,
    clock: ServerClock,
    clock_skew: dt.timedelta,
) -> CommandRequest | None:
    """The request stored by an attempt begun at `attempt_began` (local time), or None if none.

    Raises:
        ServerClockUnknownError: A matching request exists but the server's clock is unknown.
        EsperError: The listing failed (the chunk stays in doubt).
    """
    offset = clock.offset
    since = None if offset is None else attempt_began + offset - clock_skew
    # Filtering by one device keeps the URL short (1000 ids would not fit in a request line); a
    # GROUP request's devices are not listed by id, so those are found by command and type alone.
    pager = commands.list(
        command=plan.template["command"],
        command_type=plan.command_type,
        devices=chunk.devices[:1] or None,
        page_size=_PAGE_SIZE,
    )
    async for request in pager:
        if since is not None and request.created_on is not None and request.created_on < since:
            break  # newest first: everything after this is older still
        if _matches(request, plan, chunk):
            if since is None:
                raise ServerClockUnknownError(str(request.id))
            return request
    return None
