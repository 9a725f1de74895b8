"""What a watch reports: a `StateChange` per observed transition, and a `WatchSummary`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from attrs import frozen

from .._errors import WatchTimeoutError
from ..models import CommandState

__all__ = ["RequestSummary", "StateChange", "WatchSummary", "WatchTimeoutError"]


@frozen(kw_only=True)
class StateChange:
    """One device's command moved to a new state, as a polling round observed it.

    Each change a round observes is reported exactly once, in order per device. Polling cannot see
    a state that was entered and left between two rounds, so ``old_state`` is the state the
    previous observation saw, not necessarily the one the device left.

    .. versionadded:: 0.1
    """

    request: uuid.UUID
    """The command request."""
    device: uuid.UUID
    """The device."""
    old_state: CommandState | str | None
    """The state seen before; None the first time the watch sees this device."""
    new_state: CommandState | str
    """The state seen now."""
    reason: str | None
    """Esper's reason text for the new state, if any."""
    at: dt.datetime
    """When the device entered `new_state` by the server's clock (the status's ``updated_on``),
    or when the watch saw it if the server sent no time."""


@frozen(kw_only=True, repr=False)
class RequestSummary:
    """Where one watched request stands.

    .. versionadded:: 0.1
    """

    request_id: uuid.UUID
    totals: Mapping[CommandState | str, int]
    """Devices per state (states with no device are left out)."""
    states: Mapping[uuid.UUID, CommandState | str]
    """Each device's last seen state."""
    pending: tuple[uuid.UUID, ...]
    """Devices not done yet: in flight, or queued unless ``queued_is_done``."""
    done: bool
    """Every device is done, so the request is no longer polled."""

    def __repr__(self) -> str:
        # Counts, not devices: a request of 50,000 devices must not print 50,000 ids.
        totals = {str(state): n for state, n in self.totals.items()}
        return (
            f"RequestSummary(request_id={str(self.request_id)!r}, done={self.done},"
            f" devices={len(self.states)}, pending={len(self.pending)}, totals={totals!r})"
        )


@frozen(kw_only=True, repr=False)
class WatchSummary:
    """Where every watched request stands, and what watching cost.

    .. versionadded:: 0.1
    """

    requests: Mapping[uuid.UUID, RequestSummary]
    """One summary per watched request, in the order they were given."""
    done: bool
    """Every device of every request is done; False when the deadline ended the watch."""
    rounds: int
    """Polling rounds made."""
    calls: int
    """API calls made (one per page read)."""
    errors: int
    """Transient read failures (server errors, timeouts, 429s) that were retried next round."""

    def __repr__(self) -> str:
        # Counts, not devices (see RequestSummary.__repr__).
        pending = sum(len(r.pending) for r in self.requests.values())
        totals = {str(state): n for state, n in self.totals().items()}
        return (
            f"WatchSummary(done={self.done}, requests={len(self.requests)}, pending={pending},"
            f" totals={totals!r}, rounds={self.rounds}, calls={self.calls}, errors={self.errors})"
        )

    @property
    def pending(self) -> dict[uuid.UUID, tuple[uuid.UUID, ...]]:
        """The devices not done yet, per request not done (done requests are left out).

        A request not read yet is pending too, with no devices known yet (an empty tuple), so
        ``len(summary.pending)`` counts every request still being watched.
        """
        return {rid: r.pending for rid, r in self.requests.items() if not r.done}

    def totals(self) -> dict[CommandState | str, int]:
        """Devices per state, summed over every request."""
        out: dict[CommandState | str, int] = {}
        for request in self.requests.values():
            for state, count in request.totals.items():
                out[state] = out.get(state, 0) + count
        return out
