"""`decide`, the transport's verdict on one failed attempt, as a pure function (no I/O, no time)."""

from __future__ import annotations

import itertools

import pytest

from esper_cmds import RetryAction, RetryFailure, RetryPolicy
from esper_cmds._retry import Verdict, decide

POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0, budget=60.0)
"""Backoff windows 1, 2, 4 s; three attempts; a minute."""


@pytest.mark.parametrize(
    ("method", "failure", "attempt", "elapsed"),
    list(itertools.product(["GET", "POST"], list(RetryFailure), [1, 3], [0.0, 59.9])),
)
def test_every_cell_under_every_limit(
    method: str, failure: RetryFailure, attempt: int, elapsed: float
) -> None:
    """Every (method, failure) cell, on a first and a last attempt, with and without budget
    left: a retry only inside every limit; past them, a create the table calls ambiguous is
    ambiguous and anything else is raised; a read is never ambiguous."""
    verdict = decide(
        POLICY,
        method=method,
        failure=failure,
        retry_after=None,
        attempt=attempt,
        elapsed=elapsed,
        random=0.5,
    )
    cell = POLICY.action(method, failure)
    assert verdict.cell is cell
    within = attempt < 3 and elapsed + 0.5 * 2 ** (attempt - 1) < 60.0
    if cell is RetryAction.RETRY and within:
        assert verdict == Verdict(cell, "retry", 0.5 * 2 ** (attempt - 1))
    elif cell is RetryAction.AMBIGUOUS and method == "POST":
        assert verdict == Verdict(cell, "ambiguous")
    else:
        assert verdict == Verdict(cell, "raise")


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (None, Verdict(RetryAction.RETRY, "retry", 0.5)),  # the backoff alone
        (0.0, Verdict(RetryAction.RETRY, "retry", 0.5)),  # 0 means "soon", not "now"
        (5.0, Verdict(RetryAction.RETRY, "retry", 5.0)),  # a floor under the backoff
        (121.0, Verdict(RetryAction.RETRY, "raise")),  # past max_retry_after: not waited for
        (61.0, Verdict(RetryAction.RETRY, "raise")),  # past the budget
    ],
)
def test_retry_after_is_a_floor_within_the_limits(
    retry_after: float | None, expected: Verdict
) -> None:
    """``Retry-After`` sets the least wait, and a wait past the cap or the budget is a raise."""
    verdict = decide(
        POLICY,
        method="GET",
        failure=RetryFailure.STATUS_429,
        retry_after=retry_after,
        attempt=1,
        elapsed=0.0,
        random=0.5,
    )
    assert verdict == expected


def test_throttle_pause_is_never_shorter_than_a_backoff_window() -> None:
    """The client-wide 429 pause is the server's figure, but at least a full backoff window."""
    assert POLICY.throttle_pause(1, None) == 1.0
    assert POLICY.throttle_pause(3, 0.0) == 4.0
    assert POLICY.throttle_pause(1, 30.0) == 30.0
