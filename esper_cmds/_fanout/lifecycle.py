"""A chunk's lifecycle as a pure transition function: what it waits for, what happened, what next.

Strictly private. `decide` does no I/O, reads no clock and draws no random number; the runner
performs the step it returns and feeds the result back as the next event. A chunk waits for one
thing at a time (its `Phase`); how many attempts it has left (`Budget`) and whether a lost create
may still land on the server (``settling``) are the only other inputs.

The table (``*`` = any budget; ``after-absent`` = ``give-up`` when spent, ``back-off`` when
attempts are left, ``send`` when none was made yet in this run, e.g. a journal's doubt)::

    event \\ phase   START       SENDING                   LOOKING                   SETTLED
    --------------  ----------  ------------------------  ------------------------  ------------
    fresh           send        -                         -                         -
    recorded        resume      -                         -                         -
    doubted         look-up     -                         -                         -
    created         -           record-created            -                         -
    throttled       -           back-off (spent: give-up) -                         -
    lost            -           look-up                   -                         -
    refused         -           reject                    -                         -
    found           -           -                         record-found              record-found
    absent          -           -                         settle if settling, else  after-absent
                                                          after-absent
    lookup-failed   -           -                         give-up-in-doubt          give-up-in-doubt

``-`` is `Step.INVALID`: that event cannot happen while waiting for that (the runner asserts).
Why each cell:

- A create refused before it was stored (429, a shared budget out of reach) is safe to send again
  after a wait; a content refusal (400, 404, ...) would be refused again: rejected.
- A lost answer (a timeout, a dropped connection, a 5xx, a malformed 2xx, a 409) may hide a
  stored request: look it up before anything else. While the lost create may still be running
  on the server (``settling``), "absent" proves nothing yet: wait out the window, look again.
- Found means it exists exactly once: record it. Absent after that means it was never stored:
  sending again is safe, if attempts are left.
- A look-up that fails leaves the chunk in doubt: it fails with the instant to reconcile from,
  so a retry looks before it sends.
"""

from __future__ import annotations

import enum

__all__ = ["Budget", "Event", "Phase", "Step", "decide"]


class Phase(enum.Enum):
    """What the chunk is waiting for."""

    START = "start"
    """Nothing done yet in this run."""
    SENDING = "sending"
    """A create's answer."""
    LOOKING = "looking"
    """A look-up after an answer was lost (or an earlier run's was)."""
    SETTLED = "settled"
    """The second look-up, once the settle window has passed."""


class Budget(enum.Enum):
    """Create attempts this run, against ``ChunkRetry.max_attempts``."""

    UNTRIED = "untried"
    LEFT = "left"
    SPENT = "spent"


class Event(enum.Enum):
    """What happened."""

    FRESH = "fresh"
    """START: nothing is known about the chunk."""
    RECORDED = "recorded"
    """START: the journal holds the chunk's request."""
    DOUBTED = "doubted"
    """START: an earlier attempt's fate is unknown."""
    CREATED = "created"
    THROTTLED = "throttled"
    """Refused before it was stored: a 429, or the shared budget out of reach."""
    LOST = "lost"
    """The answer was lost or says nothing of the create's fate."""
    REFUSED = "refused"
    """The server refused the content: sending it again cannot help."""
    FOUND = "found"
    ABSENT = "absent"
    LOOKUP_FAILED = "lookup-failed"


class Step(enum.Enum):
    """What the runner does next."""

    SEND = "send"
    BACK_OFF = "back-off"
    """Wait (the jittered backoff, or a longer Retry-After), then send."""
    LOOK_UP = "look-up"
    SETTLE = "settle"
    """Wait out the settle window, then look up again."""
    RESUME = "resume"
    RECORD_CREATED = "record-created"
    RECORD_FOUND = "record-found"
    GIVE_UP = "give-up"
    """Failed, retryable."""
    REJECT = "reject"
    """Failed, not retryable."""
    GIVE_UP_IN_DOUBT = "give-up-in-doubt"
    """Failed, retryable, its last attempt's fate unknown."""
    INVALID = "invalid"
    """The event cannot happen in that phase."""


_AFTER_ABSENT = {Budget.UNTRIED: Step.SEND, Budget.LEFT: Step.BACK_OFF, Budget.SPENT: Step.GIVE_UP}

_FIXED: dict[tuple[Phase, Event], Step] = {
    (Phase.START, Event.FRESH): Step.SEND,
    (Phase.START, Event.RECORDED): Step.RESUME,
    (Phase.START, Event.DOUBTED): Step.LOOK_UP,
    (Phase.SENDING, Event.CREATED): Step.RECORD_CREATED,
    (Phase.SENDING, Event.LOST): Step.LOOK_UP,
    (Phase.SENDING, Event.REFUSED): Step.REJECT,
    (Phase.LOOKING, Event.FOUND): Step.RECORD_FOUND,
    (Phase.SETTLED, Event.FOUND): Step.RECORD_FOUND,
    (Phase.LOOKING, Event.LOOKUP_FAILED): Step.GIVE_UP_IN_DOUBT,
    (Phase.SETTLED, Event.LOOKUP_FAILED): Step.GIVE_UP_IN_DOUBT,
}


def decide(phase: Phase, budget: Budget, settling: bool, event: Event) -> Step:
    """The next step for a chunk waiting in `phase` after `event` (see the module's table)."""
    fixed = _FIXED.get((phase, event))
    if fixed is not None:
        return fixed
    if (phase, event) == (Phase.SENDING, Event.THROTTLED):
        return Step.GIVE_UP if budget is Budget.SPENT else Step.BACK_OFF
    if event is Event.ABSENT and phase in (Phase.LOOKING, Phase.SETTLED):
        if settling and phase is Phase.LOOKING:
            return Step.SETTLE
        return _AFTER_ABSENT[budget]
    return Step.INVALID
