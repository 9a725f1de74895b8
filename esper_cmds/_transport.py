"""The one path every request takes: auth, the client-wide gate, retries, error mapping, decoding.

Strictly private. Resources call `Transport.request` with a path (or a link from a page) and the
model to decode into; they never touch httpx or JSON themselves. The retry decisions are the
`RetryPolicy` table's (`_retry.py`); the pause, pacing and concurrency limit are the
`ClientGate`'s (`_ratelimit.py`). Only `Exception`s are caught, so cancellation always propagates
at once, and ``async with`` releases the slot (and httpx the connection) on the way out.
"""

from __future__ import annotations

import copy
import logging
import random as _random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import httpx

from ._converter import NotJSONError, decode
from ._errors import (
    AmbiguousCreateError,
    ConnectionError,
    EsperError,
    MalformedResponseError,
    PaginationError,
    RateLimitError,
    TimeoutError,
    status_error,
)
from ._ratelimit import (
    ClientGate,
    ClientPaused,
    Clock,
    EventHook,
    RateLimit,
    Sleep,
    SystemClock,
    TransportEvent,
)
from ._retry import (
    READ_METHODS,
    Action,
    Failure,
    GiveUpEvent,
    RetryEvent,
    RetryPolicy,
    classify_exception,
    classify_status,
    parse_retry_after,
)

__all__ = ["Transport"]

T = TypeVar("T")

_BODY_EXCERPT = 2000
_DEFAULT_CONCURRENCY = 100  # httpx's default pool size; EsperClient sizes it to its own pool

logger = logging.getLogger("esper_cmds")


