"""The one path every request takes: auth, the client-wide gate, retries, error mapping, decoding.

Strictly private. Resources call `Transport.request` with a path (or a link from a page) and the
model to decode into; they never touch httpx or JSON themselves. The retry decisions are the
`RetryPolicy` table's (`_retry.py`); the pause, pacing and concurrency limit are the
`ClientGate`'s (`_ratelimit.py`). Only `Exception`s are caught, so cancellation always propagates
at once, and ``async with`` releases the slot (and httpx the connection) on the way out.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json as jsonlib
import logging
import random as _random
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from http.cookiejar import Cookie, CookieJar
from typing import Any, Generic, TypeVar

import anyio
import attrs
import httpx

from ._budget import bucket_name
from ._converter import NotJSONError, decode
from ._errors import (
    AmbiguousCreateError,
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    EsperError,
    MalformedResponseError,
    PaginationError,
    RateLimitError,
    TransportError,
    ValidationError,
    redact,
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
    GiveUpEvent,
    RetryEvent,
    RetryFailure,
    RetryPolicy,
    Verdict,
    classify_exception,
    classify_status,
    decide,
    parse_retry_after,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Transport"]

T = TypeVar("T")

_BODY_EXCERPT = 2000

_CONTROL = re.compile("[\x00-\x1f\x7f]")
"""A control character: never part of a page link's path we follow."""

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The largest body a response may have: a page of 1000 devices is a few MB."""
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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._http = http
        self._base_url = base_url
        # The text before the ``?`` of the last link rebased, and the rebased URL's without it
        # (None until a link has passed the full check).
        self._last_link: tuple[str, str] | None = None
        # The key as it may appear in text: itself, stripped, and escaped as repr shows it (an
        # h11 error quotes a header value as bytes).
        forms = (api_key, api_key.strip(), repr(api_key)[1:-1], jsonlib.dumps(api_key)[1:-1])
        self._secrets = tuple(sorted({f for f in forms if f}, key=len, reverse=True))
        self._auth = f"Bearer {api_key}"
        self._max_response_bytes = max_response_bytes
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
            bucket=bucket_name(api_key),  # a shared budget is named by a hash, never the key
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
        scheme and host of a link are never trusted: only its path and query are kept, as the
        server encoded them, and the decoded path must stay under the API's base path, with no
        dot segments, backslashes or control characters, or the Authorization header could go
        somewhere else. Anything unusable raises `PaginationError`.

        A listing's links differ only in their query: a link whose text before the ``?`` is the
        last checked one's is not parsed and checked again; its query is appended to the path
        already rebased (one parse instead of two, as httpx would parse a link given as text).
        """
        cacheable = type(link) is str and "#" not in link
        head, mark, query = link.partition("?") if cacheable else ("", "", "")
        last = self._last_link
        if cacheable and mark and last is not None and head == last[0]:
            with contextlib.suppress(Exception):  # whatever httpx refuses: the full path
                return httpx.URL(f"{last[1]}?{query}")
        rebased = self._rebase_link(link)
        if cacheable:
            self._last_link = (head, str(rebased).partition("?")[0])
        return rebased

    def _rebase_link(self, link: str) -> httpx.URL:
        root = self._base_url.path.rstrip("/") + "/"

        def shown() -> str:  # only for an error: scrubbing costs on every page otherwise
            return repr(self.scrub(link if isinstance(link, str) else repr(link))[:200])

        parsed = _parse_link(link)
        if parsed is None:
            raise PaginationError(f"unusable page link {shown()}")
        path, raw_path = parsed
        # Dot segments, also with a ";params" suffix that some servers strip (Tomcat's "..;").
        segments = {segment.split(";", 1)[0] for segment in path.split("/")}
        unsafe = (
            not path.startswith(root)
            or "." in segments
            or ".." in segments
            or "\\" in path
            or _CONTROL.search(path) is not None
        )
        if unsafe:
            raise PaginationError(f"page link {shown()} leaves the API base path {root!r}")
        rebased = _rebase(self._base_url, raw_path)
        if rebased is None:
            raise PaginationError(f"unusable page link {shown()}")
        return rebased

    async def request(
        self,
        method: str,
        url: httpx.URL,
        *,
        cast_to: type[T],
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        retry: RetryPolicy | None = None,
    ) -> T:
        """Send one request under the retry policy and decode its JSON into `cast_to`.

        This is the library's one boundary with httpx, the converter and the OS: whatever goes
        wrong below it leaves as a typed `EsperError` (cancellation always propagates), with the
        API key scrubbed from every text a server or httpx put in it. The loop is here; every
        decision is `_outcome`'s (what an attempt came to) and `decide`'s (what to do next).

        Args:
            method: The HTTP method; GET/HEAD/OPTIONS use the policy's read rules, others its
                create rules.
            url: The absolute URL (`url_for` or `rebase_link`).
            cast_to: The type to structure the JSON body into.
            params: Query parameters.
            body: The JSON body, already encoded by the converter; every attempt sends these
                same bytes.
            retry: This call's policy instead of the client's.

        Raises:
            AmbiguousCreateError: A non-read whose outcome is unknown; it was not resent.
            RateLimitError: A 429 (or a client-wide pause) longer than the policy will wait.
            EsperError: The typed error of the last attempt otherwise.
        """
        policy = self._retry if retry is None else retry
        if self._http.is_closed:
            raise ClientClosedError(
                "the client has been closed: create it (and use it in `async with`) inside the"
                " event loop that runs your calls"
            )
        request = self._build(method, url, params=params, body=body)
        started_at = self._clock.utcnow()
        first_sent: float | None = None
        attempt = 0
        while True:
            attempt += 1
            # The budget is a hard limit from the first send: an attempt that would outlive it
            # (a body dripped a byte at a time resets httpx's read timeout forever) is cut off.
            time_left = (
                None
                if first_sent is None
                else policy.budget - (self._clock.monotonic() - first_sent)
            )
            sent_at, answer = await self._attempt(request, policy, time_left)
            first_sent = sent_at if first_sent is None else first_sent
            outcome = self._outcome(request, answer, cast_to)
            if not isinstance(outcome, _Failed):
                return outcome.value
            if outcome.failure is RetryFailure.STATUS_429:
                # Heard once for the whole client, whatever this call's own table says.
                pause = policy.throttle_pause(attempt, outcome.retry_after)
                await self._gate.throttled(
                    sent_at=sent_at, wait=pause, retry_after=outcome.retry_after
                )
            verdict = decide(
                policy,
                method=request.method,
                failure=outcome.failure,
                retry_after=outcome.retry_after,
                attempt=attempt,
                elapsed=self._clock.monotonic() - first_sent,
                random=self._random(),
            )
            if verdict.outcome != "retry":
                raise self._give_up(request, outcome, verdict, attempt, started_at)
            self._report_retry(request, outcome.failure, attempt, policy, verdict.delay)
            await self._sleep(verdict.delay)

    def _outcome(
        self, request: httpx.Request, answer: _Answer | _Failed, cast_to: type[T]
    ) -> _Decoded[T] | _Failed:
        """What one attempt came to: the decoded body, or its failure class and typed error."""
        if isinstance(answer, _Failed):
            return answer
        if answer.status >= 400:
            return self._judge(request, answer)
        try:
            return _Decoded(self._decode(request, answer, cast_to))
        except MalformedResponseError as exc:
            return _Failed(RetryFailure.MALFORMED, exc)

    def _report_retry(
        self,
        request: httpx.Request,
        failure: RetryFailure,
        attempt: int,
        policy: RetryPolicy,
        delay: float,
    ) -> None:
        method, path = request.method, self.scrub(request.url.path)
        logger.info(
            "retrying %s %s after %s (attempt %d of %d) in %.2f s",
            method, path, failure.value, attempt, policy.max_attempts, delay,
        )  # fmt: skip
        self.emit(
            RetryEvent(method=method, path=path, attempt=attempt, failure=failure, delay=delay)
        )

    def _give_up(
        self,
        request: httpx.Request,
        failed: _Failed,
        verdict: Verdict,
        attempt: int,
        started_at: dt.datetime,
    ) -> EsperError:
        """The error to raise for a call that ends in `failed` (reported as given up)."""
        # A server's link may carry anything, even the key: the path is scrubbed before use.
        method, path, failure = request.method, self.scrub(request.url.path), failed.failure
        self.emit(
            GiveUpEvent(
                method=method, path=path, attempt=attempt, failure=failure, action=verdict.cell
            )
        )
        if verdict.outcome == "ambiguous":
            logger.warning(
                "%s %s may or may not have been stored (%s); not resent",
                method, path, failure.value,
            )  # fmt: skip
            error = AmbiguousCreateError(
                method=method,
                url=self.scrub(str(request.url)),
                payload=_sent_payload(request),
                started_at=started_at,
                finished_at=self._clock.utcnow(),
                cause=self._sanitize(failed.error),
            )
            error.__cause__ = failed.error
            return error
        logger.debug("giving up on %s %s after %s", method, path, failure.value)
        return self._sanitize(failed.error)

    def _build(
        self,
        method: str,
        url: httpx.URL,
        *,
        params: Mapping[str, str] | None,
        body: bytes | None,
    ) -> httpx.Request:
        headers = {"Authorization": self._auth}
        if body is not None:
            headers["Content-Type"] = "application/json"
        why: str | None = None
        try:
            return self._http.build_request(
                method, url, params=params, content=body, headers=headers
            )
        except Exception as exc:  # a query httpx refuses
            why = self.scrub(f"{type(exc).__name__}: {exc}")
        raise ValidationError("request", f"cannot be encoded ({why})", None)

    def _judge(self, request: httpx.Request, answer: _Answer) -> _Failed:
        """The failure class and typed error of an error status."""
        retry_after: float | None = None
        if answer.status in (429, 503):
            retry_after = parse_retry_after(
                answer.headers.get("Retry-After"), now=self._clock.utcnow()
            )
        failure = classify_status(answer.status, has_retry_after=retry_after is not None)
        # Scrubbed as text, before it is parsed or cut: a key that straddles the excerpt's end,
        # or sits 1,000 levels deep, is still found.
        text = self.scrub(answer.body.decode("utf-8", "replace"))
        body: Any
        try:
            body = jsonlib.loads(text)
        except Exception:  # not JSON, or JSON too deep to decode: keep an excerpt of the text
            body = text[:_BODY_EXCERPT]
        return _Failed(
            failure,
            status_error(request, answer.status, body, retry_after=retry_after),
            retry_after,
        )

    async def _attempt(
        self, request: httpx.Request, policy: RetryPolicy, time_left: float | None
    ) -> tuple[float, _Answer | _Failed]:
        """Send once inside a concurrency slot, after the client-wide gate, and read the whole
        body; every failure is returned, classified, not raised.

        `time_left` is what remains of the call's budget (None before the first send, whose wait
        for its turn is not counted): waiting for a slot or a turn, sending and reading must all
        fit in it.
        """
        sent_at: float | None = None
        outcome: _Answer | _Failed | None = None
        # The first attempt has nothing to cut short before it is sent: no scope to enter.
        limit: contextlib.AbstractContextManager[object] = (
            contextlib.nullcontext()
            if time_left is None
            else anyio.move_on_after(max(time_left, 0.0))
        )
        with limit:
            async with self._gate.slot():
                paused = await self._wait_turn(request, policy)
                if paused is not None:
                    raise self._sanitize(paused)
                sent_at = self._clock.monotonic()
                budget_left = policy.budget if time_left is None else time_left
                # The body is read before the slot is released, so in-flight requests never
                # outnumber the slots (and the connection is back in the pool when it is).
                with anyio.move_on_after(max(budget_left, 0.0)):
                    outcome = await self._exchange(request)
                if isinstance(outcome, _Answer):
                    self._gate.observe(outcome.status, outcome.headers)  # rate-limit headers
        if sent_at is not None and outcome is not None:
            return sent_at, outcome
        # Only a timed-out attempt pays for scrubbing its URL into an error.
        method, path, url = request.method, request.url.path, self.scrub(str(request.url))
        if sent_at is None:  # the budget ran out before this attempt could be sent
            error = APITimeoutError(
                f"{method} {path} waited for its turn past the call's budget of"
                f" {policy.budget:g} s; not sent",
                method=method,
                url=url,
            )
            return self._clock.monotonic(), _Failed(RetryFailure.POOL_TIMEOUT, error)
        if outcome is None:
            error = APITimeoutError(
                f"{method} {path} ran past the call's budget of {policy.budget:g} s",
                method=method,
                url=url,
            )
            outcome = _Failed(RetryFailure.READ_TIMEOUT, error)
        return sent_at, outcome

    async def _wait_turn(self, request: httpx.Request, policy: RetryPolicy) -> EsperError | None:
        try:
            await self._gate.wait_turn(max_pause=policy.max_retry_after)
        except ClientPaused as paused:
            seconds = paused.seconds
        else:
            return None
        return RateLimitError(
            f"not sent: the client is paused by an earlier 429 for {seconds:.1f} s,"
            f" longer than the retry policy waits ({policy.max_retry_after:g} s)",
            method=request.method,
            url=self.scrub(str(request.url)),
            status_code=429,
            retry_after=seconds,
        )

    async def _exchange(self, request: httpx.Request) -> _Answer | _Failed:
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            return _Failed(classify_exception(exc), self._transport_error(request, exc))
        except Exception as exc:  # anything else a transport (or an in-process app) raised
            return _Failed(RetryFailure.DROPPED, self._transport_error(request, exc))
        try:
            body = await self._read_body(response)
        except httpx.TransportError as exc:
            return _Failed(classify_exception(exc), self._transport_error(request, exc))
        except Exception as exc:  # a corrupt gzip body, a body past the size limit, ...
            why = self.scrub(f"{type(exc).__name__}: {exc}")
            if response.status_code < 400:
                return _Failed(
                    RetryFailure.MALFORMED,
                    self._malformed(request, response.status_code, b"", f"unreadable body ({why})"),
                )
            return _Answer(response.status_code, response.headers, f"<{why}>".encode())
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        return _Answer(response.status_code, response.headers, body)

    async def _read_body(self, response: httpx.Response) -> bytes:
        limit = self._max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLarge(f"Content-Length {declared} exceeds the limit of {limit} bytes")
        if response.is_stream_consumed:
            # An in-process transport (a mock, respx) handed over a response it read already:
            # its body is in memory, decoded by httpx.
            if len(response.content) > limit:
                raise ResponseTooLarge(f"the body exceeds the limit of {limit} bytes")
            return response.content
        inflate = _Inflater(response.headers.get_list("Content-Encoding", split_commas=True))
        # The raw bytes are decompressed here, in bounded steps, rather than by httpx (which
        # inflates a whole network chunk at once, and stacked encodings multiply): a gzip bomb
        # is stopped at the limit, as early as a plain flood. Stopping early leaves httpx's
        # inner stream generators to the garbage collector, which trio reports as a
        # ResourceWarning; the connection itself is closed by the caller.
        parts: list[bytes] = []
        size = 0
        async for raw in response.aiter_raw():
            for part in inflate.feed(raw, limit - size + 1):
                size += len(part)
                if size > limit:
                    raise ResponseTooLarge(f"the body exceeds the limit of {limit} bytes")
                parts.append(part)
        parts.append(inflate.finish())
        if size + len(parts[-1]) > limit:
            raise ResponseTooLarge(f"the body exceeds the limit of {limit} bytes")
        return b"".join(parts)

    def _transport_error(self, request: httpx.Request, exc: Exception) -> EsperError:
        method, path, url = (
            request.method,
            self.scrub(request.url.path),
            self.scrub(str(request.url)),
        )
        error: EsperError
        if isinstance(exc, httpx.TimeoutException):
            error = APITimeoutError(
                f"{type(exc).__name__} on {method} {path}", method=method, url=url
            )
        elif (
            isinstance(exc, httpx.TransportError)
            and classify_exception(exc) is RetryFailure.LOCAL_ERROR
        ):
            detail = self.scrub(str(exc))
            error = TransportError(
                f"{method} {path} could not be sent ({type(exc).__name__}: {detail})",
                method=method,
                url=url,
            )
        else:
            detail = self.scrub(str(exc))
            error = APIConnectionError(
                f"{type(exc).__name__} on {method} {path}: {detail}", method=method, url=url
            )
        # Raised later, outside the except block that caught it; a cause whose text holds the
        # key (h11 quotes a header it refuses) is left off, or a traceback would print it.
        if not self._leaks(exc):
            error.__cause__ = exc
        return error

    def emit(self, event: TransportEvent) -> None:
        """Hand `event` to the client's ``on_event`` hook, if any (its errors are logged)."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken metrics hook must not break the request it describes
            logger.exception("the on_event hook raised; ignoring it")

    def _decode(self, request: httpx.Request, answer: _Answer, cast_to: type[T]) -> T:
        # Each failure is raised outside the ``except`` that caught it: a JSONDecodeError's
        # ``doc`` is the whole body, and as the new error's __context__ it would keep it (and
        # any key a server echoed into it) alive and printable.
        why: str | None = None
        try:
            return decode(answer.body, cast_to)
        except NotJSONError as exc:
            text = str(exc)
            why = "JSON nested too deeply" if "recursion" in text else f"not JSON ({text})"
        except RecursionError:
            why = "JSON nested too deeply"
        except Exception as exc:  # the readers raise many types for a wrong shape
            name = getattr(cast_to, "__name__", str(cast_to))
            why = f"body does not fit {name} ({type(exc).__name__}: {self.scrub(str(exc))})"
        raise self._malformed(request, answer.status, answer.body, why)

    def _malformed(
        self, request: httpx.Request, status: int, body: bytes, why: str
    ) -> MalformedResponseError:
        return MalformedResponseError(
            f"malformed response to {request.method} {request.url.path}: {why}",
            method=request.method,
            url=self.scrub(str(request.url)),
            status_code=status,
            # Scrubbed whole, then cut: a key across the cut would otherwise keep most of it.
            body=self.scrub(body[: _BODY_EXCERPT * 2].decode("utf-8", "replace"))[:_BODY_EXCERPT],
        )

    def scrub(self, text: str) -> str:
        """`text` with the API key scrubbed out (see `redact`); every text a server or httpx
        supplied goes through this before it becomes part of an exception or a log line."""
        for secret in self._secrets:
            text = redact(text, secret)
        return text

    def _sanitize(self, error: EsperError) -> EsperError:
        """`error` with the key scrubbed from its text and URL (the last pass before raising)."""
        error.args = tuple(self.scrub(a) if isinstance(a, str) else a for a in error.args)
        for name in ("url", "message"):
            value = getattr(error, name, None)
            if isinstance(value, str):
                setattr(error, name, self.scrub(value))
        return error

    def _leaks(self, exc: BaseException) -> bool:
        """Whether the key appears anywhere in `exc`'s text or in its chain's."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            try:
                text = f"{current!s} {current!r} {current.args!r}"
            except Exception:  # a broken __str__: cannot vouch for it
                return True
            if any(secret in text for secret in self._secrets):
                return True
            current = current.__cause__ or current.__context__
        return False


