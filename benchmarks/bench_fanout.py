"""Fan-out throughput: 100,000 devices against the simulator with 50 ms per request.

Run with ``python -m benchmarks.bench_fanout [--repeat 3]``. Prints, all in one process against
one simulator (concurrent runs as the median of ``--repeat``):

- the fan-out's time and its ratio to the ideal ``ceil(chunks / concurrency) × latency``, with
  the ids as strings and as UUID objects (as this library's listings return them);
- bare httpx making the same calls (one read, then the chunks, as many at a time), the floor
  this server and machine allow, and the fan-out's ratio to it;
- sequential creation of the same chunks, one after another, with this library and with the
  official ``esperclient`` SDK (what the SDK and Esper's own fleet tool do), and the speed-up;
- the planning before anything is sent (validating, de-duplicating and chunking the ids, as
  ``fan_out`` does), alone, median of 5, with the ids as strings and as UUID objects.

By default the simulator runs in its own process (``--server process``), warmed up by one call
before timing: in a thread of this one (``--server thread``) it shares the GIL with the client,
and its CPU time per 1000-device create is then added to the client's, serialising both.

The client's default pacing (4000 calls per 5 minutes, Esper's own fleet tool's pace) would make
this a benchmark of the token bucket, so it is switched off here (``rate_limit=None``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence

import anyio
import esperclient
import httpx
from attrs import frozen

from esper_cmds import CommandSpec, EsperClient
from esper_cmds._converter import encode_create
from esper_cmds._fanout import fan_out
from esper_cmds._fanout.plan import Plan, build_plan
from esper_cmds._validation import parse_targets
from esper_cmds.simulator import Simulator


@frozen
class _Fleet:
    """What a user of the API knows: the key, the enterprise and the device ids."""

    api_key: str
    enterprise_id: str
    device_ids: list[str]

    @classmethod
    def of(cls, sim: Simulator) -> _Fleet:
        return cls(sim.api_key, sim.enterprise_id, sim.device_ids)


def _client(fleet: _Fleet, url: str) -> EsperClient:
    return EsperClient(
        base_url=url, api_key=fleet.api_key, enterprise_id=fleet.enterprise_id, rate_limit=None
    )


async def _fan_out(
    fleet: _Fleet,
    url: str,
    chunk_size: int,
    concurrency: int,
    devices: Sequence[str | uuid.UUID] | None = None,
) -> tuple[float, Plan]:
    async with _client(fleet, url) as client:
        start = time.perf_counter()
        result = await fan_out(
            client,
            command="REBOOT",
            devices=fleet.device_ids if devices is None else devices,
            device_type="all",
            chunk_size=chunk_size,
            concurrency=concurrency,
        )
        elapsed = time.perf_counter() - start
    result.raise_for_failures()
    return elapsed, result.plan


async def _raw_httpx(fleet: _Fleet, url: str, plan: Plan, concurrency: int) -> float:
    """The same calls with bare httpx: a newest-request read, then the chunks `concurrency` at a
    time, answers JSON-decoded; no validation, models, retries or reconciliation. The floor this
    server and machine allow."""
    commands = f"{url}/v0/enterprise/{fleet.enterprise_id}/command/"
    headers = {"Authorization": f"Bearer {fleet.api_key}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        start = time.perf_counter()
        (await http.get(commands, params={"limit": 1})).raise_for_status()
        chunks = iter(plan.chunks)

        async def worker() -> None:
            for chunk in chunks:  # shared: each chunk is sent once
                body, _ = encode_create(
                    plan.targeted_spec, plan.command_type, chunk.devices, chunk.groups
                )
                response = await http.post(commands, json=body)
                response.raise_for_status()
                response.json()

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        return time.perf_counter() - start


async def _sequential(fleet: _Fleet, url: str, plan: Plan) -> float:
    async with _client(fleet, url) as client:
        start = time.perf_counter()
        for chunk in plan.chunks:
            await client.commands.create(spec=plan.targeted_spec, devices=chunk.devices)
        return time.perf_counter() - start


def _sdk_sequential(fleet: _Fleet, url: str, plan: Plan) -> float:
    config = esperclient.Configuration()
    config.host = url
    config.api_key["Authorization"] = fleet.api_key
    config.api_key_prefix["Authorization"] = "Bearer"
    api = esperclient.CommandsV2Api(esperclient.ApiClient(config))
    start = time.perf_counter()
    for chunk in plan.chunks:
        request = esperclient.V0CommandRequest(
            command_type="DEVICE", devices=list(chunk.devices), device_type="all", command="REBOOT"
        )
        api.create_command(fleet.enterprise_id, request)
    return time.perf_counter() - start


def _planning(devices: Sequence[str | uuid.UUID], repeat: int = 5) -> float:
    """Median seconds of what ``fan_out`` does with the ids before its first request."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        build_plan(
            enterprise_id=uuid.UUID(int=1),
            spec=CommandSpec("REBOOT", device_type="all"),
            devices=parse_targets(devices, "devices"),
            groups=[],
            chunk_size=1000,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def _server_process(args: argparse.Namespace) -> Iterator[str]:
    """The simulator CLI on a free loopback port; the same seed gives the same fleet and key."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "esper_cmds.simulator",
        "--devices",
        str(args.devices),
        "--groups",
        "0",
        "--seed",
        "1",
        "--port",
        str(port),
        "--latency",
        str(args.latency),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/__sim__/stats", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulator process did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait()


def _warm_up(url: str, fleet: _Fleet) -> None:
    """One API call before timing: a fresh server's first call costs it ~10 ms more (a real API
    is long warm), and a benchmark of the client should not charge that to the first fan-out."""
    response = httpx.get(
        f"{url}/v0/enterprise/{fleet.enterprise_id}/command/",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {fleet.api_key}"},
    )
    response.raise_for_status()


def main() -> None:
    """Run the three measurements and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--no-sdk", action="store_true", help="skip the esperclient run")
    parser.add_argument("--server", choices=["process", "thread"], default="process")
    parser.add_argument("--repeat", type=int, default=3, help="fan-outs to time (median shown)")
    args = parser.parse_args()

    sim = Simulator(devices=args.devices, groups=0, seed=1, latency=args.latency)
    fleet = _Fleet.of(sim)
    if args.server == "thread":
        serve = sim.serve_in_thread()
    else:
        # The server process builds the same fleet from the same seed. This process keeps only
        # what a user would have (the ids): a 100,000-device simulator left here would make
        # every full garbage collection during the run several times slower.
        serve = _server_process(args)
        del sim
        gc.collect()
    with serve as url:
        _warm_up(url, fleet)
        # The same ids as UUID objects, as a listing through this library returns them.
        as_uuids = [uuid.UUID(d) for d in fleet.device_ids]
        runs, raw_runs, uuid_runs = [], [], []
        for _ in range(max(1, args.repeat)):  # interleaved, so drift hits all alike
            elapsed, plan = anyio.run(_fan_out, fleet, url, args.chunk_size, args.concurrency)
            runs.append(elapsed)
            raw_runs.append(anyio.run(_raw_httpx, fleet, url, plan, args.concurrency))
            uuid_run = anyio.run(_fan_out, fleet, url, args.chunk_size, args.concurrency, as_uuids)
            uuid_runs.append(uuid_run[0])
        fanned, raw = statistics.median(runs), statistics.median(raw_runs)
        fanned_uuids = statistics.median(uuid_runs)
        chunks = len(plan.chunks)
        ideal = math.ceil(chunks / args.concurrency) * args.latency
        sequential = anyio.run(_sequential, fleet, url, plan)
        sdk = None if args.no_sdk else _sdk_sequential(fleet, url, plan)
        stats = httpx.get(url.removesuffix("/api") + "/__sim__/stats").json()
    planned, planned_uuids = _planning(fleet.device_ids), _planning(as_uuids)
    print(
        f"{args.devices} devices, {chunks} chunks of {args.chunk_size},"
        f" concurrency {args.concurrency}, latency {args.latency * 1000:.0f} ms,"
        f" simulator in a {args.server}"
    )
    # With --latency 0 there is no ideal to compare with (it would be 0 s).
    versus_ideal = f"{fanned / ideal:5.2f}x ideal ({ideal:.2f} s)" if ideal else "(no latency)"
    spread = ""
    if len(runs) > 1:
        spread = f"  (median of {len(runs)}: {min(runs):.2f}-{max(runs):.2f} s)"
    print(f"fan_out:                  {fanned:6.2f} s  {versus_ideal}{spread}")
    uuids_versus_ideal = f"{fanned_uuids / ideal:5.2f}x ideal" if ideal else ""
    print(f"fan_out, ids as UUIDs:    {fanned_uuids:6.2f} s  {uuids_versus_ideal}")
    raw_versus_ideal = f"{raw / ideal:5.2f}x ideal" if ideal else ""
    print(
        f"raw httpx, same calls:    {raw:6.2f} s  {raw_versus_ideal}"
        f"  fan_out / raw httpx {fanned / raw:4.2f}"
    )
    print(
        f"sequential (esper_cmds):  {sequential:6.2f} s  fan_out {sequential / fanned:4.1f}x faster"
    )
    if sdk is not None:
        print(f"sequential (esperclient): {sdk:6.2f} s  fan_out {sdk / fanned:4.1f}x faster")
    print(
        f"planning {args.devices:,} ids before the first request: {planned * 1000:.0f} ms"
        f" as str, {planned_uuids * 1000:.0f} ms as UUIDs (median of 5)"
    )
    print(f"creates served: {stats['calls']['create']}, stored: {stats['requests_created']}")


if __name__ == "__main__":
    main()
