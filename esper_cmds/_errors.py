"""Every exception the library raises, in one tree::

    EsperError
    ├── ValidationError            bad input, refused before anything is sent (also a ValueError)
    ├── ClientClosedError          the client was used after it was closed (also a RuntimeError)
    ├── PaginationError            a link cycle, or a link that leaves the API
    ├── SharedBudgetError          the shared rate limit (Redis) cannot be reached; not sent
    ├── TransportError             no usable HTTP response
    │   ├── APIConnectionError     could not connect, or the connection broke
    │   └── APITimeoutError        connect, read, write or pool timeout
    ├── MalformedResponseError     a response that is not the JSON it should be
    ├── AmbiguousCreateError       a create that may or may not have been stored
    ├── APIStatusError             an error status from Esper
    │   ├── BadRequestError        400
    │   ├── AuthenticationError    401
    │   ├── PermissionDeniedError  403
    │   ├── NotFoundError          404
    │   ├── ConflictError          409
    │   ├── RateLimitError         429 (or the client paused by one), with ``retry_after``
    │   └── ServerError            5xx
    ├── FanOutError                a fan-out had failed chunks (``raise_for_failures``)
    ├── JournalError               a fan-out journal cannot be used; the run stopped
    │   └── JournalMismatchError   the journal is another fan-out's (also a ValueError)
    └── WatchTimeoutError          ``wait`` ran out of time with devices pending

Each error raised about a request (the transport, malformed, ambiguous and status errors) carries
``method`` and ``url``; status errors also carry Esper's ``message`` and ``errors``. The API key
is never part of any of them. Every class here is importable as ``esper_cmds.<Name>``, which is
also its ``__module__``.

`APIConnectionError` and `APITimeoutError` were called ``ConnectionError`` and ``TimeoutError``
until 0.1: those names shadowed the built-ins (whose ``OSError`` base an ``except OSError``
around file I/O would have caught too), so they were renamed rather than made subclasses of
the built-ins; the old names still work from ``esper_cmds`` with a `DeprecationWarning`.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousCreateError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "EsperError",
    "FanOutError",
    "JournalError",
    "JournalMismatchError",
    "MalformedResponseError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "SharedBudgetError",
    "TransportError",
    "ValidationError",
    "WatchTimeoutError",
    "redact",
    "status_error",
]


_MESSAGE_EXCERPT = 500
"""Characters of a server's message kept in an exception's text (the whole body is on ``body``)."""


class EsperError(Exception):
    """Root of every error this library raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors take keyword arguments, which pickle's default (cls(*args)) cannot replay:
        # rebuild from the arguments and the attributes instead, so an error raised in a
        # worker process reaches its parent as itself.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: builtins.type[EsperError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ValidationError(EsperError, ValueError):
    """Input refused before any request was sent.

    Attributes:
        field: The argument at fault, e.g. ``"command_args.brightness_value"`` or ``"devices[3]"``.
        rule: What the value must satisfy, in words.
        value: The offending value.
    """

    def __init__(self, field: str, rule: str, value: object = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        super().__init__(f"{field}: {rule} (got {_shown(value)})")


def _shown(value: object, limit: int = 200) -> str:
    """`value`'s repr, cut to `limit` characters; one that cannot be made (a 5,000-digit int,
    a broken ``__repr__``) is named by its type, so refusing a value never fails itself."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


class ClientClosedError(EsperError, RuntimeError):
    """The client was used after it was closed (after its ``async with`` block, or `aclose`)."""


class PaginationError(EsperError):
    """A listing could not be followed safely: a link cycle, or a link outside the API."""


class SharedBudgetError(EsperError):
    """The shared rate limit (`RateLimit.backend`, e.g. Redis) cannot be reached.

    Raised before the request is sent, so it never leaves a create half-done: retry the call
    when the store is back, or configure the backend to fall back to pacing each process alone.
    """


class _RequestError(EsperError):
    """Strictly private: the fields every error about one HTTP request has."""

    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class TransportError(_RequestError):
    """No usable response arrived."""


class APIConnectionError(TransportError):
    """The connection could not be made, or broke before a full response.

    .. versionchanged:: 0.1 Renamed from ``ConnectionError``, which shadowed the built-in.
    """


class APITimeoutError(TransportError):
    """A connect, read, write or pool timeout, or the call's time budget ran out.

    .. versionchanged:: 0.1 Renamed from ``TimeoutError``, which shadowed the built-in.
    """


# The old names, for code inside the library that still says them; the public ones warn
# (``esper_cmds.__getattr__``).
ConnectionError = APIConnectionError
TimeoutError = APITimeoutError


class MalformedResponseError(_RequestError):
    """The response was not what the API sends: bad JSON, the wrong shape, an HTML page.

    Attributes:
        status_code: The HTTP status of the response.
        body: Up to 2,000 characters of the body, for diagnosis.
    """

    def __init__(self, message: str, *, method: str, url: str, status_code: int, body: str) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.body = body


class APIStatusError(_RequestError):
    """Esper answered with an error status.

    Attributes:
        status_code: The HTTP status.
        message: Esper's ``message`` (or DRF's ``detail``), if the body had one.
        errors: Esper's ``errors`` list (or DRF's field errors), if any.
        body: The decoded JSON body, or the raw text when it was not JSON.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status_code: int,
        api_message: str | None = None,
        errors: Sequence[Any] = (),
        body: Any = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.message = api_message
        self.errors = list(errors)
        self.body = body


