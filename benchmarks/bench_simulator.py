"""Server CPU per request of the simulator at 10,000 devices, status pages of 500.

Run: ``.venv/bin/python -m benchmarks.bench_simulator [--devices 10000 --groups 50] [--loopback]``.

In-process (the default), the app is called through httpx.ASGITransport; an ASGI wrapper measures
``time.process_time()`` around the app only, so the client's own CPU is not counted. With one
thread doing everything, process time is the server's CPU for that request.

With ``--loopback``, the simulator runs as ``python -m esper_cmds.simulator`` in its own process,
as the fan-out benchmark runs it, and the CPU that whole process spent (uvicorn's HTTP parsing,
the ASGI stack, the app, the socket writes) is read from ``/proc/<pid>/stat`` around a batch of
sequential calls. The kernel counts in ticks (10 ms), so batches are large; Linux only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio
import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from esper_cmds.simulator import ManualClock, Simulator


class _CpuMeter:
    """ASGI wrapper recording the process CPU seconds each request spent inside the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.samples: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.process_time()
        await self.app(scope, receive, send)
        self.samples.append(time.process_time() - start)


def _summary(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (
        f"{name:<44} n={len(ms):<4} median={statistics.median(ms):6.2f} ms  "
        f"p95={p95:6.2f} ms  max={ms[-1]:6.2f} ms"
    )


async def run(devices: int, groups: int, rounds: int) -> None:
    """Create a fleet-wide request, then read it back in pages of 500 as the clock moves."""
    clock = ManualClock()
    sim = Simulator(
        devices=devices,
        groups=groups,
        offline=0.3,
        clock=clock,
        failure_rate=0.05,
        churn_seconds=600.0,
        max_page_size=1000,
    )
    meter = _CpuMeter(sim.app)
    eid = sim.enterprise_id
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=meter), base_url=sim.base_url, headers=sim.headers
    ) as client:
        measured: dict[str, list[float]] = {}

        async def timed(name: str, call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
            response = await call()
            response.raise_for_status()
            measured.setdefault(name, []).append(meter.samples[-1])
            return response

        fleet_wide = {
            "command_type": "GROUP",
            "groups": sim.group_ids,
            "device_type": "all",
            "command": "REBOOT",
        }
        # The first call also pays Starlette's and the JSON encoder's warm-up; both are shown.
        create = await timed(
            "create GROUP (10,000 devices), first call",
            lambda: client.post(f"/v0/enterprise/{eid}/command/", json=fleet_wide),
        )
        await timed(
            "create GROUP (10,000 devices), again",
            lambda: client.post(f"/v0/enterprise/{eid}/command/", json=fleet_wide),
        )
        request_id = create.json()["id"]
        for chunk in range(0, len(sim.device_ids), 1000):
            await timed(
                "create DEVICE (1000 devices)",
                functools.partial(
                    client.post,
                    f"/v0/enterprise/{eid}/command/",
                    json={
                        "command_type": "DEVICE",
                        "devices": sim.device_ids[chunk : chunk + 1000],
                        "device_type": "all",
                        "command": "UPDATE_HEARTBEAT",
                    },
                ),
            )
        status_url = f"/v0/enterprise/{eid}/command/{request_id}/status/"
        for _ in range(rounds):
            clock.advance(0.7)
            for offset in range(0, devices, 500):
                await timed(
                    "status page of 500",
                    functools.partial(
                        client.get, status_url, params={"limit": 500, "offset": offset}
                    ),
                )
            await timed(
                "status page of 500, state=Command Queued",
                lambda: client.get(status_url, params={"limit": 500, "state": "Command Queued"}),
            )
            await timed(
                "request list page of 20 (with totals)",
                lambda: client.get(f"/v0/enterprise/{eid}/command/"),
            )
            await timed(
                "device page of 500",
                lambda: client.get(f"/enterprise/{eid}/device/", params={"limit": 500}),
            )
        print(f"simulator: {devices} devices, {groups} groups, one request over the whole fleet")
        for name, samples in measured.items():
            print(_summary(name, samples))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of process `pid` so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _server_process(devices: int, groups: int) -> Iterator[tuple[int, str]]:
    """The simulator CLI on a free loopback port; yields its pid and base URL."""
    command = [
        *(sys.executable, "-m", "esper_cmds.simulator", "--port", "0", "--seed", "1"),
        *("--devices", str(devices), "--groups", str(groups)),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("ESPER_BASE_URL="):
                raise RuntimeError("the simulator process did not start")
            yield process.pid, line.strip().partition("=")[2]
        finally:
            process.terminate()
            process.wait()


def run_loopback(devices: int, groups: int, calls: int) -> None:
    """Whole-process server CPU per call over real loopback HTTP, in batches of `calls`."""
    # The CLI builds the same fleet, key and enterprise from the same seed.
    sim = Simulator(devices=devices, groups=groups, seed=1)
    eid = sim.enterprise_id
    with (
        _server_process(devices, groups) as (pid, url),
        httpx.Client(base_url=url, headers=sim.headers, timeout=30) as client,
    ):
        chunks = [sim.device_ids[i : i + 1000] for i in range(0, len(sim.device_ids), 1000)]

        def create(n: int) -> httpx.Response:
            body = {
                "command_type": "DEVICE",
                "devices": chunks[n % len(chunks)],
                "device_type": "all",
                "command": "REBOOT",
            }
            return client.post(f"/v0/enterprise/{eid}/command/", json=body).raise_for_status()

        request_id = create(0).json()["id"]
        status_url = f"/v0/enterprise/{eid}/command/{request_id}/status/"
        batches: list[tuple[str, Callable[[int], httpx.Response]]] = [
            (f"create DEVICE ({len(chunks[0])} devices)", create),
            (
                "status page of 500",
                lambda n: client.get(status_url, params={"limit": 500, "offset": n % 2 * 500}),
            ),
            (
                "request list page of 20 (with totals)",
                lambda n: client.get(f"/v0/enterprise/{eid}/command/"),
            ),
        ]
        print(f"simulator process: {devices} devices, {groups} groups, {calls} calls per line")
        for name, call in batches:
            for n in range(10):  # warm up: imports, caches, the encoder
                call(n).raise_for_status()
            before = _cpu_seconds(pid)
            for n in range(calls):
                call(n).raise_for_status()
            spent = _cpu_seconds(pid) - before
            print(f"{name:<44} server CPU per call {spent / calls * 1000:6.2f} ms")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loopback", action="store_true", help="server in its own process")
    parser.add_argument("--calls", type=int, default=300, help="calls per --loopback batch")
    args = parser.parse_args()
    if args.loopback:
        run_loopback(args.devices, args.groups, args.calls)
    else:
        anyio.run(run, args.devices, args.groups, args.rounds)


if __name__ == "__main__":
    main()