class Transport:
    """Strictly private: sends requests for one `EsperClient`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: httpx.URL,
        api_key: str,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | None = None,
        max_concurrency: int = _DEFAULT_CONCURRENCY,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        random: Callable[[], float] | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._auth = f"Bearer {api_key}"
        self._retry = RetryPolicy() if retry is None else retry
        self._clock: Clock = SystemClock() if clock is None else clock
        self._sleep: Sleep = anyio.sleep if sleep is None else sleep
        self._random = _random.random if random is None else random
        self._on_event = on_event
        self._gate = ClientGate(
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            clock=self._clock,
            sleep=self._sleep,
            emit=self.emit,
        )

    def __repr__(self) -> str:
        return f"Transport(base_url='{self._base_url}')"

    def with_retry(self, retry: RetryPolicy) -> Transport:
        """This transport with another default policy, sharing its pool, gate, clock and hook."""
        clone = copy.copy(self)
        clone._retry = retry
        return clone

    @property
    def retry(self) -> RetryPolicy:
        """The policy used when a call does not pass its own."""
        return self._retry

    @property
    def gate(self) -> ClientGate:
        """The client-wide pause, rate limit and concurrency limit."""
        return self._gate

    @property
    def base_url(self) -> httpx.URL:
        """The configured API root, e.g. ``https://acme-api.esper.cloud/api``."""
        return self._base_url

    def url_for(self, path: str) -> httpx.URL:
        """The absolute URL of an API path such as ``/v0/enterprise/{eid}/command/``."""
        return self._base_url.copy_with(path=self._base_url.path.rstrip("/") + path)

    def rebase_link(self, link: str) -> httpx.URL:
        """Move a ``next``/``previous`` link onto the configured base URL.

        DRF builds links from the host it saw (``http://internal-host/...`` behind a proxy), so the
        scheme and host of a link are never trusted: only its path and query are kept, and the path
        must stay under the API's base path, or the Authorization header could go somewhere else.
        """
        try:
            parsed = httpx.URL(link)
        except httpx.InvalidURL as exc:
            raise PaginationError(f"unusable page link {link!r}: {exc}") from None
        root = self._base_url.path.rstrip("/") + "/"
        if not parsed.path.startswith(root) or "/../" in parsed.path + "/":
            msg = f"page link {link!r} leaves the API base path {root!r}; refusing to follow it"
            raise PaginationError(msg)
        return self._base_url.copy_with(path=parsed.path, query=parsed.query or None)

    async def request(
        self,
        method: str,
        url: httpx.URL,
        *,
        cast_to: type[T],
        params: Mapping[str, str] | None = None,
        json: Any = None,
        encoded_json: bytes | None = None,
        retry: RetryPolicy | None = None,
    ) -> T:
        """Send one request under the retry policy and decode its JSON into `cast_to`.

        Args:
            method: The HTTP method; GET/HEAD/OPTIONS use the policy's read rules, others its
                create rules.
            url: The absolute URL (`url_for` or `rebase_link`).
            cast_to: The type to structure the JSON body into.
            params: Query parameters.
            json: The JSON body; it is encoded once, so every attempt sends the same bytes.
            encoded_json: `json` already encoded (sent as is; `json` is then only what an
                `AmbiguousCreateError` reports).
            retry: This call's policy instead of the client's.

        Raises:
            AmbiguousCreateError: A non-read whose outcome is unknown; it was not resent.
            RateLimitError: A 429 (or a client-wide pause) longer than the policy will wait.
            EsperError: The typed error of the last attempt otherwise.
        """
        policy = self._retry if retry is None else retry
        if encoded_json is None:
            request = self._http.build_request(
                method, url, params=params, json=json, headers={"Authorization": self._auth}
            )
        else:
            request = self._http.build_request(
                method,
                url,
                params=params,
                content=encoded_json,
                headers={"Authorization": self._auth, "Content-Type": "application/json"},
            )
        method = request.method
        path = request.url.path
        started_at = self._clock.utcnow()
        first_sent: float | None = None
        attempt = 0
        while True:
            attempt += 1
            sent_at, outcome = await self._attempt(request, policy)
            if first_sent is None:
                first_sent = sent_at
            retry_after: float | None = None
            error: EsperError
            if isinstance(outcome, httpx.TransportError):
                failure = classify_exception(outcome)
                error = self._transport_error(request, outcome)
            elif outcome.status_code < 400:
                try:
                    return self._decode(outcome, cast_to)
                except MalformedResponseError as exc:
                    failure, error = Failure.MALFORMED, exc
            else:
                if outcome.status_code in (429, 503):
                    retry_after = parse_retry_after(
                        outcome.headers.get("Retry-After"), now=self._clock.utcnow()
                    )
                failure = classify_status(
                    outcome.status_code, has_retry_after=retry_after is not None
                )
                error = self._error_for(outcome, retry_after)
            if failure is Failure.STATUS_429:
                # Heard once for the whole client, whatever this call's own table says.
                pause = policy.backoff(attempt, 1.0) if retry_after is None else retry_after
                self._gate.throttled(sent_at=sent_at, wait=pause, retry_after=retry_after)
            action = policy.action(method, failure)
            if action is Action.RETRY:
                if retry_after is not None:
                    delay = retry_after
                else:
                    delay = policy.backoff(attempt, self._random())
                within_limits = (
                    (retry_after is None or retry_after <= policy.max_retry_after)
                    and attempt < policy.max_attempts
                    and self._clock.monotonic() - first_sent + delay <= policy.budget
                )
                if within_limits:
                    logger.info(
                        "retrying %s %s after %s (attempt %d of %d) in %.2f s",
                        method, path, failure.value, attempt, policy.max_attempts, delay,
                    )  # fmt: skip
                    self.emit(
                        RetryEvent(
                            method=method, path=path, attempt=attempt, failure=failure, delay=delay
                        )
                    )
                    if failure is not Failure.STATUS_429:  # the gate already holds a 429 back
                        await self._sleep(delay)
                    continue
            self.emit(
                GiveUpEvent(
                    method=method, path=path, attempt=attempt, failure=failure, action=action
                )
            )
            if action is Action.AMBIGUOUS and method not in READ_METHODS:
                logger.warning(
                    "%s %s may or may not have been stored (%s); not resent",
                    method, path, failure.value,
                )  # fmt: skip
                raise AmbiguousCreateError(
                    payload=json,
                    started_at=started_at,
                    finished_at=self._clock.utcnow(),
                    cause=error,
                ) from error
            logger.debug("giving up on %s %s after %s", method, path, failure.value)
            raise error

    async def _attempt(
        self, request: httpx.Request, policy: RetryPolicy
    ) -> tuple[float, httpx.Response | httpx.TransportError]:
        """Send once inside a concurrency slot, after the client-wide gate; never raises httpx's
        errors (it returns them) so the caller classifies every outcome in one place."""
        async with self._gate.slot():
            try:
                await self._gate.wait_turn(max_pause=policy.max_retry_after)
            except ClientPaused as paused:
                raise RateLimitError(
                    f"not sent: the client is paused by an earlier 429 for {paused.seconds:.1f} s,"
                    f" longer than the retry policy waits ({policy.max_retry_after:g} s)",
                    method=request.method,
                    url=str(request.url),
                    status_code=429,
                    retry_after=paused.seconds,
                ) from None
            sent_at = self._clock.monotonic()
            try:
                # send() reads the whole body and returns the connection to the pool before the
                # slot is released, so in-flight requests never outnumber the slots.
                return sent_at, await self._http.send(request)
            except httpx.TransportError as exc:
                return sent_at, exc

    def _transport_error(self, request: httpx.Request, exc: httpx.TransportError) -> EsperError:
        method, path, url = request.method, request.url.path, str(request.url)
        error: EsperError
        if isinstance(exc, httpx.TimeoutException):
            error = TimeoutError(f"{type(exc).__name__} on {method} {path}", method=method, url=url)
        else:
            error = ConnectionError(
                f"{type(exc).__name__} on {method} {path}: {exc}", method=method, url=url
            )
        error.__cause__ = exc  # raised later, outside the except block that caught it
        return error

    def emit(self, event: TransportEvent) -> None:
        """Hand `event` to the client's ``on_event`` hook, if any (its errors are logged)."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken metrics hook must not break the request it describes
            logger.exception("the on_event hook raised; ignoring it")

    def _error_for(self, response: httpx.Response, retry_after: float | None) -> EsperError:
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text[:_BODY_EXCERPT]
        return status_error(response, body, retry_after=retry_after)

    def _decode(self, response: httpx.Response, cast_to: type[T]) -> T:
        try:
            return decode(response.content, cast_to)
        except NotJSONError as exc:
            raise self._malformed(response, f"body is not JSON ({exc})") from None
        except Exception as exc:  # cattrs raises many types for a wrong shape
            name = getattr(cast_to, "__name__", str(cast_to))
            raise self._malformed(
                response, f"body does not fit {name} ({type(exc).__name__}: {exc})"
            ) from exc

    def _malformed(self, response: httpx.Response, why: str) -> MalformedResponseError:
        request = response.request
        return MalformedResponseError(
            f"malformed response to {request.method} {request.url.path}: {why}",
            method=request.method,
            url=str(request.url),
            status_code=response.status_code,
            body=response.text[:_BODY_EXCERPT],
        )
