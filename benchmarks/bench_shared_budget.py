"""One rate budget for several processes: N worker processes against a rate-limited simulator.

Run with ``python -m benchmarks.bench_shared_budget [--rate 30] [--workers 4] [--callers 50]
[--seconds 30]``. The simulator (in a thread of this process) allows ``--rate`` calls/s per API
key with a burst of one second's worth, answering 429 + Retry-After past it. Four phases, one
after another, each ``--seconds`` long, with the same load (each worker: ``--callers`` concurrent
callers reading a page of groups in a loop):

- **shared**: ``--workers`` processes, each ``RateLimit`` set to the server's rate, sharing one
  budget through a real redis-server (``RedisBackend``);
- **per process**: the same processes, each paced at the server's rate alone (no Redis): N
  times the budget, so the server throttles (each process then adapts to the 429s it hears);
- **per process, fixed**: the same with ``adaptive=False``, the behaviour before adaptive pacing
  (each process keeps to its rate, only the 429 pauses slow it);
- **unknown**: one process with ``rate_limit=None`` (adaptive pacing from the 429s).

For each: accepted calls as a share of what the server allows (``rate × seconds``), the share
of responses that were 429, and `RateLimitError`s that reached callers. Nothing is gated on the
figures; the tests run a small version (``tests/budget/test_shared_processes.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time

import anyio
import attrs

from esper_cmds import EsperClient, RateLimit, RateLimitError, RedisBackend
from esper_cmds.simulator import Simulator

_BURST_SHARE = 10  # a worker's burst: a tenth of a second's worth of the rate


@attrs.frozen
class Phase:
    """What the server saw during one phase."""

    name: str
    seconds: float
    rate: float
    accepted: int
    throttled: int
    errors: int

    @property
    def share_of_allowed(self) -> float:
        """Accepted calls over what the server allows in the phase (its burst not counted)."""
        return self.accepted / (self.rate * self.seconds)

    @property
    def share_429(self) -> float:
        """429s over all responses."""
        return self.throttled / max(self.accepted + self.throttled, 1)

    def line(self) -> str:
        """The phase's figures as one printed line."""
        return (
            f"{self.name:<28} {self.share_of_allowed:7.1%} of allowed   "
            f"{self.share_429:6.1%} 429s   {self.errors:4d} RateLimitError"
        )


def _limit(rate: float, redis_url: str | None, *, adaptive: bool = True) -> RateLimit:
    burst = max(1, round(rate / _BURST_SHARE))
    backend = RedisBackend(redis_url) if redis_url else None
    return RateLimit(round(rate) + burst, 1.0, burst=burst, adaptive=adaptive, backend=backend)


async def _worker(args: argparse.Namespace) -> None:
    """One worker process: `--callers` readers until `--seconds` after `--start` (wall clock)."""
    rate_limit = (
        None
        if args.mode == "unknown"
        else _limit(args.rate, args.redis, adaptive=args.mode != "fixed")
    )
    client = EsperClient(
        base_url=args.url,
        api_key=args.key,
        enterprise_id=args.enterprise,
        env={},
        rate_limit=rate_limit,
    )
    errors = 0

    async def caller() -> None:
        nonlocal errors
        while True:
            try:
                await client.groups.list(page_size=1).first_page()
            except RateLimitError:
                errors += 1

    async with client:
        await anyio.sleep(max(0.0, args.start - time.time()))
        with anyio.move_on_after(args.seconds):
            async with anyio.create_task_group() as tg:
                for _ in range(args.callers):
                    tg.start_soon(caller)
    print(json.dumps({"errors": errors}), flush=True)


def run_phase(
    sim: Simulator,
    url: str,
    *,
    name: str,
    mode: str,
    workers: int,
    callers: int,
    seconds: float,
    rate: float,
    redis_url: str | None = None,
    start_margin: float = 3.0,
) -> Phase:
    """Start `workers` processes in `mode` ("budget", "fixed" or "unknown"), wait, and count.

    The load starts `start_margin` seconds after the processes (time to import and connect).
    """
    time.sleep(1.5)  # the server's bucket refills between phases
    start = time.time() + start_margin
    command = [sys.executable, "-m", "benchmarks.bench_shared_budget", "--worker"]
    command += ["--mode", mode, "--url", url, "--key", sim.api_key]
    command += ["--enterprise", sim.enterprise_id, "--rate", str(rate)]
    command += ["--callers", str(callers), "--seconds", str(seconds), "--start", str(start)]
    if redis_url:
        command += ["--redis", redis_url]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(workers)
    ]
    time.sleep(max(0.0, start - time.time()))
    sim.reset_stats()
    errors = 0
    for process in processes:
        out, _ = process.communicate(timeout=seconds + 120)
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed with exit code {process.returncode}")
        errors += json.loads(out.strip().splitlines()[-1])["errors"]
    stats = sim.stats
    throttled = stats.throttled
    accepted = sum(stats.calls.values()) - throttled
    return Phase(name, seconds, rate, accepted, throttled, errors)


def run(
    *,
    rate: float,
    workers: int,
    callers: int,
    seconds: float,
    redis_url: str,
    start_margin: float = 3.0,
    unknown: bool = True,
) -> tuple[Phase, ...]:
    """The phases against one simulator limiting to `rate` calls/s (the fixed-rate and the
    ``rate_limit=None`` ones only if `unknown`)."""
    sim = Simulator(devices=10, groups=3, seed=13, rate_limit=(round(rate), 1.0))
    with sim.serve_in_thread() as url:

        def phase(name: str, mode: str, processes: int, redis: str | None = None) -> Phase:
            return run_phase(
                sim, url, name=name, mode=mode, workers=processes, callers=callers,
                seconds=seconds, rate=rate, redis_url=redis, start_margin=start_margin,
            )  # fmt: skip

        shared = phase(f"{workers} processes, Redis", "budget", workers, redis_url)
        alone = phase(f"{workers} processes, no Redis", "budget", workers)
        if not unknown:
            return shared, alone
        fixed = phase(f"{workers} processes, no Redis, fixed", "fixed", workers)
        return shared, alone, fixed, phase("1 process, rate_limit=None", "unknown", 1)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; run as the benchmark or as one of its workers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="budget", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--enterprise", help=argparse.SUPPRESS)
    parser.add_argument("--redis", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        # The 429s are the figures here: the workers' warnings about them are not.
        logging.getLogger("esper_cmds").setLevel(logging.ERROR)
        anyio.run(_worker, args)
        return 0
    from tests.budget._redis_server import redis_server  # the tests' real-server helper

    print(
        f"{args.workers} workers x {args.callers} callers for {args.seconds:g} s against a"
        f" server allowing {args.rate:g} calls/s"
    )
    with redis_server() as redis:
        phases = run(
            rate=args.rate,
            workers=args.workers,
            callers=args.callers,
            seconds=args.seconds,
            redis_url=redis.url,
        )
    for phase in phases:
        print(phase.line())
    shared, alone = phases[:2]
    print(
        f"429 share without Redis / with Redis: {alone.share_429:.1%} / {shared.share_429:.1%};"
        f" accepted with / without: {shared.accepted / max(alone.accepted, 1):.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
