"""`RetryPolicy`: what is retried, how long to wait, and when to give up.

The policy is a pure, frozen value: a table from (method, failure class) to a `RetryAction`, the
backoff parameters and the limits. It never sleeps, reads a clock or draws random numbers itself;
the transport hands it the time and a random number, so every decision is a plain function call
that tests can check exhaustively.

The default table (``R`` = retried, ``-`` = raised, ``A`` = raised as `AmbiguousCreateError`):

=========================  =====  ======  ========================================================
failure                    reads  create  why (create)
=========================  =====  ======  ========================================================
connect_error              R      R       no connection was made: nothing reached the server
connect_timeout            R      R       same
pool_timeout               R      R       the request never left this process
write_timeout              R      A       part of the body may have arrived (TLS, proxies)
read_timeout               R      A       the server may be storing it right now
dropped                    R      A       the connection broke after the request was sent
local_error                -      -       httpx could not put it on the wire: nothing was sent
status_408                 R      R       the server says it gave up waiting for the request
status_429                 R      R       the rate limiter refused it before it was processed
status_500                 R      A       the handler may have failed after storing
status_502                 R      A       a proxy lost the upstream answer, not the request
status_503                 R      A       no Retry-After: often a proxy in front of a busy backend
status_503_retry_after     R      R       an explicit "come back later": the request was refused
status_504                 R      A       the upstream may still be processing it
other_5xx                  -      A       unusual; never guessed
client_error               -      -       400, 401, 403, 404, 409, ...: a definite refusal
malformed                  -      A       a 2xx whose body could not be read: it *was* stored
=========================  =====  ======  ========================================================

"Reads" are GET, HEAD and OPTIONS; every other method uses the "create" column, because the only
other call this API has is the create and sending it twice sends a command twice.

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
from collections.abc import Mapping
from typing import Literal

import attrs
import httpx

from ._errors import ValidationError
from ._validation import in_range

__all__ = [
    "DEFAULT_CREATE_RULES",
    "DEFAULT_READ_RULES",
    "READ_METHODS",
    "Action",
    "Failure",
    "GiveUpEvent",
    "RetryAction",
    "RetryEvent",
    "RetryFailure",
    "RetryPolicy",
    "Verdict",
    "classify_exception",
    "classify_status",
    "decide",
    "full_jitter",
    "parse_retry_after",
]


class RetryFailure(enum.StrEnum):
    """The failure classes the retry table is keyed by (its rows).

    .. versionadded:: 0.1
    .. versionchanged:: 0.1 Renamed from ``Failure``.
    """

    CONNECT_ERROR = "connect_error"
    CONNECT_TIMEOUT = "connect_timeout"
    POOL_TIMEOUT = "pool_timeout"
    WRITE_TIMEOUT = "write_timeout"
    READ_TIMEOUT = "read_timeout"
    DROPPED = "dropped"
    """Any other transport failure: a protocol error, a read or write error, a reset."""
    LOCAL_ERROR = "local_error"
    """The request could not be put on the wire (httpx or h11 refused it, e.g. a header with a
    newline): nothing reached the server, and sending it again would fail the same way."""
    STATUS_408 = "status_408"
    STATUS_429 = "status_429"
    STATUS_500 = "status_500"
    STATUS_502 = "status_502"
    STATUS_503 = "status_503"
    STATUS_503_RETRY_AFTER = "status_503_retry_after"
    STATUS_504 = "status_504"
    OTHER_5XX = "other_5xx"
    CLIENT_ERROR = "client_error"
    MALFORMED = "malformed"
    """A success status whose body is not the JSON expected."""


class RetryAction(enum.StrEnum):
    """What the transport does with a failure (the retry table's cells).

    .. versionadded:: 0.1
    .. versionchanged:: 0.1 Renamed from ``Action``.
    """

    RETRY = "retry"
    """Wait (backoff or Retry-After) and send again, within the attempt and time limits."""
    RAISE = "raise"
    """Raise the typed error at once."""
    AMBIGUOUS = "ambiguous"
    """Raise `AmbiguousCreateError` carrying the payload: it may have been stored."""


# The old names, for code inside the library; ``esper_cmds.Failure``/``Action`` warn.
Failure = RetryFailure
Action = RetryAction

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing on the server, so a resend is always harmless."""

_R, _X, _A = RetryAction.RETRY, RetryAction.RAISE, RetryAction.AMBIGUOUS

DEFAULT_READ_RULES: Mapping[RetryFailure, RetryAction] = {
    **dict.fromkeys(RetryFailure, _R),
    RetryFailure.LOCAL_ERROR: _X,
    RetryFailure.OTHER_5XX: _X,
    RetryFailure.CLIENT_ERROR: _X,
    RetryFailure.MALFORMED: _X,
}
"""Reads retry every transient failure; a definite refusal or a bad body is raised."""

DEFAULT_CREATE_RULES: Mapping[RetryFailure, RetryAction] = {
    **dict.fromkeys(RetryFailure, _A),
    RetryFailure.CONNECT_ERROR: _R,
    RetryFailure.CONNECT_TIMEOUT: _R,
    RetryFailure.POOL_TIMEOUT: _R,
    RetryFailure.STATUS_408: _R,
    RetryFailure.STATUS_429: _R,
    RetryFailure.STATUS_503_RETRY_AFTER: _R,
    RetryFailure.LOCAL_ERROR: _X,
    RetryFailure.CLIENT_ERROR: _X,
}
"""Creates retry only what provably was not processed; anything else that may have been is
ambiguous, never resent."""


def _merge(
    defaults: Mapping[RetryFailure, RetryAction],
    rules: Mapping[RetryFailure | str, RetryAction | str],
) -> Mapping[RetryFailure, RetryAction]:
    if not isinstance(rules, Mapping):
        raise ValidationError("rules", "must map failure classes to actions", rules)
    merged = dict(defaults)
    for key, value in rules.items():
        try:
            merged[RetryFailure(key)] = RetryAction(value)
        except ValueError:
            failures, actions = ", ".join(RetryFailure), ", ".join(RetryAction)
            raise ValidationError(
                "rules", f"keys must be one of {failures}; values one of {actions}", {key: value}
            ) from None
    return merged


def _read_rules(
    rules: Mapping[RetryFailure | str, RetryAction | str],
) -> Mapping[RetryFailure, RetryAction]:
    return _merge(DEFAULT_READ_RULES, rules)


def _create_rules(
    rules: Mapping[RetryFailure | str, RetryAction | str],
) -> Mapping[RetryFailure, RetryAction]:
    return _merge(DEFAULT_CREATE_RULES, rules)


@attrs.frozen
class RetryPolicy:
    """How the transport retries: a table by method and failure class, backoff and limits.

    Tune a field with `attrs.evolve` or pass only what differs; rule tables given here are merged
    over the defaults, so ``RetryPolicy(create_rules={"status_500": "retry"})`` changes one cell
    (and would resend creates that may have been stored: only do that if duplicates are harmless).

    Args:
        max_attempts: Attempts per call, the first included (3: reads are retried twice).
        base_delay: The first backoff's upper bound, in seconds.
        max_delay: The upper bound of any backoff, in seconds.
        budget: The wall-clock limit of a call, in seconds from its first send: no attempt
            starts after it, and an attempt still running when it passes (a server dripping its
            answer a byte at a time, say) is cut off with `TimeoutError` (for a create,
            `AmbiguousCreateError`). Time spent queueing for the client's own rate limit before
            the first send is not counted.
        max_retry_after: The longest server-requested wait honoured; a longer Retry-After raises
            `RateLimitError` with ``retry_after`` set instead of retrying early.
        read_rules: The table for GET/HEAD/OPTIONS, merged over `DEFAULT_READ_RULES`.
        create_rules: The table for every other method, merged over `DEFAULT_CREATE_RULES`.

    .. versionadded:: 0.1
    """

    max_attempts: int = attrs.field(default=3, validator=in_range(1, integer=True))
    base_delay: float = attrs.field(default=0.5, validator=in_range(0))
    max_delay: float = attrs.field(default=8.0, validator=in_range(0))
    budget: float = attrs.field(default=60.0, validator=in_range(0, above=True))
    max_retry_after: float = attrs.field(default=120.0, validator=in_range(0))
    read_rules: Mapping[RetryFailure, RetryAction] = attrs.field(
        factory=dict, converter=_read_rules
    )
    create_rules: Mapping[RetryFailure, RetryAction] = attrs.field(
        factory=dict, converter=_create_rules
    )

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that sends every request once (ambiguous creates are still reported as such)."""
        return cls(max_attempts=1)

    def action(self, method: str, failure: RetryFailure) -> RetryAction:
        """The table's cell for `method` and `failure`."""
        rules = self.read_rules if method.upper() in READ_METHODS else self.create_rules
        return rules[failure]

    def backoff(self, retry_number: int, random: float) -> float:
        """Full-jitter exponential backoff: ``random * min(max_delay, base_delay * 2**(n-1))``.

        Args:
            retry_number: 1 for the first retry, 2 for the second, ...
            random: A number in ``[0, 1)``; the transport draws it.
        """
        return full_jitter(retry_number, base=self.base_delay, cap=self.max_delay, random=random)

    def throttle_pause(self, attempt: int, retry_after: float | None) -> float:
        """The client-wide pause after a 429 on `attempt`: the server's ``Retry-After``, but
        never shorter than a full backoff window, so ``Retry-After: 0`` cannot start a storm."""
        return max(retry_after or 0.0, self.backoff(attempt, 1.0))


@attrs.frozen
class Verdict:
    """Strictly private: what to do after one failed attempt (`decide`'s answer).

    Attributes:
        cell: The table's cell for the method and failure.
        outcome: ``retry`` (send again after `delay`), ``raise`` (the attempt's typed error) or
            ``ambiguous`` (`AmbiguousCreateError`; never for a read).
        delay: Seconds to wait before the next attempt (0 unless retrying).
    """

    cell: RetryAction
    outcome: Literal["retry", "raise", "ambiguous"]
    delay: float = 0.0


def decide(
    policy: RetryPolicy,
    *,
    method: str,
    failure: RetryFailure,
    retry_after: float | None,
    attempt: int,
    elapsed: float,
    random: float,
) -> Verdict:
    """The verdict on failed attempt number `attempt`: a pure function of its arguments.

    Args:
        policy: The call's policy.
        method: The HTTP method.
        failure: The attempt's failure class.
        retry_after: The server's ``Retry-After`` in seconds, if it sent one.
        attempt: 1 for the first attempt.
        elapsed: Seconds since the first attempt was sent.
        random: A number in ``[0, 1)`` for the backoff's jitter.
    """
    cell = policy.action(method, failure)
    if cell is RetryAction.RETRY:
        # Retry-After is a floor, not a replacement for backoff: 0 means "soon", not "now".
        delay = max(retry_after or 0.0, policy.backoff(attempt, random))
        within_limits = (
            (retry_after is None or retry_after <= policy.max_retry_after)
            and attempt < policy.max_attempts
            and elapsed + delay < policy.budget
        )
        if within_limits:
            return Verdict(cell, "retry", delay)
    if cell is RetryAction.AMBIGUOUS and method.upper() not in READ_METHODS:
        return Verdict(cell, "ambiguous")
    return Verdict(cell, "raise")


def full_jitter(retry_number: int, *, base: float, cap: float, random: float) -> float:
    """``random * min(cap, base * 2**(n-1))``: the one backoff formula of the library.

    Full jitter spreads retries over the whole window, so callers that failed together do not
    come back together.

    Args:
        retry_number: 1 for the first retry, 2 for the second, ...
        base: The first window, in seconds.
        cap: The largest window, in seconds.
        random: A number in ``[0, 1)``.
    """
    exponent = min(max(retry_number - 1, 0), 62)  # 2**63 overflows nothing but means nothing
    return random * min(cap, base * 2.0**exponent)


def classify_exception(exc: httpx.TransportError) -> RetryFailure:
    """The failure class of an httpx transport error."""
    # Order matters: ConnectTimeout and PoolTimeout are TimeoutExceptions too.
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return RetryFailure.LOCAL_ERROR
    if isinstance(exc, httpx.ConnectTimeout):
        return RetryFailure.CONNECT_TIMEOUT
    if isinstance(exc, httpx.PoolTimeout):
        return RetryFailure.POOL_TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return RetryFailure.CONNECT_ERROR
    if isinstance(exc, httpx.WriteTimeout):
        return RetryFailure.WRITE_TIMEOUT
    if isinstance(exc, httpx.TimeoutException):
        return RetryFailure.READ_TIMEOUT
    return RetryFailure.DROPPED


def classify_status(status: int, *, has_retry_after: bool) -> RetryFailure:
    """The failure class of an error status (`status` >= 400)."""
    if status == 503:
        return RetryFailure.STATUS_503_RETRY_AFTER if has_retry_after else RetryFailure.STATUS_503
    by_status = {
        408: RetryFailure.STATUS_408,
        429: RetryFailure.STATUS_429,
        500: RetryFailure.STATUS_500,
        502: RetryFailure.STATUS_502,
        504: RetryFailure.STATUS_504,
    }
    if status in by_status:
        return by_status[status]
    return RetryFailure.OTHER_5XX if status >= 500 else RetryFailure.CLIENT_ERROR


def parse_retry_after(value: str | None, *, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    Returns None when absent or unreadable (the caller then uses its own backoff), and 0 for a
    date in the past. `now` must be timezone-aware.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # inf and nan are floats too; neither is a wait anyone can honour.
        return seconds if 0 <= seconds < float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


@attrs.frozen
class RetryEvent:
    """One request failed and will be sent again after `delay` seconds.

    .. versionadded:: 0.1
    """

    method: str
    """The HTTP method."""
    path: str
    """The URL path (never the query, never a header)."""
    attempt: int
    """The attempt that failed (1 for the first)."""
    failure: RetryFailure
    """Why it failed."""
    delay: float
    """Seconds until the next attempt (for a 429, the client-wide pause)."""


@attrs.frozen
class GiveUpEvent:
    """A request failed for good: the table says raise, or attempts or budget ran out.

    .. versionadded:: 0.1
    """

    method: str
    """The HTTP method."""
    path: str
    """The URL path."""
    attempt: int
    """The attempt that failed last."""
    failure: RetryFailure
    """Why it failed."""
    action: RetryAction
    """The table's cell: ``raise``/``ambiguous``, or ``retry`` when a limit stopped it."""
