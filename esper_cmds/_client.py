"""`EsperClient`: configuration, the HTTP connection pool, and the resources."""

from __future__ import annotations

import copy
import os
import random as _random
import re
import types
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import anyio
import attrs
import httpx

from ._errors import ClientClosedError, ValidationError
from ._fanout import fan_out, fan_out_iter
from ._ratelimit import ClientStatistics, Clock, EventHook, RateLimit, Sleep, SystemClock
from ._redis import REDIS_URL_ENV, RedisBackend
from ._resources import Commands, Devices, Groups
from ._retry import RetryPolicy
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, HTTPClient, Transport
from ._validation import parse_uuid
from ._version import package_version
from ._watch import wait, watch

__all__ = ["DEFAULT_LIMITS", "DEFAULT_RATE_LIMIT", "DEFAULT_TIMEOUT", "EsperClient"]

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=30.0, pool=60.0)
"""Finite everywhere: a hung server never hangs the caller. The pool wait is rarely reached
because the client's own concurrency limit queues callers before they ask the pool."""

DEFAULT_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=50)

DEFAULT_RATE_LIMIT = RateLimit()
"""4000 calls per 5 minutes, evenly spaced, halved after each 429 episode."""

_UNBOUNDED_POOL_CONCURRENCY = 100

_USER_AGENT = f"esper-cmds/{package_version()}"

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Delegate(Generic[_P, _R]):
    """Strictly private: makes a helper ``f(client, ...)`` callable as ``client.f(...)``.

    The bulk helpers live in their own packages and take the client as their first argument; this
    binds them without restating their long signatures, which would drift.
    """

    def __init__(self, func: Callable[Concatenate[EsperClient, _P], _R]) -> None:
        self._func = func
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, obj: None, owner: type[EsperClient]) -> _Delegate[_P, _R]: ...
    @overload
    def __get__(self, obj: EsperClient, owner: type[EsperClient]) -> Callable[_P, _R]: ...
    def __get__(
        self, obj: EsperClient | None, owner: type[EsperClient]
    ) -> _Delegate[_P, _R] | Callable[_P, _R]:
        if obj is None:
            return self
        # A bound method, not a partial: help() and inspect.signature show the helper's own
        # signature (without the client) and docstring.
        bound: Callable[_P, _R] = types.MethodType(self._func, obj)
        return bound


