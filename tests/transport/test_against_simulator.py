"""The transport against the simulator: scale without PoolTimeout, 429 storms, exactly-once creates.

The large cases run over real loopback HTTP (uvicorn in a thread), because only a real pool can
run out of connections; the fault cases run in-process, where time can be faked.
"""

from __future__ import annotations

import anyio
import httpx
import pytest

from esper_cmds import AmbiguousCreateError, EsperClient, RateLimitError
from esper_cmds._ratelimit import RateLimit
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, Simulator

from .._support import FakeClock

VALID_STATES = {
    "Command Queued", "Command Initiated", "Command Acknowledged", "Command In Progress",
    "Command Scheduled", "Command Success", "Command Failure", "Command TimeOut",
    "Command Cancelled",
}  # fmt: skip


def sim_client(sim: Simulator, base_url: str | None = None, **overrides: object) -> EsperClient:
    """A client for `sim`, in-process unless `base_url` (a loopback server) is given."""
    settings: dict[str, object] = {
        "base_url": base_url or sim.base_url,
        "api_key": sim.api_key,
        "enterprise_id": sim.enterprise_id,
        "env": {},
        "rate_limit": None,
    }
    if base_url is None:
        settings["transport"] = sim.transport
    settings.update(overrides)
    return EsperClient(**settings)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.anyio
