"""Cost per call: a turn of cost N spends what N calls do, in the local bucket and in Redis."""

from __future__ import annotations

import uuid

import pytest

from esper_cmds import RateLimit, RedisBackend, ValidationError
from esper_cmds._ratelimit import ClientGate
from esper_cmds.testing import FakeClock

from ._redis_server import RedisServer


def _gate(limit: RateLimit | None, fake: FakeClock) -> ClientGate:
    return ClientGate(
        rate_limit=limit,
        max_concurrency=1,
        clock=fake,
        sleep=fake.sleep,
        emit=lambda event: None,
    )


@pytest.mark.anyio
async def test_a_dear_call_spends_the_local_bucket_by_its_cost() -> None:
    """Burst 5 at 6 calls/s: a call of cost 5 empties the bucket, so a call of cost 3 then
    waits for 3 tokens (0.5 s), where a call of cost 1 would wait a sixth of that."""
    fake = FakeClock()
    gate = _gate(RateLimit(11, 1.0, burst=5), fake)  # (11 - 5) / 1 s = 6 calls/s
    await gate.wait_turn(max_pause=60, cost=5)
    assert fake.monotonic() == 0
    await gate.wait_turn(max_pause=60, cost=3)
    assert fake.monotonic() == pytest.approx(0.5, abs=0.02)
    await gate.wait_turn(max_pause=60)
    assert fake.monotonic() == pytest.approx(0.5 + 1 / 6, abs=0.02)


@pytest.mark.anyio
async def test_a_cost_the_bucket_cannot_hold_is_refused() -> None:
    """A cost above the burst could never go: `ValidationError` naming ``cost``, at once."""
    fake = FakeClock()
    gate = _gate(RateLimit(11, 1.0, burst=5), fake)
    for bad in (0, 6, 1.5, True):
        with pytest.raises(ValidationError, match="cost"):
            await gate.wait_turn(max_pause=60, cost=bad)  # type: ignore[arg-type]
    assert fake.monotonic() == 0


@pytest.mark.anyio
async def test_cost_without_a_limit_is_not_paced() -> None:
    """With no configured limit nothing is paced, whatever the cost."""
    fake = FakeClock()
    gate = _gate(None, fake)
    await gate.wait_turn(max_pause=60, cost=50)
    assert fake.monotonic() == 0


@pytest.mark.anyio
async def test_redis_counts_a_turn_by_its_cost(redis: RedisServer) -> None:
    """In Redis (GCRA on its clock), burst 5 at 10 calls/s: a turn of cost 5 goes at once and
    the next turn waits a full interval; a turn of cost 6 is refused before Redis is asked."""
    backend = RedisBackend(redis.url)
    async with backend.open(f"cost-{uuid.uuid4().hex}") as budget:
        first = await budget.take(rate=10, burst=5, cost=5)
        assert first.wait == 0
        second = await budget.take(rate=10, burst=5, cost=1)
        assert 0.05 < second.wait <= 0.1
        with pytest.raises(ValidationError, match="cost"):
            await budget.take(rate=10, burst=5, cost=6)
    async with backend.open(f"cost-{uuid.uuid4().hex}") as budget:
        # Five turns of cost 1 spend the same: the sixth waits as long.
        waits = [(await budget.take(rate=10, burst=5)).wait for _ in range(6)]
        assert waits[:5] == [0, 0, 0, 0, 0]
        assert 0.05 < waits[5] <= 0.1