def _parse_link(link: object) -> tuple[str, bytes] | None:
    """A link's decoded path and its raw path (with the query), or None if httpx refuses it."""
    if not isinstance(link, str):
        return None
    try:
        parsed = httpx.URL(link)
        return parsed.path, parsed.raw_path
    except Exception:  # httpx.InvalidURL, an IDNA error in the (ignored) host, ...
        return None


def _rebase(base: httpx.URL, raw_path: bytes) -> httpx.URL | None:
    try:
        return base.copy_with(raw_path=raw_path)
    except Exception:
        return None


class _KeepNothing(CookieJar):
    """A cookie jar nothing can be put in."""

    def set_cookie(self, cookie: Cookie) -> None:
        """Keep nothing."""


class _NoCookies(httpx.Cookies):
    """httpx's cookies over a jar that keeps nothing (see `HTTPClient`)."""

    def __init__(self) -> None:
        super().__init__(_KeepNothing())

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep none of the response's cookies (without httpx adapting it for the jar)."""


class HTTPClient(httpx.AsyncClient):
    """Strictly private: httpx's client without a cookie jar.

    Esper's API authenticates every call by its key and sets no cookies the client needs; a
    cookie a server or proxy sets is neither kept nor sent back. httpx reads every response into
    its jar through ``http.cookiejar`` (two adapter objects, a URL parse and a header scan per
    response), which was ~5 % of the client's CPU for a listing read page by page.
    """

    def __init__(self, **settings: Any) -> None:
        self._no_cookies = _NoCookies()  # its own: nothing one client does reaches another
        super().__init__(**settings)

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty: setting a cookie on it keeps nothing."""
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise ValueError("this client keeps no cookies")


class ResponseTooLarge(Exception):
    """Strictly private: a body past the client's ``max_response_bytes``."""