async def test_2000_concurrent_status_iterations_share_20_connections() -> None:
    """2,000 concurrent ``statuses()`` iterations over loopback with a 20-connection pool whose
    wait is only 1 s all finish: callers queue in the client, never in the pool."""
    sim = Simulator(devices=40, groups=0, offline=0.0, seed=3)
    targets = sim.device_ids[:10]
    pool = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    timeout = httpx.Timeout(10.0, pool=1.0)
    with sim.serve_in_thread() as url:
        async with sim_client(sim, url, limits=pool, timeout=timeout) as client:
            request = await client.commands.create(command="REBOOT", devices=targets)
            seen: list[int] = []

            async def iterate() -> None:
                devices = [s.device async for s in client.commands.statuses(request.id)]
                assert sorted(str(d) for d in devices) == sorted(targets)
                seen.append(len(devices))

            # A liveness bound (nothing hangs in the pool), not a speed goal: generous enough for
            # coverage tracing on a loaded 2-core machine.
            with anyio.fail_after(90):
                async with anyio.create_task_group() as tg:
                    for _ in range(2000):
                        tg.start_soon(iterate)
            assert client.statistics().max_concurrency == 20
    assert seen == [10] * 2000
    assert sim.stats.calls["statuses"] == 2000


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_burst_against_a_low_server_rate_limit_sees_few_429s(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,000 reads against a server allowing 200/s, from a client set to twice that, all return
    the right rows while the server serves 429 to only a small fraction of them."""
    sim = Simulator(devices=100, groups=0, offline=0.0, seed=4, rate_limit=(200, 1.0))
    client_limit = RateLimit(calls=401, per_seconds=1.0, burst=1)  # 400/s: wrong on purpose
    async with sim_client(sim, rate_limit=client_limit) as client:
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids)
        sim.reset_stats()
        wanted = [sim.device_ids[i % 100] for i in range(1000)]
        got: dict[int, tuple[str, str]] = {}

        async def read(i: int) -> None:
            page = await client.commands.statuses(request.id, device=wanted[i]).first_page()
            (status,) = page.results
            got[i] = (str(status.device), str(status.state))

        with anyio.fail_after(25):
            async with anyio.create_task_group() as tg:
                for i in range(1000):
                    tg.start_soon(read, i)
    assert [got[i][0] for i in range(1000)] == wanted
    assert {state for _, state in got.values()} <= VALID_STATES
    stats = sim.stats
    with capsys.disabled():
        print(
            f"\n[burst] 1000 reads: {stats.throttled} 429s served, {stats.calls['statuses']} calls"
        )
    assert stats.calls["statuses"] == 1000 + stats.throttled
    assert stats.throttled <= 50  # at most 5%; a client without the gate sees hundreds


@pytest.mark.parametrize(
    ("kind", "stored"),
    [
        (FaultKind.DROP_AFTER_STORE, 1),
        (FaultKind.ERROR_AFTER_STORE, 1),
        (FaultKind.ERROR_BEFORE_STORE, 0),
        (FaultKind.HTML_503, 0),
        (FaultKind.HTML_502, 0),
        (FaultKind.MALFORMED_JSON, 1),
    ],
)
@pytest.mark.anyio
async def test_ambiguous_creates_are_sent_once(kind: FaultKind, stored: int) -> None:
    """Whatever the server did with it, a create with an unknown outcome is sent exactly once."""
    plan = FaultPlan(script=[Fault(kind)], endpoints={"create"})
    sim = Simulator(devices=5, groups=0, seed=5, faults=plan)
    clock = FakeClock()
    async with sim_client(sim, clock=clock, sleep=clock.sleep) as client:
        with pytest.raises(AmbiguousCreateError) as caught:
            await client.commands.create(command="REBOOT", devices=sim.device_ids)
    assert sim.stats.calls["create"] == 1
    assert sim.stats.requests_created == stored
    assert sorted(caught.value.payload["devices"]) == sorted(sim.device_ids)


@pytest.mark.anyio
async def test_throttled_create_is_retried_and_stored_once() -> None:
    """A create refused with 429 waits the Retry-After (fake time) and is stored exactly once."""
    plan = FaultPlan(script=[Fault(FaultKind.THROTTLE, seconds=4)], endpoints={"create"})
    sim = Simulator(devices=5, groups=0, seed=6, faults=plan)
    clock = FakeClock()
    async with sim_client(sim, clock=clock, sleep=clock.sleep) as client:
        created = await client.commands.create(command="REBOOT", devices=sim.device_ids)
    assert sim.stats.calls["create"] == 2
    assert sim.stats.requests_created == 1
    assert sum(clock.sleeps) == pytest.approx(4.0)
    assert sim.stats.commands  # every commanded device got the command exactly once
    assert set(sim.stats.commands.values()) == {1}
    assert created.command == "REBOOT"


@pytest.mark.anyio
async def test_long_retry_after_raises_for_reads_and_creates() -> None:
    """A Retry-After beyond the cap raises RateLimitError with it, and nothing is resent."""
    plan = FaultPlan(script=[Fault(FaultKind.THROTTLE, seconds=900)], endpoints={"create"})
    sim = Simulator(devices=5, groups=0, seed=7, faults=plan)
    clock = FakeClock()
    async with sim_client(sim, clock=clock, sleep=clock.sleep) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.commands.create(command="REBOOT", devices=sim.device_ids)
        assert caught.value.retry_after == 900.0
        with pytest.raises(RateLimitError, match="paused"):
            await client.commands.list().first_page()
    assert sim.stats.calls["create"] == 1
    assert sim.stats.calls["list"] == 0


@pytest.mark.anyio
async def test_read_timeout_on_create_over_loopback_is_ambiguous() -> None:
    """A create whose answer is slower than the read timeout is stored once and reported
    ambiguous, over real HTTP."""
    plan = FaultPlan(script=[Fault(FaultKind.SLOW, seconds=1.5)], endpoints={"create"})
    sim = Simulator(devices=5, groups=0, seed=8, faults=plan)
    with sim.serve_in_thread() as url:
        timeout = httpx.Timeout(5.0, read=0.3)
        async with sim_client(sim, url, timeout=timeout) as client:
            with pytest.raises(AmbiguousCreateError) as caught:
                await client.commands.create(command="REBOOT", devices=sim.device_ids)
            # The connection that timed out is not reused; the client still works.
            page = await client.commands.list().first_page()
    assert type(caught.value.cause).__name__ == "APITimeoutError"
    assert sim.stats.requests_created == 1
    assert sim.stats.calls["create"] == 1
    assert page.count == 1


@pytest.mark.anyio
async def test_cancelled_call_over_loopback_frees_its_connection() -> None:
    """With one connection and a 1 s pool wait, a call cancelled mid-request does not block the
    next one: its slot and its connection are both released."""
    plan = FaultPlan(script=[Fault(FaultKind.SLOW, seconds=3.0)], endpoints={"list"})
    sim = Simulator(devices=5, groups=0, seed=9, faults=plan)
    pool = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with sim.serve_in_thread() as url:
        async with sim_client(sim, url, limits=pool, timeout=httpx.Timeout(5.0, pool=1.0)) as c:
            with anyio.move_on_after(0.3) as scope:
                await c.commands.list().first_page()
            assert scope.cancelled_caught
            assert c.statistics().in_flight == 0
            with anyio.fail_after(2.5):
                page = await c.commands.list().first_page()
    assert page.count == 0
