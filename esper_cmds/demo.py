"""The main job, end to end against the simulator: ``esper-cmds demo`` (or ``make demo``).

A simulated fleet of 20,000 devices (a fifth offline, coming back over time) is served on
127.0.0.1 with latency, rate limiting and create faults. One REBOOT is fanned out to every
device with a journal, through the same progress display and watch table as ``esper-cmds send
--watch``, then watched until every device is done or queued. At the end the simulator's own
accounting shows that every device got the command exactly once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import anyio

from .simulator import FaultKind, FaultPlan, RealClock, Simulator

__all__ = ["main"]

_FAULTS = {
    FaultKind.ERROR_BEFORE_STORE: "answers 500 without storing the request",
    FaultKind.ERROR_AFTER_STORE: "stores the request, then answers 500",
    FaultKind.DROP_AFTER_STORE: "stores the request, then drops the connection",
    FaultKind.THROTTLE: "answers 429 with Retry-After",
}
_FAULT_RATE = 0.05


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="esper-cmds demo", description=__doc__)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--offline", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0, help="watch deadline, seconds")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace, base_url: str, sim: Simulator, journal: Path) -> int:
    from . import EsperClient
    from ._cli._output import Output
    from ._cli._send import SendSpec, offline_plan
    from ._cli._sending import run_send
    from ._cli._session import SESSION
    from ._cli._watching import WatchOptions

    out = Output("table")
    spec = SendSpec(
        command="REBOOT",
        devices=sim.device_ids,
        device_type="all",
        concurrency=args.concurrency,
    )
    async with EsperClient(
        base_url=base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        on_event=SESSION.on_event,
    ) as client:
        planned, _ = await offline_plan(spec, str(client.enterprise_id))
        out.console.print(
            f"esper-cmds send reboot --devices-file fleet.txt --watch --queued-is-done "
            f"({len(sim.device_ids):,} devices)",
            highlight=False,
        )
        code = await run_send(
            client,
            out,
            spec,
            journal,
            planned,
            allow_complete=False,
            watch=True,
            watch_options=WatchOptions(timeout=args.timeout, interval=0.5, queued_is_done=True),
        )
    counts = sim.stats.commands
    once = sum(1 for d in sim.device_ids if counts[d, "REBOOT"] == 1)
    twice = sum(1 for d in sim.device_ids if counts[d, "REBOOT"] > 1)
    stats = sim.stats
    out.console.print(
        f"simulator accounting: {once:,}/{len(sim.device_ids):,} devices got exactly one REBOOT, "
        f"{twice} got more; {stats.throttled} 429s and {sum(stats.faults.values())} faults served",
        highlight=False,
    )
    return 0 if code == 0 and once == len(sim.device_ids) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 0 when every device got exactly one command and finished."""
    args = _parse_args(argv)
    try:
        import rich  # noqa: F401 - the demo shows the command line's displays
    except ModuleNotFoundError:
        print("esper-cmds demo: needs the extra: pip install 'esper-cmds[cli]'", file=sys.stderr)
        return 2
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
            probabilities=dict.fromkeys(_FAULTS, _FAULT_RATE), endpoints={"create"}, seed=7
        ),
    )
    with tempfile.TemporaryDirectory() as tmp, sim.serve_in_thread() as base_url:
        print(
            f"simulator on {base_url}: {args.devices:,} devices ({args.offline:.0%} offline, "
            f"coming back over time), {args.groups} groups, 20 ms latency, 2% of commands fail "
            "on the device.\nOn purpose, each create call has these faults, "
            f"{_FAULT_RATE:.0%} each:"
        )
        for kind, what in _FAULTS.items():
            print(f"  {kind.value:<20} {what}")
        print(
            "The warnings below are the client recovering from them: lost answers are looked up "
            "before anything is re-sent, so no device gets the command twice.\n"
        )
        sys.stdout.flush()
        from ._cli._session import SESSION

        try:
            return anyio.run(_run, args, base_url, sim, Path(tmp) / "reboot.journal")
        finally:
            SESSION.close()


if __name__ == "__main__":
    raise SystemExit(main())
