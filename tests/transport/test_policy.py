"""The pure parts of `RetryPolicy`: the table, backoff bounds, Retry-After parsing."""

from __future__ import annotations

import datetime as dt
import email.utils
import random

import attrs
import httpx
import pytest

from esper_cmds._ratelimit import RateLimit
from esper_cmds._retry import (
    DEFAULT_CREATE_RULES,
    RetryAction,
    RetryFailure,
    RetryPolicy,
    classify_exception,
    classify_status,
    parse_retry_after,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_reads_retried_at_least_twice_by_default() -> None:
    """The default policy allows three attempts: a read survives two transient failures."""
    assert RetryPolicy().max_attempts >= 3


def test_partial_rule_tables_merge_over_the_defaults() -> None:
    """Changing one cell keeps every other cell of the default table."""
    policy = RetryPolicy(create_rules={"status_500": "retry"})
    assert policy.action("POST", RetryFailure.STATUS_500) is RetryAction.RETRY
    others = {f: a for f, a in policy.create_rules.items() if f is not RetryFailure.STATUS_500}
    assert others == {
        f: a for f, a in DEFAULT_CREATE_RULES.items() if f is not RetryFailure.STATUS_500
    }


def test_methods_pick_their_column() -> None:
    """GET/HEAD/OPTIONS use the read rules; POST and anything else the create rules."""
    policy = RetryPolicy()
    for method in ("GET", "head", "OPTIONS"):
        assert policy.action(method, RetryFailure.READ_TIMEOUT) is RetryAction.RETRY
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert policy.action(method, RetryFailure.READ_TIMEOUT) is RetryAction.AMBIGUOUS


def test_never_sends_once() -> None:
    """`RetryPolicy.never()` allows exactly one attempt."""
    assert RetryPolicy.never().max_attempts == 1


@pytest.mark.parametrize("retry_number", [1, 2, 3, 4, 5, 6, 10, 80])
def test_full_jitter_bounds(retry_number: int) -> None:
    """Backoff spans the whole ``[0, min(cap, base * 2**(n-1))]`` range and never exceeds it."""
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    ceiling = min(8.0, 0.5 * 2 ** (retry_number - 1))
    rng = random.Random(retry_number)
    delays = [policy.backoff(retry_number, rng.random()) for _ in range(2000)]
    assert all(0.0 <= d <= ceiling for d in delays)
    assert min(delays) < ceiling * 0.05
    assert max(delays) > ceiling * 0.95
    assert policy.backoff(retry_number, 0.0) == 0.0
    assert policy.backoff(retry_number, 1.0) == pytest.approx(ceiling)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("1.5", 1.5), (" 30 ", 30.0)],
)
def test_retry_after_seconds(header: str, seconds: float) -> None:
    """Delta-seconds (integer or decimal) are read as they are."""
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_http_date() -> None:
    """An HTTP date becomes the seconds from now until then; a past date means no wait."""
    later = email.utils.format_datetime(NOW + dt.timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, now=NOW) == 42.0
    earlier = email.utils.format_datetime(NOW - dt.timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(earlier, now=NOW) == 0.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:00 -0000", now=NOW) == 60.0


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "inf", "nan", "Mon, 99 Foo 2026"])
def test_retry_after_unreadable(header: str | None) -> None:
    """Anything else is no Retry-After at all (the caller falls back to its backoff)."""
    assert parse_retry_after(header, now=NOW) is None


def test_classification_of_httpx_errors() -> None:
    """httpx's timeout subclasses are told apart before the generic timeout."""
    assert classify_exception(httpx.ConnectTimeout("t")) is RetryFailure.CONNECT_TIMEOUT
    assert classify_exception(httpx.PoolTimeout("t")) is RetryFailure.POOL_TIMEOUT
    assert classify_exception(httpx.ConnectError("t")) is RetryFailure.CONNECT_ERROR
    assert classify_exception(httpx.WriteTimeout("t")) is RetryFailure.WRITE_TIMEOUT
    assert classify_exception(httpx.ReadTimeout("t")) is RetryFailure.READ_TIMEOUT
    assert classify_exception(httpx.RemoteProtocolError("t")) is RetryFailure.DROPPED
    assert classify_status(503, has_retry_after=True) is RetryFailure.STATUS_503_RETRY_AFTER
    assert classify_status(503, has_retry_after=False) is RetryFailure.STATUS_503
    assert classify_status(422, has_retry_after=False) is RetryFailure.CLIENT_ERROR


def test_policy_and_rate_limit_are_frozen_and_validated() -> None:
    """Both are immutable values; nonsense settings are refused when built."""
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_attempts = 9  # type: ignore[misc]
    assert attrs.evolve(policy, budget=5.0).budget == 5.0
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(calls=10, burst=20)


def test_default_rate_limit_never_exceeds_esper_window() -> None:
    """A full bucket plus one window of refill stays within 4000 calls per 300 s."""
    limit = RateLimit()
    assert limit.burst + limit.rate * limit.per_seconds == pytest.approx(4000)
