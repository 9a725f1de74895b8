"""`RedisBackend` against a real redis-server: one budget and one pause for many clients.

Each test uses its own API key, so its own budget; the clients stand for separate processes
(they share nothing but Redis: each has its own gate, bucket and pause). Redis keeps time with
its own clock, so these tests wait in real time, a second or two at most.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio
import httpx
import pytest

from esper_cmds import (
    EsperClient,
    RateLimit,
    RateLimitError,
    RedisBackend,
    RetryPolicy,
    SharedBudgetError,
    ValidationError,
)
from esper_cmds._budget import bucket_name

from .._support import BASE_URL, ENTERPRISE_ID, REQUEST_ID, error_json, page_json
from ._redis_server import RedisServer

pytestmark = [
    # coredis 6.9: the streams of a connection that never connected are left to the collector.
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject(Send|Receive)Stream:ResourceWarning"),
]


def _key() -> str:
    return f"shared-budget-{uuid.uuid4().hex}"


class _Server:
    """A mock Esper answering 200 (or 429 first, if asked), recording when each call arrived."""

    def __init__(self, *, throttle_first: bool = False, throttle_at: int = 0) -> None:
        self.sent_at: list[float] = []
        self._throttle_at = 1 if throttle_first else throttle_at

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sent_at.append(time.monotonic())
        if len(self.sent_at) == self._throttle_at:
            return httpx.Response(429, json=error_json(429), headers={"Retry-After": "1"})
        return httpx.Response(200, json=page_json())


def _client(server: _Server, key: str, rate_limit: RateLimit | None, **extra: Any) -> EsperClient:
    settings: dict[str, Any] = {
        "base_url": BASE_URL,
        "api_key": key,
        "enterprise_id": ENTERPRISE_ID,
        "env": {},
        "transport": httpx.MockTransport(server.handler),
        "rate_limit": rate_limit,
    }
    settings.update(extra)
    return EsperClient(**settings)


async def _calls(client: EsperClient, callers: int, each: int) -> None:
    async def caller() -> None:
        for _ in range(each):
            await client.commands.statuses(REQUEST_ID).first_page()

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(caller)


@pytest.mark.anyio
async def test_two_clients_spend_one_budget(redis: RedisServer) -> None:
    """Two clients on one key and one Redis, 20 calls/s each configured: together they keep to
    20 calls/s (alone, each would send its 20 calls in about a second)."""
    server, key = _Server(), _key()
    limit = RateLimit(21, 1.0, burst=1, backend=RedisBackend(redis.url))  # 20 calls/s
    first, second = _client(server, key, limit), _client(server, key, limit)
    started = time.monotonic()
    async with first, second, anyio.create_task_group() as tg:
        tg.start_soon(_calls, first, 10, 2)
        tg.start_soon(_calls, second, 10, 2)
    assert len(server.sent_at) == 40
    # 40 calls at 20/s: 39 gaps of 50 ms (a little slack for the real clock).
    assert server.sent_at[-1] - started >= 39 / 20 * 0.9
    busiest = max(
        sum(1 for t in server.sent_at if start <= t < start + 1.0) for start in server.sent_at
    )
    assert busiest <= 22


@pytest.mark.anyio
async def test_a_429_in_one_client_pauses_the_other(redis: RedisServer) -> None:
    """A 429 heard by one client pauses every client on the key for its Retry-After."""
    throttled, quiet, key = _Server(throttle_first=True), _Server(), _key()
    limit = RateLimit(1000, 1.0, backend=RedisBackend(redis.url))
    first, second = _client(throttled, key, limit), _client(quiet, key, limit)
    async with first, second:
        with pytest.raises(RateLimitError):
            await (
                first.with_options(retry=RetryPolicy.never())
                .commands.statuses(REQUEST_ID)
                .first_page()
            )
        await second.commands.statuses(REQUEST_ID).first_page()
    assert quiet.sent_at[0] - throttled.sent_at[0] >= 0.9


@pytest.mark.anyio
async def test_the_api_key_never_reaches_redis(redis: RedisServer) -> None:
    """Redis holds the budget under a hash of the key; the key is in no key name or value."""
    server, key = _Server(throttle_first=True), _key()
    limit = RateLimit(1000, 1.0, backend=RedisBackend(redis.url))
    async with _client(server, key, limit) as client:
        with pytest.raises(RateLimitError):
            await (
                client.with_options(retry=RetryPolicy.never())
                .commands.statuses(REQUEST_ID)
                .first_page()
            )
        client.clear_pause()
    names = redis.command("KEYS", "*")
    assert bucket_name(key).encode() in names
    assert key.encode() not in names
    assert key.encode() not in redis.command("DUMP", f"esper-cmds:{{{bucket_name(key)}}}:budget")


@pytest.mark.anyio
async def test_redis_going_away_is_a_typed_error_and_nothing_is_sent(
    lone_redis: RedisServer,
) -> None:
    """With Redis gone, a call fails fast with `SharedBudgetError` before anything is sent, so
    no create can be half-done or duplicated; no hang."""
    server = _Server()
    limit = RateLimit(1000, 1.0, backend=RedisBackend(lone_redis.url, timeout=1.0))
    async with _client(server, _key(), limit) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
        lone_redis.stop()
        started = time.monotonic()
        with pytest.raises(SharedBudgetError, match=r"Redis at redis://127\.0\.0\.1"):
            await client.commands.create(command="REBOOT", devices=[str(uuid.uuid4())])
        assert time.monotonic() - started < 5.0
    assert len(server.sent_at) == 1


@pytest.mark.anyio
async def test_redis_going_away_can_fall_back_to_local_pacing(lone_redis: RedisServer) -> None:
    """``when_unavailable="local"``: calls go on, paced by the client's own bucket; a 429 heard
    meanwhile still pauses this client (sharing it is skipped, with a warning)."""
    server = _Server(throttle_at=3)
    backend = RedisBackend(lone_redis.url, timeout=1.0, when_unavailable="local")
    limit = RateLimit(11, 1.0, burst=1, backend=backend)  # 10 calls/s
    async with _client(server, _key(), limit) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
        lone_redis.stop()
        for _ in range(3):
            await client.commands.statuses(REQUEST_ID).first_page()
    assert len(server.sent_at) == 5  # the third call was throttled once, then retried
    assert server.sent_at[3] - server.sent_at[2] >= 0.9  # after the pause


@pytest.mark.anyio
async def test_a_redis_that_stops_answering_is_an_error_not_a_hang(
    lone_redis: RedisServer,
) -> None:
    """A Redis that keeps the connection but answers nothing (SIGSTOP): the call fails with
    `SharedBudgetError` after the backend's timeout, nothing sent."""
    server = _Server()
    limit = RateLimit(1000, 1.0, backend=RedisBackend(lone_redis.url, timeout=0.5))
    async with _client(server, _key(), limit) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
        lone_redis.freeze()
        started = time.monotonic()
        try:
            with pytest.raises(SharedBudgetError, match=r"did not answer within 0\.5 s"):
                await client.commands.statuses(REQUEST_ID).first_page()
        finally:
            lone_redis.thaw()
        assert time.monotonic() - started < 3.0
    assert len(server.sent_at) == 1


