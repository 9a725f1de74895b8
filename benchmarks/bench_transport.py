"""Transport overhead: N concurrent reads through `EsperClient` vs raw httpx vs the official SDK.

Run with ``python -m benchmarks.bench_transport [--reads 1000] [--latency 0.02] [--pool 20]``.

The server runs in a process of its own (``benchmarks._process``) with `--latency` seconds per
request: the simulator (``--server simulator``, the default), whose CPU per request (~1-2 ms)
bounds 1,000 reads more than any client does, or the minimal page server (``--server minimal``,
pre-rendered pages), which leaves the clients' own costs visible. The same statuses page (20
statuses) is read `--reads` times, all started at once, by:

- `EsperClient` (retry policy, client-wide gate, concurrency limit = pool size, decoding into
  models; client-side pacing switched off, or this would time the token bucket);
- a raw ``httpx.AsyncClient`` with the same pool, each read waiting on an
  ``anyio.Semaphore(pool)`` first, as a careful caller would (decoding only to dicts): the fair
  baseline;
- the same raw client without the semaphore, every read queued inside httpcore's pool (and no
  pool timeout, or it would fail with `PoolTimeout`): the naive baseline, labelled as such. Its
  queue is scanned on every connection release, so with 1000 waiting reads it mostly times
  httpcore's scheduling, not HTTP;
- the official ``esperclient`` SDK (sync), in a thread pool of `--pool` workers, the same
  concurrency, with its urllib3 pool sized to match.

Each is timed `--repeat` times, interleaved; it prints the medians with their spread and the
ratios between medians of this one run, and asserts nothing about absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import anyio
import esperclient
import httpx

from esper_cmds import EsperClient
from esper_cmds.simulator import Simulator

from . import _pageserver
from ._process import page_server, simulator


async def _esper(
    api_key: str, enterprise_id: str, url: str, request_id: str, reads: int, pool: int
) -> float:
    """Seconds for `reads` concurrent first-page reads through EsperClient."""
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    async with EsperClient(
        base_url=url,
        api_key=api_key,
        enterprise_id=enterprise_id,
        limits=limits,
        rate_limit=None,
        env={},
    ) as client:
        await client.commands.statuses(request_id).first_page()  # warm the pool
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(reads):
                tg.start_soon(client.commands.statuses(request_id).first_page)
        return time.perf_counter() - start


async def _raw(
    api_key: str,
    enterprise_id: str,
    url: str,
    request_id: str,
    reads: int,
    pool: int,
    *,
    bounded: bool = True,
) -> float:
    """Seconds for the same reads with a bare httpx.AsyncClient of the same pool size, behind
    a semaphore of the pool's size (`bounded`) or all queued in httpcore's pool."""
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    path = f"{url}/v0/enterprise/{enterprise_id}/command/{request_id}/status/"
    headers = {"Authorization": f"Bearer {api_key}"}
    timeout = httpx.Timeout(60.0, pool=None)
    slots = anyio.Semaphore(pool if bounded else reads)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=timeout) as http:

        async def read() -> None:
            async with slots:
                response = await http.get(path)
            response.raise_for_status()
            response.json()

        await read()
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(reads):
                tg.start_soon(read)
        return time.perf_counter() - start


def _sdk(
    api_key: str, enterprise_id: str, url: str, request_id: str, reads: int, pool: int
) -> float:
    """Seconds for the same reads with the official SDK in `pool` threads."""
    config = esperclient.Configuration()
    config.host = url
    config.api_key["Authorization"] = api_key
    config.api_key_prefix["Authorization"] = "Bearer"
    config.connection_pool_maxsize = pool
    api = esperclient.CommandsV2Api(esperclient.ApiClient(config))

    def read(_: int) -> None:
        api.get_command_request_status(enterprise_id, request_id)

    read(0)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=pool) as workers:
        list(workers.map(read, range(reads)))
    return time.perf_counter() - start


def main() -> None:
    """Run the clients against one simulator process and print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02, help="server seconds per request")
    parser.add_argument("--pool", type=int, default=20, help="connections (and SDK threads)")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--server", choices=["simulator", "minimal"], default="simulator")
    args = parser.parse_args()
    if args.server == "simulator":
        sim = Simulator(devices=20, groups=0, seed=11)  # the server process's fleet, key and ids
        serving = simulator(devices=20, seed=11, latency=args.latency)
    else:
        serving = page_server(statuses=20, latency=args.latency)
    reads, pool, backend = args.reads, args.pool, args.backend
    with serving as url:
        if args.server == "simulator":
            http = httpx.Client(headers={"Authorization": f"Bearer {sim.api_key}"})
            created = http.post(
                f"{url}/v0/enterprise/{sim.enterprise_id}/command/",
                json={"command_type": "DEVICE", "command": "REBOOT", "devices": sim.device_ids},
            )
            created.raise_for_status()
            rid = created.json()["id"]
            http.close()
            key, eid = sim.api_key, sim.enterprise_id
        else:
            key, eid, rid = _pageserver.API_KEY, _pageserver.ENTERPRISE_ID, _pageserver.REQUEST_ID
        runs: dict[str, Callable[[], float]] = {
            "EsperClient": lambda: anyio.run(
                _esper, key, eid, url, rid, reads, pool, backend=backend
            ),
            "raw httpx + Semaphore(pool)": lambda: anyio.run(
                _raw, key, eid, url, rid, reads, pool, backend=backend
            ),
            "raw httpx, naive": lambda: anyio.run(
                lambda: _raw(key, eid, url, rid, reads, pool, bounded=False), backend=backend
            ),
            "esperclient SDK": lambda: _sdk(key, eid, url, rid, reads, pool),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(max(1, args.repeat)):
            for name, run in runs.items():  # interleaved, so drift hits all alike
                times[name].append(run())
    medians = {name: statistics.median(t) for name, t in times.items()}
    ideal = reads / pool * args.latency
    print(
        f"{reads} reads of one statuses page, pool {pool}, server latency "
        f"{args.latency * 1000:.0f} ms ({backend}), {args.server} server in its own process; ideal "
        f"{ideal:.2f} s; median of {len(times['EsperClient'])} (min-max)"
    )
    notes = {
        "raw httpx, naive": "  (all reads queued in httpcore's pool)",
        "esperclient SDK": f"  ({pool} threads)",
    }
    for name, samples in times.items():
        print(
            f"  {name:<28} {medians[name]:6.2f} s  ({min(samples):.2f}-{max(samples):.2f})"
            f"  {reads / medians[name]:6.0f} reads/s{notes.get(name, '')}"
        )
    esper = medians["EsperClient"]
    bounded, naive = medians["raw httpx + Semaphore(pool)"], medians["raw httpx, naive"]
    print(f"  EsperClient / raw httpx: {esper / bounded:.2f}x the time")
    print(f"  EsperClient / naive raw httpx: {esper / naive:.2f}x the time")
    print(f"  EsperClient / SDK:       {esper / medians['esperclient SDK']:.2f}x the time")


if __name__ == "__main__":
    main()
