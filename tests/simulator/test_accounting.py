"""Accounting, the rate limit, the admin endpoints and the loopback server."""

from __future__ import annotations

from collections import Counter

import anyio
import anyio.lowlevel
import httpx
import pytest

from esper_cmds.simulator import ManualClock, RealClock, Simulator

from ._support import body, commands_path, create, online_ids, status_path


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each test on asyncio and on trio."""
    return str(request.param)


@pytest.mark.anyio
async def test_every_device_got_exactly_one_reboot(sim: Simulator) -> None:
    """stats.commands counts per-device commands: one REBOOT each after a fleet-wide create."""
    async with sim.client() as client:
        await create(client, sim, command_type="GROUP", groups=sim.group_ids)
        await create(client, sim, devices=sim.device_ids[:2], command="LOCK")
    stats = sim.stats
    expected = Counter({(d, "REBOOT"): 1 for d in sim.device_ids})
    expected.update({(d, "LOCK"): 1 for d in sim.device_ids[:2]})
    assert stats.commands == expected
    assert stats.requests_created == 2


@pytest.mark.anyio
async def test_calls_are_counted_per_endpoint_and_reset(sim: Simulator) -> None:
    """Each endpoint's calls are counted (including rejected ones); reset_stats zeroes them."""
    async with sim.client() as client:
        req = await create(client, sim, devices=sim.device_ids[:1])
        await client.get(commands_path(sim))
        await client.get(status_path(sim, req["id"]))
        await client.get(
            f"/v0/enterprise/{sim.enterprise_id}/device/{sim.device_ids[0]}/command-history/"
        )
        await client.get(f"/enterprise/{sim.enterprise_id}/device/")
        await client.get(f"/enterprise/{sim.enterprise_id}/devicegroup/")
        await client.get(commands_path(sim), headers={"Authorization": "Bearer nope"})
    snapshot = sim.stats
    assert snapshot.calls == {
        "create": 1, "list": 2, "statuses": 1, "history": 1, "devices": 1, "groups": 1
    }  # fmt: skip
    sim.reset_stats()
    assert sim.stats.calls == Counter()
    assert sim.stats.commands == Counter()
    assert snapshot.calls["list"] == 2  # a snapshot does not change afterwards


@pytest.mark.anyio
async def test_rate_limit_answers_429_with_integer_retry_after() -> None:
    """Past the bucket, calls get 429 + Retry-After (whole seconds) and are counted as throttled."""
    sim = Simulator(devices=5, groups=1, rate_limit=(3, 60.0))
    async with sim.client() as client:
        codes = [(await client.get(commands_path(sim))).status_code for _ in range(3)]
        throttled = await client.get(commands_path(sim))
        assert isinstance(sim.clock, ManualClock)
        sim.clock.advance(3600)  # a ManualClock does not refill: the bucket runs on real time
        still = await client.get(commands_path(sim))
    assert codes == [200, 200, 200]
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "20"
    assert throttled.json()["status"] == 429
    assert still.status_code == 429
    assert sim.stats.throttled == 2


@pytest.mark.anyio
async def test_rate_limit_refills_on_a_sped_up_real_clock() -> None:
    """With RealClock(speed=1000) the bucket refills on simulated time (60 s = 60 ms)."""
    sim = Simulator(devices=5, groups=1, clock=RealClock(speed=1000), rate_limit=(1, 60.0))
    async with sim.client() as client:
        first = await client.get(commands_path(sim))
        second = await client.get(commands_path(sim))
        await anyio.sleep(0.15)
        third = await client.get(commands_path(sim))
    assert [first.status_code, second.status_code, third.status_code] == [200, 429, 200]
    assert int(second.headers["retry-after"]) >= 1


