"""API calls per polling round of ``watch``, 10 requests × 1000 devices, against naive polling.

Run: ``.venv/bin/python -m benchmarks.bench_watch [--requests 10 --devices 1000]``.

Everything runs in-process on the simulator with a `ManualClock`: the watch's sleep advances
simulated time, so the numbers are exact call counts (the simulator's own per-endpoint counters),
not timings. Naive polling re-reads every status of every request each round: with the API's
default page of 20 that is ``requests × ceil(devices / 20)`` calls a round, and still
``requests × ceil(devices / 1000)`` with the largest page.

Scenarios:

- lockstep: every request starts at once, so every request changes every round;
- staggered: request i's window opens i × 5 s after the first, so few move in any one round;
- queued tail: ``device_type="all"`` with 30 % of devices offline; after the online ones finish
  only queued commands remain (the common long tail);
- idle: every request is scheduled for tomorrow, so nothing changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import statistics
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from esper_cmds import EsperClient
from esper_cmds._watch import watch
from esper_cmds.simulator import ManualClock, Simulator
from esper_cmds.testing import FakeClock


class _RoundMeter(FakeClock):
    """The client's clock on simulated time, recording the server's calls per round."""

    def __init__(self, sim: Simulator, clock: ManualClock, step: float) -> None:
        super().__init__(start=clock.now(), drives=[clock])
        self.sim = sim
        self.step = step
        self.marks: list[int] = []

    def _calls(self) -> int:
        return sum(self.sim.stats.calls.values())

    async def sleep(self, seconds: float) -> None:
        self.marks.append(self._calls())
        # One lifecycle step per round, whatever the back-off asked: every transition is seen.
        self.advance(self.step)
        await anyio.lowlevel.checkpoint()

    def per_round(self) -> list[int]:
        marks = [0, *self.marks, self._calls()]
        return [b - a for a, b in itertools.pairwise(marks)]


Scenario = Callable[[EsperClient, Simulator, ManualClock], Awaitable[list[str]]]


async def _lockstep(client: EsperClient, sim: Simulator, clock: ManualClock) -> list[str]:
    return [
        str((await client.commands.create(command="REBOOT", devices=sim.device_ids)).id)
        for _ in range(_ARGS.requests)
    ]


async def _staggered(client: EsperClient, sim: Simulator, clock: ManualClock) -> list[str]:
    ids = []
    for i in range(_ARGS.requests):
        opens = clock.now() + dt.timedelta(seconds=1 + 5 * i)
        request = await client.commands.create(
            command="REBOOT",
            devices=sim.device_ids,
            schedule="WINDOW",
            schedule_args={"start_datetime": opens, "end_datetime": opens + dt.timedelta(hours=1)},
        )
        ids.append(str(request.id))
    return ids


async def _queued_tail(client: EsperClient, sim: Simulator, clock: ManualClock) -> list[str]:
    return [
        str(
            (
                await client.commands.create(
                    command="REBOOT", devices=sim.device_ids, device_type="all"
                )
            ).id
        )
        for _ in range(_ARGS.requests)
    ]


async def _idle(client: EsperClient, sim: Simulator, clock: ManualClock) -> list[str]:
    opens = clock.now() + dt.timedelta(days=1)
    ids = []
    for _ in range(_ARGS.requests):
        request = await client.commands.create(
            command="REBOOT",
            devices=sim.device_ids,
            schedule="WINDOW",
            schedule_args={"start_datetime": opens, "end_datetime": opens + dt.timedelta(hours=1)},
        )
        ids.append(str(request.id))
    return ids


async def measure(name: str, scenario: Scenario, *, offline: float, seconds: float) -> None:
    """Watch one scenario for `seconds` of simulated time and print its calls per round."""
    clock = ManualClock()
    sim = Simulator(devices=_ARGS.devices, offline=offline, seed=1, clock=clock, step_seconds=1.0)
    meter = _RoundMeter(sim, clock, step=1.0)
    async with EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
        rate_limit=None,  # simulated time: pacing would only add real waiting
        clock=meter,
        sleep=meter.sleep,
    ) as client:
        ids = await scenario(client, sim, clock)
        sim.reset_stats()
        async with watch(client, ids, timeout=seconds) as changes:
            summary = await changes.wait()
    rounds = meter.per_round()
    later = rounds[1:] or [0]
    naive = _ARGS.requests * math.ceil(_ARGS.devices / 20)
    naive_big = _ARGS.requests * math.ceil(_ARGS.devices / 1000)
    print(
        f"{name:<12} rounds={len(rounds):<4} calls={sum(rounds):<5} first={rounds[0]:<3} "
        f"later: mean={statistics.mean(later):5.2f} max={max(later):<3} | naive/round={naive} "
        f"(page 1000: {naive_big}) | naive total={naive * len(rounds):<6} "
        f"saved={1 - sum(rounds) / (naive * len(rounds)):.1%} done={summary.done}"
    )


class _Args(argparse.Namespace):
    requests: int = 10
    devices: int = 1000


_ARGS = _Args()


async def main() -> None:
    """Run every scenario."""
    print(f"watch: {_ARGS.requests} requests x {_ARGS.devices} devices, one step per round")
    await measure("lockstep", _lockstep, offline=0.0, seconds=60)
    await measure("staggered", _staggered, offline=0.0, seconds=120)
    await measure("queued tail", _queued_tail, offline=0.3, seconds=30)
    await measure("idle", _idle, offline=0.0, seconds=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--devices", type=int, default=1000)
    parser.parse_args(namespace=_ARGS)
    anyio.run(main)
