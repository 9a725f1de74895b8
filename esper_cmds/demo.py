"""The main job, end to end against the simulator: ``python -m esper_cmds.demo``.

A simulated fleet of 20,000 devices (a fifth offline, coming back over time) is served on
127.0.0.1 with latency, rate limiting and create faults (answers lost after the request was
stored, dropped connections, 500s, 429s). One REBOOT is fanned out to every device with a journal,
then watched until every device is done or queued. At the end the simulator's own accounting
shows that every device got the command exactly once.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import anyio

from ._client import EsperClient
from ._fanout import FanOutProgress
from .models import CommandState, DeviceType
from .simulator import FaultKind, FaultPlan, RealClock, Simulator


def _states(totals: Mapping[CommandState | str, int]) -> str:
    return ", ".join(f"{str(state).removeprefix('Command ')} {n:,}" for state, n in totals.items())


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m esper_cmds.demo", description=__doc__)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--offline", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0, help="watch deadline, seconds")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace, base_url: str, sim: Simulator, journal: Path) -> int:
    started = time.perf_counter()
    async with EsperClient(
        base_url=base_url, api_key=sim.api_key, enterprise_id=sim.enterprise_id
    ) as client:
        print(f"fan-out: REBOOT to {len(sim.device_ids):,} devices, journal {journal}")

        def progress(p: FanOutProgress) -> None:
            print(f"  chunk {p.done:>3}/{p.total}  {type(p.outcome).__name__}")

        result = await client.fan_out(
            command="REBOOT",
            devices=sim.device_ids,
            device_type=DeviceType.ALL,
            concurrency=args.concurrency,
            journal=journal,
            on_progress=progress,
        )
        totals = result.totals
        print(
            f"fan-out done in {time.perf_counter() - started:.1f}s: {totals.created} created, "
            f"{totals.reconciled} reconciled after a lost answer, {totals.failed} failed"
        )
        result.raise_for_failures()

        print(f"watching {len(result.request_ids)} requests (queued offline devices count as done)")
        seen = 0
        last_print = time.perf_counter()
        async with client.watch(
            result.request_ids, timeout=args.timeout, interval=0.5, queued_is_done=True
        ) as changes:
            async for _change in changes:
                seen += 1
                if time.perf_counter() - last_print > 1.0:
                    last_print = time.perf_counter()
                    now = changes.summary.totals()
                    print(f"  {seen:,} changes so far; now " + _states(now))
        summary = changes.summary
        print(
            f"watch {'finished' if summary.done else 'hit its deadline'} after {summary.rounds} "
            f"rounds and {summary.calls} API calls"
        )
        for state, count in sorted(summary.totals().items()):
            print(f"  {state:<22} {count:>7,}")

    counts = sim.stats.commands
    once = sum(1 for d in sim.device_ids if counts[d, "REBOOT"] == 1)
    twice = sum(1 for d in sim.device_ids if counts[d, "REBOOT"] > 1)
    stats = sim.stats
    print(
        f"simulator accounting: {once:,}/{len(sim.device_ids):,} devices got exactly one REBOOT, "
        f"{twice} got more; {stats.throttled} 429s and {sum(stats.faults.values())} faults served"
    )
    return 0 if once == len(sim.device_ids) and summary.done else 1


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 0 when every device got exactly one command and finished."""
    args = _parse_args(argv)
    # Show the client's own account of retries, pauses and lost answers as they happen.
    logging.basicConfig(level=logging.WARNING, format="  [esper_cmds] %(message)s")
    sim = Simulator(
        devices=args.devices,
        groups=args.groups,
        offline=args.offline,
        seed=7,
        clock=RealClock(speed=20.0),
        step_seconds=4.0,
        failure_rate=0.02,
        churn_seconds=600.0,
        latency=0.02,
        latency_jitter=0.01,
        faults=FaultPlan(
            probabilities={
                FaultKind.ERROR_BEFORE_STORE: 0.05,
                FaultKind.ERROR_AFTER_STORE: 0.05,
                FaultKind.DROP_AFTER_STORE: 0.05,
                FaultKind.THROTTLE: 0.05,
            },
            endpoints={"create"},
            seed=7,
        ),
    )
    with tempfile.TemporaryDirectory() as tmp, sim.serve_in_thread() as base_url:
        print(f"simulator on {base_url}: {args.devices:,} devices, {args.groups} groups")
        return anyio.run(_run, args, base_url, sim, Path(tmp) / "reboot.journal")


if __name__ == "__main__":
    raise SystemExit(main())
