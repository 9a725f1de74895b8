"""What one watched request's devices were last seen doing, and the cheapest reads to update it.

Pure bookkeeping, no I/O: the poller feeds it statuses and asks it which reads to make.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping

from attrs import frozen

from ..models import CommandState, CommandStatus, is_terminal
from .events import RequestSummary, StateChange

__all__ = ["ReadPlan", "RequestTracker"]

_RANK: dict[str, int] = {
    CommandState.SCHEDULED: 0,
    CommandState.QUEUED: 0,
    CommandState.INITIATED: 1,
    CommandState.ACKNOWLEDGED: 2,
    CommandState.IN_PROGRESS: 3,
    CommandState.SUCCESS: 4,
    CommandState.FAILURE: 4,
    CommandState.TIMEOUT: 4,
    CommandState.CANCELLED: 4,
}
"""How far along the lifecycle a state is; used only when the server sends no timestamps."""


@frozen
class ReadPlan:
    """Strictly private: the status reads one request needs this round.

    ``states`` are the ``state=`` filters to read, None meaning one unfiltered read of every status.
    An empty plan means nothing changed, so the request costs no call this round.
    """

    states: tuple[str | None, ...]

    @property
    def filtered(self) -> bool:
        """Whether the reads are filtered by state (so devices that left them may be unseen)."""
        return bool(self.states) and None not in self.states


class RequestTracker:
    """Strictly private: one request's devices, their last seen statuses, and its read plan."""

    def __init__(self, request_id: uuid.UUID, *, queued_is_done: bool) -> None:
        self.request_id = request_id
        self.queued_is_done = queued_is_done
        self.statuses: dict[uuid.UUID, CommandStatus] = {}
        self.read_once = False
        """A complete (unfiltered) read has happened, so every device is known."""
        self.totals_misses = 0
        """Consecutive rounds in which the request listing did not include this request."""

    # -- state ---------------------------------------------------------------------------------

    def is_done_state(self, state: CommandState | str) -> bool:
        """Whether a device in `state` needs no more watching."""
        return is_terminal(state) or (self.queued_is_done and state == CommandState.QUEUED)

    @property
    def done(self) -> bool:
        """Every device is done. A request with no per-device statuses has nothing to wait for."""
        return self.read_once and all(self.is_done_state(s.state) for s in self.statuses.values())

    def counts(self) -> dict[str, int]:
        """Devices per state as last seen, states with no device left out."""
        out: dict[str, int] = {}
        for status in self.statuses.values():
            out[status.state] = out.get(status.state, 0) + 1
        return out

    def in_flight_devices(self) -> list[uuid.UUID]:
        """Devices last seen in a state that can still change."""
        return [d for d, s in self.statuses.items() if not is_terminal(s.state)]

    def summary(self) -> RequestSummary:
        """A snapshot for `WatchSummary`."""
        return RequestSummary(
            request_id=self.request_id,
            totals=self.counts(),
            states={d: s.state for d, s in self.statuses.items()},
            pending=tuple(d for d, s in self.statuses.items() if not self.is_done_state(s.state)),
            done=self.done,
        )

    # -- observing -----------------------------------------------------------------------------

    def observe(self, status: CommandStatus, *, now: dt.datetime) -> StateChange | None:
        """Record one read status; the change it shows, or None if it shows nothing new."""
        previous = self.statuses.get(status.device)
        if previous is not None:
            if previous.state == status.state or is_terminal(previous.state):
                return None
            if _is_older(status, previous):
                # A read that started before an earlier one finished: it shows the past.
                return None
        self.statuses[status.device] = status
        return StateChange(
            request=self.request_id,
            device=status.device,
            old_state=None if previous is None else previous.state,
            new_state=status.state,
            reason=status.reason,
            at=status.updated_on or status.created_on or now,
        )

    # -- planning ------------------------------------------------------------------------------

    def unfiltered_cost(self, page_size: int, totals: Mapping[str, int] | None = None) -> int:
        """Calls one read of every status costs (at least one)."""
        devices = sum(totals.values()) if totals is not None else len(self.statuses)
        return max(1, math.ceil(devices / page_size))

    def plan(self, totals: Mapping[str, int] | None, *, page_size: int) -> ReadPlan:
        """The cheapest reads that bring this request up to date.

        Args:
            totals: The request's per-state totals from the request listing this round, or None
                when they are unknown (then everything is read).
            page_size: Statuses per page.
        """
        if not self.read_once or totals is None:
            return ReadPlan((None,))
        current = {state: n for state, n in totals.items() if n}
        last_seen = self.counts()
        if current == last_seen:
            # States only move forward, so equal per-state counts mean no device moved.
            return ReadPlan(())
        # Devices may have entered any in-flight state, so read each that is not empty; a
        # terminal state never loses devices, so read only those that gained some.
        filters = [state for state, n in current.items() if not is_terminal(state)]
        filters += [
            state
            for state, n in current.items()
            if is_terminal(state) and n > last_seen.get(state, 0)
        ]
        filtered_cost = sum(math.ceil(current[state] / page_size) for state in filters)
        if sum(current.values()) != len(self.statuses) or filtered_cost >= self.unfiltered_cost(
            page_size, current
        ):
            # New devices (a group grew) can only be found by reading everything; and for up to
            # one page of devices a single unfiltered read is never more expensive.
            return ReadPlan((None,))
        return ReadPlan(tuple(filters))

    def unseen_in_flight(self, seen: set[uuid.UUID]) -> list[uuid.UUID]:
        """In-flight devices a filtered round did not see: they must be read one by one."""
        return [d for d in self.in_flight_devices() if d not in seen]


def _is_older(status: CommandStatus, previous: CommandStatus) -> bool:
    if status.updated_on is not None and previous.updated_on is not None:
        return status.updated_on < previous.updated_on
    new_rank, old_rank = _RANK.get(status.state), _RANK.get(previous.state)
    return new_rank is not None and old_rank is not None and new_rank < old_rank