@pytest.mark.anyio
async def test_a_shared_pause_longer_than_the_policy_waits_is_a_rate_limit_error(
    redis: RedisServer,
) -> None:
    """Another process's pause that outlasts what this call's policy waits: `RateLimitError`
    at once, not sent (as for a pause of the client's own)."""
    throttled, quiet, key = _Server(throttle_first=True), _Server(), _key()
    limit = RateLimit(1000, 1.0, backend=RedisBackend(redis.url))
    impatient = RetryPolicy(max_retry_after=0.2)
    async with _client(throttled, key, limit) as first, _client(quiet, key, limit) as second:
        with pytest.raises(RateLimitError):
            await (
                first.with_options(retry=RetryPolicy.never())
                .commands.statuses(REQUEST_ID)
                .first_page()
            )
        with pytest.raises(RateLimitError, match="paused"):
            await second.with_options(retry=impatient).commands.statuses(REQUEST_ID).first_page()
    assert quiet.sent_at == []


@pytest.mark.anyio
async def test_redis_unreachable_from_the_start(lone_redis: RedisServer) -> None:
    """A Redis that is not there when the client opens: the first call says so, typed."""
    lone_redis.stop()
    server = _Server()
    limit = RateLimit(1000, 1.0, backend=RedisBackend(lone_redis.url, timeout=1.0))
    with pytest.raises(SharedBudgetError):
        async with _client(server, _key(), limit) as client:
            await client.commands.statuses(REQUEST_ID).first_page()
    assert server.sent_at == []


@pytest.mark.anyio
async def test_a_shared_budget_needs_async_with(redis: RedisServer) -> None:
    """The connection is opened by ``async with``: without it, a clear typed error."""
    server = _Server()
    client = _client(server, _key(), RateLimit(1000, 1.0, backend=RedisBackend(redis.url)))
    try:
        with pytest.raises(SharedBudgetError, match="async with"):
            await client.commands.statuses(REQUEST_ID).first_page()
    finally:
        await client.aclose()
    assert server.sent_at == []


@pytest.mark.anyio
async def test_the_environment_variable_shares_every_clients_budget(redis: RedisServer) -> None:
    """``ESPER_REDIS_URL`` gives a client with a rate limit (but no backend) the Redis budget,
    so N web workers share one budget without a code change; ``rate_limit=None`` stays local."""
    server, key = _Server(), _key()
    env = {"ESPER_REDIS_URL": redis.url}
    async with _client(server, key, RateLimit(1000, 1.0), env=env) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
    assert f"{{{bucket_name(key)}}}:budget".encode() in redis.command("KEYS", "*")
    other = _key()
    async with _client(server, other, None, env=env) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
    assert bucket_name(other).encode() not in redis.command("KEYS", "*")


def test_backend_options_are_checked_and_the_password_hidden() -> None:
    """A URL that is not Redis, an unknown fallback, a backend of the wrong kind: each a
    `ValidationError` naming the field; a password in the URL is never in the repr."""
    with pytest.raises(ValidationError, match="url"):
        RedisBackend("http://cache:6379")
    with pytest.raises(ValidationError, match="when_unavailable"):
        RedisBackend("redis://cache:6379", when_unavailable="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="timeout"):
        RedisBackend("redis://cache:6379", timeout=0)
    with pytest.raises(ValidationError, match="backend"):
        RateLimit(backend="redis://cache:6379")  # type: ignore[arg-type]
    backend = RedisBackend("redis://user:s3cret-pw@cache:6379/0")
    assert "s3cret-pw" not in repr(backend)
    assert "s3cret-pw" not in repr(RateLimit(backend=backend))
    assert "cache:6379" in repr(backend)