class EsperClient:
    """An async client for one Esper enterprise's Commands V2 API.

    Use it as an async context manager so its connections are closed::

        async with EsperClient(tenant="acme", api_key=KEY, enterprise_id=EID) as client:
            request = await client.commands.create(command="REBOOT", devices=[device_id])
            async for status in client.commands.statuses(request.id):
                print(status.device, status.state)

    Every argument may come from the environment instead: ``ESPER_API_KEY``, ``ESPER_TENANT`` or
    ``ESPER_BASE_URL``, and ``ESPER_ENTERPRISE_ID``. The API key never appears in a repr, a log
    line or an exception.

    Args:
        api_key: The API key (sent as ``Authorization: Bearer <key>``).
        tenant: Builds ``https://{tenant}-api.esper.cloud/api``.
        base_url: The API root instead of `tenant`, e.g. a simulator's URL.
        enterprise_id: The enterprise UUID.
        timeout: Seconds or an `httpx.Timeout`; the default is finite in every phase.
        limits: The connection pool's size.
        transport: Any `httpx.AsyncBaseTransport` (the simulator's in-process one, a respx mock).
        env: The environment to read (defaults to ``os.environ``), for tests.
        retry: The `RetryPolicy` of every call (what is retried, backoff, attempts, budget).
        rate_limit: The client-wide token bucket, or None when the limit is unknown: nothing is
            paced until the first 429, then the client learns the server's rate from its 429s
            (AIMD). With ``backend=RedisBackend(...)``, or ``ESPER_REDIS_URL`` set in the
            environment, one budget is shared by every process on the API key; otherwise the
            budget is per client.
        max_concurrency: Requests in flight at once; the rest queue inside the client. Defaults
            to the pool's ``max_connections``, so callers never wait in the pool.
        on_event: A callback receiving every `RetryEvent`, `GiveUpEvent`, `PauseEvent`,
            `RateChangeEvent` and `RateWaitEvent`, for metrics.
        clock: The time source (tests inject a fake one).
        sleep: The async sleep used for backoff and pacing (tests inject one that only
            advances their fake clock).
        random: The source of jitter, a callable returning a float in [0, 1) (tests inject a
            fixed one).
        max_response_bytes: The largest response body read (decompressed), 64 MiB by default;
            a larger one is not read past the limit and fails as `MalformedResponseError` (for
            a create, `AmbiguousCreateError`).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        tenant: str | None = None,
        base_url: str | httpx.URL | None = None,
        enterprise_id: uuid.UUID | str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        transport: httpx.AsyncBaseTransport | None = None,
        env: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        max_concurrency: int | None = None,
        on_event: EventHook | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        random: Callable[[], float] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        _check_options(
            timeout=timeout,
            limits=limits,
            transport=transport,
            env=env,
            retry=retry,
            rate_limit=rate_limit,
            on_event=on_event,
            clock=clock,
            sleep=sleep,
            random=random,
        )
        environ = os.environ if env is None else env
        redis_url = environ.get(REDIS_URL_ENV)
        if redis_url and isinstance(rate_limit, RateLimit) and rate_limit.backend is None:
            # N web workers share one budget by setting one variable, no code change.
            rate_limit = attrs.evolve(rate_limit, backend=RedisBackend(redis_url))
        # Held in a wrapper whose repr hides it, and the plain value dropped: a traceback
        # printed with its frames' locals (pytest --showlocals, rich, Sentry) must not show it.
        key = _Secret(api_key if api_key is not None else environ.get("ESPER_API_KEY"))
        del api_key
        _check_api_key(key)
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise ValidationError(
                "max_response_bytes", "must be a positive integer", max_response_bytes
            )
        eid = enterprise_id if enterprise_id is not None else environ.get("ESPER_ENTERPRISE_ID")
        if eid is None:
            raise ValidationError(
                "enterprise_id", "is required (argument or ESPER_ENTERPRISE_ID)", None
            )
        self.enterprise_id: uuid.UUID = parse_uuid(eid, "enterprise_id")
        self.base_url: httpx.URL = _resolve_base_url(tenant, base_url, environ)
        self._http = HTTPClient(
            timeout=timeout,
            limits=limits,
            transport=transport,
            # Only what the transport decompresses itself, in bounded steps.
            headers={
                "User-Agent": _USER_AGENT,
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",
            },
            follow_redirects=False,
        )
        # The one testing seam: every wait, timestamp and jitter of the client and of the
        # fan-out and watch it runs comes from these three.
        self.clock: Clock = SystemClock() if clock is None else clock
        """The time source of the client and of its fan-outs and watches."""
        self.sleep: Sleep = anyio.sleep if sleep is None else sleep
        """The async sleep used for every backoff, pacing wait and poll interval."""
        self.random: Callable[[], float] = _random.random if random is None else random
        """The source of jitter, uniform in [0, 1)."""
        if max_concurrency is None:
            max_concurrency = limits.max_connections or _UNBOUNDED_POOL_CONCURRENCY
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValidationError("max_concurrency", "must be a positive integer", max_concurrency)
        self._transport = Transport(
            http=self._http,
            base_url=self.base_url,
            api_key=key.value,
            retry=retry,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            clock=self.clock,
            sleep=self.sleep,
            random=self.random,
            on_event=on_event,
            max_response_bytes=max_response_bytes,
        )
        self.commands = Commands(self._transport, self.enterprise_id)
        """Command requests and their statuses."""
        self.devices = Devices(self._transport, self.enterprise_id)
        """The device listing and per-device command history."""
        self.groups = Groups(self._transport, self.enterprise_id)
        """The device-group listing."""

    def __repr__(self) -> str:
        # Safe on a half-built client too (a constructor that raised, seen in a traceback).
        base_url = getattr(self, "base_url", None)
        enterprise_id = getattr(self, "enterprise_id", None)
        return f"EsperClient(base_url='{base_url}', enterprise_id='{enterprise_id}')"

    async def __aenter__(self) -> EsperClient:
        if self._http.is_closed:
            raise ClientClosedError(
                "this client was closed (an earlier `async with` or aclose): create a new client"
                " inside the event loop that runs your calls"
            )
        self._transport.gate.check_loop()
        await self._http.__aenter__()
        try:
            await self._transport.gate.open()  # a shared rate limit's connection
        except BaseException:
            await self._http.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        try:
            await self._transport.gate.close()
        finally:
            await self._http.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Close the connection pool (``async with`` does this for you)."""
        try:
            await self._transport.gate.close()
        finally:
            await self._http.aclose()

    def statistics(self) -> ClientStatistics:
        """Where the client's pacing and concurrency stand now: the rate it paces at, the
        requests in flight, and what is left of a 429 pause (for metrics, and tests).

        .. versionadded:: 0.1
        """
        return self._transport.gate.statistics()

    def clear_pause(self) -> None:
        """End the client-wide pause a 429 imposed, so the next call is sent at once.

        A pause lasts what the server's ``Retry-After`` said (at most an hour); call this when you
        know better, e.g. your quota was reset. Pacing by the rate limit goes on as before.
        """
        self._transport.gate.clear_pause()

    def with_options(self, *, retry: RetryPolicy) -> EsperClient:
        """This client with another retry policy, for one call or a block of calls.

        The view shares this client's connections, 429 pause, rate limit and concurrency limit,
        so it counts against the same budget; close the original, not the view::

            await client.with_options(retry=RetryPolicy.never()).commands.create(...)

        Args:
            retry: The policy for every request made through the view.
        """
        if not isinstance(retry, RetryPolicy):
            raise ValidationError("retry", "must be a RetryPolicy", retry)
        view = copy.copy(self)
        view._transport = self._transport.with_retry(retry)
        view.commands = Commands(view._transport, self.enterprise_id)
        view.devices = Devices(view._transport, self.enterprise_id)
        view.groups = Groups(view._transport, self.enterprise_id)
        return view

    fan_out = _Delegate(fan_out)
    fan_out_iter = _Delegate(fan_out_iter)
    watch = _Delegate(watch)
    wait = _Delegate(wait)


