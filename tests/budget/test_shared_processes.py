"""The shared budget across real processes: a small run of ``benchmarks.bench_shared_budget``.

Two worker processes with ten callers each, for 2 s per phase, against the simulator limiting to
20 calls/s (served on loopback) and a real redis-server. The one-process ``rate_limit=None``
phase is left to the benchmark: `tests/transport/test_adaptive.py` covers it on a virtual clock.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_shared_budget import run

from ._redis_server import RedisServer

RATE = 20.0
SECONDS = 2.0


@pytest.mark.slow
def test_processes_sharing_redis_stay_within_one_budget(redis: RedisServer) -> None:
    """Sharing Redis: the server's whole rate is used, almost no 429s, no errors. Each process
    paced alone at the same rate: twice the budget, so the server throttles."""
    shared, alone = run(
        rate=RATE,
        workers=2,
        callers=10,
        seconds=SECONDS,
        redis_url=redis.url,
        start_margin=2.0,
        unknown=False,
    )
    assert shared.errors == 0
    assert shared.share_429 < 0.01
    assert shared.accepted >= 0.9 * RATE * SECONDS
    assert alone.throttled > shared.throttled  # twice the budget: the server must refuse some
