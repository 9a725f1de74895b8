"""The chunk lifecycle's transition function: every (state, event) pair against a drawn table."""

from __future__ import annotations

import itertools

import pytest

from esper_cmds._fanout.lifecycle import Budget, Event, Phase, Step, decide

U, L, S = Budget.UNTRIED, Budget.LEFT, Budget.SPENT

# (phase, event) -> the step for each (budget, settling) the chunk may be in. A cell is one step
# when neither matters, or a dict by budget (and "settling" first when that matters). Written out
# by hand from the module's docstring; every pair is listed, including the impossible ones.
Cell = Step | dict[Budget | str, Step]
AFTER_ABSENT: dict[Budget | str, Step] = {U: Step.SEND, L: Step.BACK_OFF, S: Step.GIVE_UP}
TABLE: dict[tuple[Phase, Event], Cell] = {
    (Phase.START, Event.FRESH): Step.SEND,
    (Phase.START, Event.RECORDED): Step.RESUME,
    (Phase.START, Event.DOUBTED): Step.LOOK_UP,
    (Phase.SENDING, Event.CREATED): Step.RECORD_CREATED,
    (Phase.SENDING, Event.THROTTLED): {U: Step.BACK_OFF, L: Step.BACK_OFF, S: Step.GIVE_UP},
    (Phase.SENDING, Event.LOST): Step.LOOK_UP,
    (Phase.SENDING, Event.REFUSED): Step.REJECT,
    (Phase.LOOKING, Event.FOUND): Step.RECORD_FOUND,
    (Phase.LOOKING, Event.ABSENT): {"settling": Step.SETTLE, **AFTER_ABSENT},
    (Phase.LOOKING, Event.LOOKUP_FAILED): Step.GIVE_UP_IN_DOUBT,
    (Phase.SETTLED, Event.FOUND): Step.RECORD_FOUND,
    (Phase.SETTLED, Event.ABSENT): AFTER_ABSENT,
    (Phase.SETTLED, Event.LOOKUP_FAILED): Step.GIVE_UP_IN_DOUBT,
}


def expected(phase: Phase, budget: Budget, settling: bool, event: Event) -> Step:
    cell = TABLE.get((phase, event), Step.INVALID)
    if isinstance(cell, Step):
        return cell
    if settling and "settling" in cell:
        return cell["settling"]
    return cell[budget]


PAIRS = list(itertools.product(Phase, Budget, [False, True], Event))


@pytest.mark.parametrize(("phase", "budget", "settling", "event"), PAIRS)
def test_every_state_and_event(phase: Phase, budget: Budget, settling: bool, event: Event) -> None:
    """`decide` gives the table's step for every phase, budget, settle flag and event."""
    assert decide(phase, budget, settling, event) is expected(phase, budget, settling, event)


def test_the_table_covers_every_pair_once() -> None:
    """4 phases x 3 budgets x 2 settle flags x 10 events, and each possible pair is in the
    table: a new phase or event without a row would show up here first."""
    assert len(PAIRS) == 4 * 3 * 2 * 10
    possible = {(p, e) for p, _, _, e in PAIRS if decide(p, U, False, e) is not Step.INVALID}
    assert possible == set(TABLE)


def test_no_step_sends_twice_without_looking_first() -> None:
    """The exactly-once rule in the table: after a lost answer the next step is a look-up, and
    only "absent" (after the settle window, when it applies) leads to sending again."""
    for budget, settling in itertools.product(Budget, [False, True]):
        assert decide(Phase.SENDING, budget, settling, Event.LOST) is Step.LOOK_UP
        for phase in (Phase.LOOKING, Phase.SETTLED):
            for event in (Event.FOUND, Event.LOOKUP_FAILED):
                assert decide(phase, budget, settling, event) not in (Step.SEND, Step.BACK_OFF)
        if settling:
            assert decide(Phase.LOOKING, budget, settling, Event.ABSENT) is Step.SETTLE


def test_the_docstring_draws_every_step() -> None:
    """The drawn table names every step the function can give."""
    from esper_cmds._fanout import lifecycle

    doc = lifecycle.__doc__ or ""
    for step in Step:
        if step is not Step.INVALID:
            assert step.value in doc, step
