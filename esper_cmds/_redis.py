"""`RedisBackend`: one rate budget for every process and host on an API key, kept in Redis.

The budget is a GCRA (generic cell rate algorithm, a token bucket kept as one timestamp) run by a
Lua script on Redis' own clock (``TIME``), so every host agrees on time and a turn is taken
atomically; it costs one key per API key whatever the traffic. A 429 seen by any process sets a
pause key with an expiry that every process's next turn honours.

Needs the optional extra ``esper-cmds[redis]`` (coredis, which runs on anyio: asyncio and trio).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio
import attrs

from ._budget import SharedBudget, Turn
from ._errors import EsperError, SharedBudgetError, ValidationError
from ._validation import in_range

if TYPE_CHECKING:
    import coredis

__all__ = ["REDIS_URL_ENV", "RedisBackend", "check_key_prefix", "connect"]

REDIS_URL_ENV = "ESPER_REDIS_URL"
"""The environment variable that shares every client's rate limit through Redis (a URL)."""

# KEYS: the budget's timestamp (TAT, µs), the pause key. ARGV: µs per call, burst, cost.
# Returns {µs to wait, 1 if the wait is a pause}. Redis' TIME is the one clock of all hosts.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return {pause * 1000, 1} end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allowed_at = new_tat - interval * burst
if allowed_at > now then return {allowed_at - now, 0} end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.floor((new_tat - now) / 1000) + 1000)
return {0, 0}
"""

# KEYS: the pause key. ARGV: ms. Sets the pause unless a longer one is already running.
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 0
"""


def _safe_url(url: object) -> str:
    """`url` with any password replaced, fit for a repr, a log or an error."""
    text = str(url)
    try:
        parts = urlsplit(text)
        if parts.password is None:
            return text
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:" if parts.username else ":"
        return urlunsplit(parts._replace(netloc=f"{user}***@{netloc}"))
    except ValueError:
        return "<unparsable URL>"


def _check_url(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValidationError(
            attribute.name, "must be a redis://, rediss:// or unix:// URL", _safe_url(value)
        )


def check_key_prefix(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An attrs validator: a Redis key prefix is printable text, not empty, without spaces."""
    if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
        raise ValidationError(
            attribute.name, "must be a non-empty string of printable characters, no spaces", value
        )


@attrs.frozen
class RedisBackend:
    """A rate budget shared through Redis by every client on the same API key.

    ::

        limit = RateLimit(4000, 300, backend=RedisBackend("redis://cache:6379/0"))
        async with EsperClient(rate_limit=limit) as client:
            ...

    Setting ``ESPER_REDIS_URL`` does the same for every client whose rate limit has no backend,
    so N web workers share one budget without a code change. The client must be used as
    ``async with`` (the connection is opened and closed there).

    Args:
        url: The Redis URL (``redis://``, ``rediss://`` or ``unix://``); it may carry a password,
            which no repr shows.
        prefix: The prefix of the keys (one budget and one pause key per API key, named by a
            hash of the key).
        timeout: Seconds each Redis call may take (connect included) before the store counts as
            away.
        when_unavailable: ``"raise"`` (the default): a call that cannot reach Redis raises
            `SharedBudgetError` before anything is sent; ``"local"``: it is paced by this process's
            own bucket at the configured rate until Redis answers again (N processes may then
            spend N budgets; a 429 still pauses and slows each of them).

    .. versionadded:: 0.1
    """

    url: str = attrs.field(validator=_check_url, repr=lambda url: repr(_safe_url(url)))
    prefix: str = attrs.field(default="esper-cmds", validator=check_key_prefix)
    timeout: float = attrs.field(default=2.0, validator=in_range(0, above=True))
    when_unavailable: Literal["raise", "local"] = attrs.field(default="raise")

    @when_unavailable.validator
    def _check_when(self, attribute: attrs.Attribute[str], value: object) -> None:
        if value not in ("raise", "local"):
            raise ValidationError(attribute.name, "must be 'raise' or 'local'", value)

    @property
    def fallback_local(self) -> bool:
        """Whether a client paces itself alone while Redis is away."""
        return self.when_unavailable == "local"

    @asynccontextmanager
    async def open(self, bucket: str) -> AsyncIterator[SharedBudget]:
        """Connect to the budget named `bucket` for as long as the context lasts."""
        # The gate decides what an unreachable store means.
        client = connect(self.url, self.timeout, SharedBudgetError, "RedisBackend")
        import coredis.exceptions

        try:
            async with client:
                yield _RedisBudget(client, self, bucket)
        except coredis.exceptions.RedisError as exc:
            raise SharedBudgetError(f"Redis at {_safe_url(self.url)}: {exc}") from None


class _RedisBudget:
    """Strictly private: one open budget (see `SharedBudget`)."""

    def __init__(self, client: coredis.Redis[bytes], backend: RedisBackend, bucket: str) -> None:
        self._client = client
        self._backend = backend
        base = f"{backend.prefix}:{{{bucket}}}"  # a hash tag: both keys on one cluster slot
        self._budget_key = f"{base}:budget"
        self._pause_key = f"{base}:pause"
        self._take = client.register_script(_TAKE)
        self._pause = client.register_script(_PAUSE)

    async def take(self, *, rate: float, burst: int, cost: int = 1) -> Turn:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= burst:
            # A cost above the burst would never fit the bucket: the caller would wait forever.
            raise ValidationError(
                "cost", f"must be a whole number from 1 to the burst ({burst})", cost
            )
        interval = max(1, round(1_000_000 / rate)) if math.isfinite(rate) else 0
        answer = await self._call(
            self._take, (self._budget_key, self._pause_key), (interval, burst, cost)
        )
        wait_us, paused = answer
        return Turn(wait=int(wait_us) / 1_000_000, paused=bool(int(paused)))

    async def pause(self, seconds: float) -> None:
        await self._call(self._pause, (self._pause_key,), (max(1, math.ceil(seconds * 1000)),))

    async def _call(self, script: Any, keys: Sequence[str], args: Sequence[int]) -> Any:
        import coredis.exceptions

        where = _safe_url(self._backend.url)
        try:
            with anyio.fail_after(self._backend.timeout):
                return await script(keys=list(keys), args=list(args))
        except TimeoutError:
            raise SharedBudgetError(
                f"Redis at {where} did not answer within {self._backend.timeout:g} s"
            ) from None
        except (coredis.exceptions.RedisError, OSError) as exc:
            raise SharedBudgetError(f"Redis at {where}: {type(exc).__name__}: {exc}") from None


def connect(url: str, timeout: float, error: type[EsperError], user: str) -> coredis.Redis[bytes]:
    """A coredis client for `url` that tries each call once: what an unreachable Redis means is
    for the caller (`user`, named in the error raised when the extra is missing) to decide."""
    try:
        import coredis
        import coredis.retry
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise error(f"{user} needs the redis extra: pip install 'esper-cmds[redis]'") from exc
    return coredis.Redis.from_url(
        url,
        connect_timeout=timeout,
        stream_timeout=timeout,
        retry_policy=coredis.retry.NoRetryPolicy(),
    )