class _Inflater:
    """Strictly private: one Content-Encoding (gzip or deflate) undone in bounded steps.

    The client asks for ``gzip, deflate`` only; anything else a server sends anyway (another
    coding, or several stacked) is refused as unreadable rather than trusted.
    """

    def __init__(self, encodings: list[str]) -> None:
        codings = [
            e.strip().lower() for e in encodings if e.strip().lower() not in ("", "identity")
        ]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ValueError(f"unsupported Content-Encoding {', '.join(codings)!r}")
        self._coding = codings[0] if codings else None
        self._inflate: Any = None
        self._started = False
        if self._coding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._coding == "deflate":
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        """The decoded bytes of `data`, in pieces of at most `room` bytes each."""
        if self._inflate is None:
            yield data
            return
        if not self._started and self._coding == "deflate":
            # "deflate" is zlib-wrapped by the standard and raw by some servers: try both.
            self._started = True
            try:
                zlib.decompressobj(zlib.MAX_WBITS).decompress(data[:64])
            except zlib.error:
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        while data:
            piece = self._inflate.decompress(data, max(room, 1))
            data = self._inflate.unconsumed_tail
            if piece:
                yield piece

    def finish(self) -> bytes:
        """Whatever the decompressor still holds (nothing, for a well-formed stream)."""
        if self._inflate is None:
            return b""
        return bytes(self._inflate.flush(1024 * 1024))


@attrs.frozen
class _Answer:
    """A response read whole: its status, headers and (decompressed) body."""

    status: int
    headers: httpx.Headers
    body: bytes


@attrs.frozen
class _Decoded(Generic[T]):
    """A success, decoded."""

    value: T


def _sent_payload(request: httpx.Request) -> Any:
    """The JSON body `request` carried, decoded again for `AmbiguousCreateError.payload`."""
    return jsonlib.loads(request.content) if request.content else None


@attrs.frozen
class _Failed:
    """An attempt that failed: its class in the retry table and the typed error to raise."""

    failure: RetryFailure
    error: EsperError
    retry_after: float | None = None