@pytest.mark.parametrize("prefix", ["", "/api"])
@pytest.mark.anyio
async def test_admin_endpoints_over_http(sim: Simulator, prefix: str) -> None:
    """Admin endpoints (no auth) read stats, advance the clock, set faults, flip devices, cancel."""
    device = online_ids(sim)[0]
    with sim.serve_in_thread() as base_url:
        root = base_url.removesuffix("/api") + prefix + "/__sim__"
        async with httpx.AsyncClient(base_url=base_url, headers=sim.headers, timeout=10) as client:
            req = await create(client, sim, devices=[device])
            stats = (await client.get(f"{root}/stats")).json()
            assert stats["requests_created"] == 1
            assert stats["commands"] == [{"device": device, "command": "REBOOT", "count": 1}]
            assert stats["calls"] == {"create": 1}

            advanced = await client.post(f"{root}/clock/advance", json={"seconds": 3})
            assert advanced.json()["now"] == "2026-01-01T00:00:03Z"
            rows = (await client.get(status_path(sim, req["id"]))).json()["results"]
            assert rows[0]["state"] == "Command Success"

            await client.post(f"{root}/faults", json={"script": [{"kind": "html_502"}]})
            assert (await client.get(commands_path(sim))).status_code == 502

            offline = await client.post(f"{root}/devices/{device}/online", json={"online": False})
            assert offline.status_code == 200
            assert not sim.is_online(device)
            queued = await create(client, sim, devices=[device])
            assert (await client.post(f"{root}/requests/{queued['id']}/cancel")).status_code == 200
            rows = (await client.get(status_path(sim, queued["id"]))).json()["results"]
            assert rows[0]["state"] == "Command Cancelled"

            assert (await client.post(f"{root}/reset-stats")).status_code == 200
            assert (await client.get(f"{root}/stats")).json()["requests_created"] == 0
            bad = await client.post(f"{root}/clock/advance", json={"seconds": -1})
            assert bad.status_code == 400
            bad_plan = await client.post(f"{root}/faults", json={"script": [{"kind": "boom"}]})
            assert bad_plan.status_code == 400


@pytest.mark.anyio
async def test_admin_clock_advance_refuses_a_real_clock() -> None:
    """Advancing a RealClock over HTTP is a 409."""
    sim = Simulator(devices=2, groups=1, clock=RealClock())
    async with httpx.AsyncClient(transport=sim.transport, base_url="http://esper.test") as client:
        response = await client.post("/__sim__/clock/advance", json={"seconds": 1})
    assert response.status_code == 409


def test_serve_in_thread_from_sync_code(sim: Simulator) -> None:
    """serve_in_thread works from plain sync code and stops when the block exits."""
    with sim.serve_in_thread() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/api")
        response = httpx.get(
            f"{base_url}/enterprise/{sim.enterprise_id}/devicegroup/", headers=sim.headers
        )
        assert response.status_code == 200
        assert response.json()["count"] == 4
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/enterprise/{sim.enterprise_id}/devicegroup/", timeout=2)


@pytest.mark.anyio
async def test_latency_setting_delays_every_call() -> None:
    """latency= sleeps real time per call (for benchmarks); the answer is unchanged."""
    sim = Simulator(devices=2, groups=1, latency=0.1)
    async with sim.client() as client:
        started = anyio.current_time()
        response = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:1]))
        assert anyio.current_time() - started >= 0.09
    assert response.status_code == 201


@pytest.mark.anyio
async def test_latency_counts_from_arrival_with_the_work_inside_it() -> None:
    """A call takes effect when it arrives and is answered `latency` after that.

    The simulator's own work is inside the latency, as a real server's is, so concurrent calls
    are not answered later for queueing on the simulator's one CPU.
    """
    latency = 0.4
    sim = Simulator(devices=2000, groups=0, latency=latency)
    payloads = [body(devices=sim.device_ids[i * 1000 : (i + 1) * 1000]) for i in range(2)]
    answered: list[float] = []
    async with sim.client() as client:

        async def post(payload: dict[str, object]) -> None:
            response = await client.post(commands_path(sim), json=payload)
            assert response.status_code == 201
            answered.append(anyio.current_time() - started)

        started = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for payload in payloads:
                tg.start_soon(post, payload)
            with anyio.fail_after(latency / 2):  # both stored well before the latency is up
                while sim.stats.requests_created < 2:
                    await anyio.lowlevel.checkpoint()  # let the app run
            stored_after = anyio.current_time() - started
            assert answered == []  # and neither answered yet
    assert stored_after < latency / 2
    assert all(latency - 0.01 <= t < 2 * latency for t in answered), answered
