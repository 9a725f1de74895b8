"""A fan-out whose shared budget (Redis) goes away mid-run: typed failures, no hang, no
duplicate, and the failed chunks go once Redis is back."""

from __future__ import annotations

import time

import pytest

from esper_cmds import ChunkRetry, EsperClient, RateLimit, RedisBackend, SharedBudgetError
from esper_cmds.simulator import Simulator

from ._redis_server import RedisServer

pytestmark = [
    # coredis 6.9: the streams of a connection that never connected are left to the collector.
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject(Send|Receive)Stream:ResourceWarning"),
]


async def _no_wait(seconds: float) -> None:
    pass


@pytest.mark.anyio
async def test_redis_going_away_mid_fan_out(lone_redis: RedisServer) -> None:
    """Redis stops after the 5th chunk: every later chunk fails with `SharedBudgetError`
    (retryable: nothing was sent), no device gets a command twice, and nothing hangs; with a
    Redis back (here a new one), `retry_failed()` sends each remaining chunk once."""
    sim = Simulator(devices=300, groups=0, offline=0.0, seed=31)
    stopped_at: float | None = None

    def on_progress(progress: object) -> None:
        nonlocal stopped_at
        if stopped_at is None and sim.stats.requests_created >= 5:
            lone_redis.stop()
            stopped_at = time.monotonic()

    limit = RateLimit(1000, 1.0, backend=RedisBackend(lone_redis.url, timeout=0.5))
    client = EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        env={},
        transport=sim.transport,
        rate_limit=limit,
        sleep=_no_wait,  # the fan-out's backoff (and any pause) without real-time waits
    )
    async with client:
        result = await client.fan_out(
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=10,
            concurrency=1,
            on_progress=on_progress,
            retry=ChunkRetry(max_attempts=2),
        )
        assert stopped_at is not None
        assert time.monotonic() - stopped_at < 60
        assert len(result.created) >= 5
        assert result.failed
        assert all(isinstance(f.error, SharedBudgetError) for f in result.failed)
        assert all(f.retryable for f in result.failed)
        assert len(result.created) + len(result.failed) == 30
        counts = sim.stats.commands.values()
        assert max(counts) == 1
        assert sum(counts) == 10 * len(result.created)
        back = RedisServer(port=lone_redis.port)  # Redis is back, at the same address
        try:
            retried = await result.retry_failed()
        finally:
            back.stop()
    assert retried.ok
    counts = sim.stats.commands.values()
    assert len(counts) == 300
    assert max(counts) == 1