class BadRequestError(APIStatusError):
    """400: Esper refused the request's content."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or invalid."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such enterprise, request or device (or not visible to this key)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the server's state."""


class RateLimitError(APIStatusError):
    """429: too many requests, with a wait longer than the retry policy allows.

    Also raised without sending anything while the client is paused by an earlier 429 for
    longer than the policy's ``max_retry_after``.

    Attributes:
        retry_after: Seconds the server asked us to wait, if it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the server failed."""


class AmbiguousCreateError(_RequestError):
    """A create whose outcome is unknown: it may have been stored, so it was not resent.

    Raised, under the default `RetryPolicy`, for a read or write timeout, a connection dropped
    after sending, a 500/502/504, a 503 without Retry-After, any other 5xx, or a success whose
    body could not be read (that one *was* stored). Reconcile by listing requests for the same
    command and devices created within ``[started_at, finished_at]`` (the fan-out does this).

    Attributes:
        method: The HTTP method (``POST``).
        url: The URL it was sent to.
        payload: The exact JSON body that was sent, decoded.
        started_at: When the first attempt began (UTC).
        finished_at: When the ambiguous attempt ended (UTC).
        cause: The underlying error.
    """

    def __init__(
        self,
        *,
        method: str,
        url: str,
        payload: Mapping[str, Any],
        started_at: dt.datetime,
        finished_at: dt.datetime,
        cause: EsperError,
    ) -> None:
        super().__init__(
            f"create may or may not have been stored ({cause}); not resent automatically",
            method=method,
            url=url,
        )
        self.payload = payload
        self.started_at = started_at
        self.finished_at = finished_at
        self.cause = cause


class FanOutError(EsperError):
    """Raised by `FanOutResult.raise_for_failures` when any chunk failed.

    Attributes:
        result: The whole `FanOutResult`, with the successes.
        failed: The failed chunks (`Failed` outcomes).
    """

    # `result` is a FanOutResult; typed loosely so this module imports nothing of the fan-out
    # (the error tree sits below every other module, with no cycle even for the type checker).
    def __init__(self, result: Any) -> None:
        self.result = result
        self.failed = result.failed
        first = self.failed[0]
        super().__init__(
            f"{len(self.failed)} of {len(result.outcomes)} chunks failed"
            f" ({result.totals.targets_failed} targets); first: chunk {first.chunk.index}:"
            f" {first.error}"
        )


class JournalError(EsperError):
    """The journal cannot be used: it is in use by another run, unreadable or unwritable.

    The fan-out stops rather than go on blind.
    """


class JournalMismatchError(JournalError, ValueError):
    """The journal was written for other inputs (or is not a fan-out journal): it is refused."""


class WatchTimeoutError(EsperError):
    """The deadline passed before every device was done.

    Attributes:
        summary: Where everything stood at the deadline (a `WatchSummary`), including the
            pending devices.

    .. versionadded:: 0.1
    """

    # `summary` is a WatchSummary, typed loosely for the same reason as FanOutError's result.
    def __init__(self, summary: Any) -> None:
        self.summary = summary
        pending = sum(len(devices) for devices in summary.pending.values())
        super().__init__(
            f"deadline passed with {pending} device(s) of {len(summary.pending)} request(s) "
            "not done"
        )


_BY_STATUS: dict[int, builtins.type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

REDACTED = "[redacted]"


def redact(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` replaced by ``[redacted]``.

    Used on every text a server or httpx supplied before it becomes part of an exception or a
    log line (a proxy that echoes the Authorization header must not put the key in a log); a
    body is scrubbed as text, before it is parsed, so nothing nested escapes it.
    """
    if not secret or secret not in text:
        return text
    return text.replace(secret, REDACTED)


def status_error(
    request: httpx.Request, status: int, body: Any, *, retry_after: float | None = None
) -> APIStatusError:
    """Build the typed error for an error response whose body is already decoded (or text)."""
    api_message: str | None = None
    errors: list[Any] = []
    if isinstance(body, Mapping):
        raw_message = body.get("message", body.get("detail"))
        api_message = None if raw_message is None else str(raw_message)[:_MESSAGE_EXCERPT]
        raw_errors = body.get("errors")
        if isinstance(raw_errors, list):
            errors = raw_errors
        elif "message" not in body and "detail" not in body:
            errors = [body]  # DRF field errors: {"field": ["msg"]}
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIStatusError)
    text = f"{status} from {request.method} {request.url.path}"
    if api_message:
        text += f": {api_message}"
    kwargs: dict[str, Any] = {
        "method": request.method,
        "url": str(request.url),
        "status_code": status,
        "api_message": api_message,
        "errors": errors,
        "body": body,
    }
    if cls is RateLimitError:
        return RateLimitError(text, retry_after=retry_after, **kwargs)
    return cls(text, **kwargs)


# One way in: every exception says it is ``esper_cmds.X`` (in reprs, tracebacks and pickles),
# wherever it is defined, so the modules behind the underscore can move.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, builtins.type) and issubclass(_obj, BaseException):
        _obj.__module__ = "esper_cmds"
