"""Transport overhead: N concurrent reads through `EsperClient` vs raw httpx vs the official SDK.

Run with ``python -m benchmarks.bench_transport [--reads 1000] [--latency 0.02] [--pool 20]``.

One process, one simulator served on loopback (uvicorn in a thread) with `--latency` seconds per
request, the same statuses page read `--reads` times by:

- `EsperClient` (retry policy, client-wide gate, concurrency limit = pool size, decoding into
  models; client-side pacing switched off, or this would time the token bucket);
- a raw ``httpx.AsyncClient`` with the same pool (and no pool timeout, or it would fail with
  `PoolTimeout`), decoding only to dicts;
- the official ``esperclient`` SDK (sync), in a thread pool of `--pool` workers, the same
  concurrency, with its urllib3 pool sized to match.

It prints each time and the ratios from this one run; it asserts nothing about absolute times.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import esperclient
import httpx

from esper_cmds import EsperClient
from esper_cmds.simulator import Simulator


async def _esper(sim: Simulator, url: str, request_id: str, reads: int, pool: int) -> float:
    """Seconds for `reads` concurrent first-page reads through EsperClient."""
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    async with EsperClient(
        base_url=url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
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


async def _raw(sim: Simulator, url: str, request_id: str, reads: int, pool: int) -> float:
    """Seconds for the same reads with a bare httpx.AsyncClient of the same pool size."""
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    path = f"{url}/v0/enterprise/{sim.enterprise_id}/command/{request_id}/status/"
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    timeout = httpx.Timeout(60.0, pool=None)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=timeout) as http:

        async def read() -> None:
            response = await http.get(path)
            response.raise_for_status()
            response.json()

        await read()
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(reads):
                tg.start_soon(read)
        return time.perf_counter() - start


def _sdk(sim: Simulator, url: str, request_id: str, reads: int, pool: int) -> float:
    """Seconds for the same reads with the official SDK in `pool` threads."""
    config = esperclient.Configuration()
    config.host = url
    config.api_key["Authorization"] = sim.api_key
    config.api_key_prefix["Authorization"] = "Bearer"
    config.connection_pool_maxsize = pool
    api = esperclient.CommandsV2Api(esperclient.ApiClient(config))

    def read(_: int) -> None:
        api.get_command_request_status(sim.enterprise_id, request_id)

    read(0)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=pool) as workers:
        list(workers.map(read, range(reads)))
    return time.perf_counter() - start


def main() -> None:
    """Run the three clients against one loopback simulator and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02, help="server seconds per request")
    parser.add_argument("--pool", type=int, default=20, help="connections (and SDK threads)")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    sim = Simulator(devices=20, groups=0, offline=0.0, seed=11, latency=args.latency)
    with sim.serve_in_thread() as url:
        http = httpx.Client(headers={"Authorization": f"Bearer {sim.api_key}"})
        created = http.post(
            f"{url}/v0/enterprise/{sim.enterprise_id}/command/",
            json={"command_type": "DEVICE", "command": "REBOOT", "devices": sim.device_ids},
        )
        created.raise_for_status()
        request_id = created.json()["id"]
        http.close()
        esper = anyio.run(_esper, sim, url, request_id, args.reads, args.pool, backend=args.backend)
        raw = anyio.run(_raw, sim, url, request_id, args.reads, args.pool, backend=args.backend)
        sdk = _sdk(sim, url, request_id, args.reads, args.pool)
    ideal = args.reads / args.pool * args.latency
    print(
        f"{args.reads} reads of one statuses page, pool {args.pool}, server latency "
        f"{args.latency * 1000:.0f} ms ({args.backend}); ideal {ideal:.2f} s"
    )
    print(f"  EsperClient            {esper:7.2f} s  {args.reads / esper:8.0f} reads/s")
    print(f"  raw httpx.AsyncClient  {raw:7.2f} s  {args.reads / raw:8.0f} reads/s")
    sdk_rate = args.reads / sdk
    print(f"  esperclient SDK        {sdk:7.2f} s  {sdk_rate:8.0f} reads/s  ({args.pool} threads)")
    print(f"  EsperClient / raw httpx: {esper / raw:.2f}x the time")
    print(f"  EsperClient / SDK:       {esper / sdk:.2f}x the time")


if __name__ == "__main__":
    main()