_TENANT = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,57}[a-z0-9])?", re.IGNORECASE)
"""A DNS label once ``-api`` is added: ASCII letters, digits and inner dashes, at most 63."""


def _check_options(
    *,
    timeout: object,
    limits: object,
    transport: object,
    env: object,
    retry: object,
    rate_limit: object,
    on_event: object,
    clock: object,
    sleep: object,
    random: object,
) -> None:
    """Refuse options of the wrong kind now, rather than on every call later."""
    if isinstance(timeout, httpx.Timeout):
        pass
    elif isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValidationError(
            "timeout", "must be seconds (more than 0) or an httpx.Timeout", timeout
        )
    elif timeout != timeout or timeout == float("inf"):
        raise ValidationError(
            "timeout", "must be finite: a hung server must not hang the caller", timeout
        )
    checks: list[tuple[str, object, type | tuple[type, ...], str]] = [
        ("limits", limits, httpx.Limits, "an httpx.Limits"),
        (
            "transport",
            transport,
            (httpx.AsyncBaseTransport, type(None)),
            "an httpx.AsyncBaseTransport",
        ),
        ("env", env, (Mapping, type(None)), "a mapping of environment variables"),
        ("retry", retry, (RetryPolicy, type(None)), "a RetryPolicy"),
        ("rate_limit", rate_limit, (RateLimit, type(None)), "a RateLimit, or None for no pacing"),
    ]
    for field, value, kinds, what in checks:
        if not isinstance(value, kinds):
            raise ValidationError(field, f"must be {what}", value)
    for field, value in (("on_event", on_event), ("sleep", sleep), ("random", random)):
        if value is not None and not callable(value):
            raise ValidationError(field, "must be callable", value)
    if clock is not None and not all(
        callable(getattr(clock, m, None)) for m in ("monotonic", "utcnow")
    ):
        raise ValidationError("clock", "must have monotonic() and utcnow() methods", clock)


class _Secret:
    """Strictly private: the API key, shown as ``<redacted>`` by repr and str."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value: Any = value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


def _check_api_key(secret: _Secret) -> None:
    """Refuse a key that would fail on the wire, or leak from the error that failure raises.

    h11 refuses a header with a newline and quotes it in its error; a non-ASCII key fails to
    encode with a `UnicodeEncodeError` whose repr holds it. The key is never part of the error.
    """
    key = secret.value
    kind = type(key).__name__
    present = bool(key)
    text = isinstance(key, str)
    padded = text and key != key.strip()
    printable = text and all(33 <= ord(c) <= 126 for c in key)
    del key  # decided; this frame's locals may be printed with the error below
    if not present:
        raise ValidationError("api_key", "is required (argument or ESPER_API_KEY)", None)
    if not text:
        raise ValidationError("api_key", f"must be a str, not {kind}", None)
    if padded:
        raise ValidationError(
            "api_key",
            "must not start or end with whitespace (a key read from a file or secret often ends"
            " with a newline: strip it)",
            "<redacted>",
        )
    if not printable:
        raise ValidationError(
            "api_key",
            "must be printable ASCII without spaces or control characters",
            "<redacted>",
        )


def _resolve_base_url(
    tenant: str | None, base_url: str | httpx.URL | None, environ: Mapping[str, str]
) -> httpx.URL:
    if tenant is not None and base_url is not None:
        raise ValidationError("base_url", "give tenant or base_url, not both", str(base_url))
    if tenant is None and base_url is None:
        base_url = environ.get("ESPER_BASE_URL")
        tenant = None if base_url else environ.get("ESPER_TENANT")
    if tenant is not None:
        if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
            raise ValidationError(
                "tenant",
                "must be ASCII letters, digits and inner dashes, at most 59 characters",
                tenant,
            )
        return httpx.URL(f"https://{tenant.lower()}-api.esper.cloud/api")
    if not base_url:
        raise ValidationError(
            "base_url", "is required (tenant, base_url, ESPER_TENANT or ESPER_BASE_URL)", None
        )
    text = str(base_url)
    if not text.isascii():
        # IDNA would turn look-alike letters into some other (punycode) host, and the key with it.
        raise ValidationError(
            "base_url",
            "must be ASCII (write an internationalised host in its xn-- form)",
            text,
        )
    try:
        url = httpx.URL(text)
        host = url.host
    except Exception as exc:  # httpx.InvalidURL, an IDNA error, ...
        raise ValidationError("base_url", f"is not a usable URL ({exc})", text) from None
    if url.userinfo:
        # httpx would send these as Basic auth in place of the key, and repr would show them.
        shown = url.copy_with(username=None, password=None)
        raise ValidationError(
            "base_url",
            "must not contain credentials (user:password@); the API key is sent as a Bearer token",
            str(shown),
        )
    if url.scheme not in ("http", "https") or not host:
        raise ValidationError("base_url", "must be an absolute http(s) URL", text)
    return url.copy_with(path=url.path.rstrip("/") or "/", query=None, fragment=None)
