"""Pagination over loopback: iterating a listing vs raw httpx, and prefetch vs one page at a time.

Run with ``python -m benchmarks.bench_pagination [--statuses 50000] [--devices 20000]``.

Every server runs in a process of its own (``benchmarks._process``), warmed by one call:

1. **Iterate** `--statuses` statuses at pages of `--status-page` with `EsperClient`
   (``async for status in client.commands.statuses(...)``: transport, retry policy, gate,
   decoding into models) vs raw ``httpx.AsyncClient`` (GET, ``json.loads``, a ``for`` over the
   results, follow ``next``; dicts, no models). Against a minimal page server
   (``benchmarks._pageserver``: pre-rendered rows, so the client is what is measured), and
   against the simulator (the same number of pages,
   statuses of 1000-device requests, since a request holds at most 1000).
2. **Prefetch**: ``client.devices.list(page_size=...)`` of `--devices` devices, with
   `--latency` per request, one page at a time vs ``pages(prefetch=--prefetch)``; against the
   minimal server and the simulator. On the minimal server, bare httpx reading the same pages
   ``prefetch + 1`` at a time (``json.loads``, in any order) is the floor any httpx client has.

Client-side pacing is off (``rate_limit=None``): with the default 4000 calls per 5 minutes the
prefetch runs would measure the token bucket. Each figure is the median of `--repeat` runs (9
for iterate, 5 for prefetch), interleaved; the ratios are between medians of this run. Nothing
is asserted about absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import httpx

from esper_cmds import EsperClient
from esper_cmds.simulator import Simulator

from . import _pageserver
from ._process import page_server, simulator

_SEED = 3


def _client(base_url: str, api_key: str, enterprise_id: str) -> EsperClient:
    return EsperClient(
        base_url=base_url, api_key=api_key, enterprise_id=enterprise_id, rate_limit=None, env={}
    )


async def _library_statuses(
    base_url: str, api_key: str, enterprise_id: str, request_ids: list[str], page: int
) -> float:
    async with _client(base_url, api_key, enterprise_id) as client:
        await client.commands.statuses(request_ids[0], page_size=1).first_page()  # warm the pool
        start, cpu = time.perf_counter(), time.process_time()
        items = 0
        for request_id in request_ids:
            async for _status in client.commands.statuses(request_id, page_size=page):
                items += 1
        elapsed = time.perf_counter() - start
        _LAST_CPU.append(time.process_time() - cpu)
    assert items > 0
    return elapsed


async def _raw_statuses(
    base_url: str, api_key: str, enterprise_id: str, request_ids: list[str], page: int
) -> float:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        first = f"{base_url}/v0/enterprise/{enterprise_id}/command/{request_ids[0]}/status/"
        (await http.get(first, params={"limit": 1})).raise_for_status()  # warm the pool
        start, cpu = time.perf_counter(), time.process_time()
        items = 0
        for request_id in request_ids:
            url: str | None = (
                f"{base_url}/v0/enterprise/{enterprise_id}/command/{request_id}/status/"
                f"?limit={page}"
            )
            while url is not None:
                response = await http.get(url)
                response.raise_for_status()
                data = json.loads(response.content)
                for _status in data["results"]:  # iterated, as the library's caller does
                    items += 1
                url = data["next"]
        elapsed = time.perf_counter() - start
        _LAST_CPU.append(time.process_time() - cpu)
    assert items > 0
    return elapsed


async def _devices(
    base_url: str, api_key: str, enterprise_id: str, page: int, prefetch: int
) -> float:
    async with _client(base_url, api_key, enterprise_id) as client:
        await client.devices.list(page_size=1).first_page()  # warm the pool
        start, cpu = time.perf_counter(), time.process_time()
        items = 0
        async for listed in client.devices.list(page_size=page).pages(prefetch=prefetch):
            items += len(listed.results)
        elapsed = time.perf_counter() - start
        _LAST_CPU.append(time.process_time() - cpu)
    assert items > 0
    return elapsed


async def _raw_devices(
    base_url: str, api_key: str, enterprise_id: str, page: int, in_flight: int
) -> float:
    """The floor for `_devices` with prefetch: bare httpx reading the same pages with
    `in_flight` requests at a time (offsets from the first page's count, ``json.loads``, no
    order kept, no models)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    url = f"{base_url}/enterprise/{enterprise_id}/device/"
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as http:
        (await http.get(url, params={"limit": 1})).raise_for_status()  # warm the pool
        start, cpu = time.perf_counter(), time.process_time()
        first = await http.get(url, params={"limit": page})
        first.raise_for_status()
        count = json.loads(first.content)["count"]
        offsets = iter(range(page, count, page))
        items = 0

        async def worker() -> None:
            nonlocal items
            for offset in offsets:  # shared: each page is read once
                response = await http.get(url, params={"limit": page, "offset": offset})
                response.raise_for_status()
                items += len(json.loads(response.content)["results"])

        async with anyio.create_task_group() as tg:
            for _ in range(in_flight):
                tg.start_soon(worker)
        elapsed = time.perf_counter() - start
        _LAST_CPU.append(time.process_time() - cpu)
    assert items > 0
    return elapsed


Run = Callable[[], Coroutine[Any, Any, float]]


_CPU: dict[str, list[float]] = {}
"""This process's CPU time in each run's timed part, by name, from the last `_medians`: the
client's own cost, which other work on the machine moves far less than the wall-clock times."""
_LAST_CPU: list[float] = []


def _medians(runs: dict[str, Run], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    _CPU.clear()
    _CPU.update({name: [] for name in runs})
    for _ in range(repeat):
        for name, run in runs.items():  # interleaved, so drift hits all alike
            times[name].append(anyio.run(run))
            _CPU[name].append(_LAST_CPU.pop())
    return times


def _report(
    title: str,
    times: dict[str, list[float]],
    versus: tuple[str, str],
    label: str,
    goal: str = "",
) -> None:
    print(title)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, samples in times.items():
        print(f"  {name:<34} {medians[name]:7.3f} s  ({min(samples):.3f}-{max(samples):.3f})")
    first, second = versus
    target = f" (goal {goal})" if goal else ""
    print(f"  {label}: {medians[first] / medians[second]:.2f}x{target}")
    if first in _CPU and second in _CPU:
        cpu = {name: statistics.median(_CPU[name]) for name in (first, second)}
        print(
            f"  client CPU in the timed part (median): {cpu[first]:.3f} s vs {cpu[second]:.3f} s,"
            f" {cpu[first] / cpu[second]:.2f}x"
        )
    # Other work on the machine moves every figure; the load says how much there was.
    print("  load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


def _sim_statuses(url: str, sim: Simulator, requests: int) -> list[str]:
    """Create `requests` 1000-device requests on the simulator; their ids."""
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    ids = []
    with httpx.Client(headers=headers, timeout=60) as http:
        for start in range(0, requests * 1000, 1000):
            created = http.post(
                f"{url}/v0/enterprise/{sim.enterprise_id}/command/",
                json={
                    "command_type": "DEVICE",
                    "command": "REBOOT",
                    "device_type": "all",
                    "devices": sim.device_ids[start : start + 1000],
                },
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
    return ids


def main() -> None:
    """Run both comparisons on both servers and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=50_000)
    parser.add_argument("--status-page", type=int, default=500)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--device-page", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds, prefetch runs")
    parser.add_argument("--prefetch", type=int, default=8)
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each side (default: 9 for iterate, whose runs take ~0.3 s and whose"
        " medians move with the machine's load, 5 for prefetch)",
    )
    parser.add_argument("--no-simulator", action="store_true", help="minimal server only")
    parser.add_argument(
        "--only", choices=("iterate", "prefetch"), help="run one of the two comparisons"
    )
    args = parser.parse_args()
    given = args.repeat
    if args.only != "prefetch":
        args.repeat = given or 9
        _iterate(args)
    if args.only != "iterate":
        args.repeat = given or 5
        _prefetch(args)


def _iterate(args: argparse.Namespace) -> None:
    key, eid = _pageserver.API_KEY, _pageserver.ENTERPRISE_ID
    rid = [_pageserver.REQUEST_ID]
    page = args.status_page
    pages = -(-args.statuses // page)
    with page_server(statuses=args.statuses) as url:
        times = _medians(
            {
                "EsperClient, async for": lambda: _library_statuses(url, key, eid, rid, page),
                "raw httpx + json.loads": lambda: _raw_statuses(url, key, eid, rid, page),
            },
            args.repeat,
        )
    _report(
        f"iterate {args.statuses:,} statuses, pages of {page} ({pages} pages), minimal server"
        f" in its own process, median of {args.repeat} (min-max)",
        times,
        ("EsperClient, async for", "raw httpx + json.loads"),
        "EsperClient / raw httpx (iterate)",
        "<= 1.3x",
    )
    if not args.no_simulator:
        requests = max(1, args.statuses // 1000)
        sim = Simulator(devices=requests * 1000, groups=0, seed=_SEED)
        with simulator(devices=requests * 1000, seed=_SEED) as url:
            ids = _sim_statuses(url, sim, requests)
            key_s, eid_s = sim.api_key, sim.enterprise_id
            times = _medians(
                {
                    "EsperClient, async for": lambda: _library_statuses(
                        url, key_s, eid_s, ids, page
                    ),
                    "raw httpx + json.loads": lambda: _raw_statuses(url, key_s, eid_s, ids, page),
                },
                args.repeat,
            )
        _report(
            f"iterate {requests * 1000:,} statuses ({requests} requests of 1000), pages of"
            f" {page}, simulator in its own process, median of {args.repeat} (min-max)",
            times,
            ("EsperClient, async for", "raw httpx + json.loads"),
            "EsperClient / raw httpx on the simulator",
        )


def _prefetch(args: argparse.Namespace) -> None:
    key, eid = _pageserver.API_KEY, _pageserver.ENTERPRISE_ID
    size, latency, ahead = args.device_page, args.latency, args.prefetch
    sequential, prefetched = "one page at a time", f"prefetch={ahead}"
    floor = f"raw httpx, {ahead + 1} in flight (floor)"
    with page_server(devices=args.devices, latency=latency) as url:
        times = _medians(
            {
                sequential: lambda: _devices(url, key, eid, size, 0),
                prefetched: lambda: _devices(url, key, eid, size, ahead),
                floor: lambda: _raw_devices(url, key, eid, size, ahead + 1),
            },
            args.repeat,
        )
    _report(
        f"devices.list of {args.devices:,}, pages of {size}, {latency * 1000:.0f} ms per request,"
        f" minimal server in its own process, median of {args.repeat} (min-max)",
        times,
        (sequential, prefetched),
        "prefetch speed-up",
        ">= 6x",
    )
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"  raw httpx floor speed-up: {medians[sequential] / medians[floor]:.2f}x")
    if not args.no_simulator:
        sim = Simulator(devices=args.devices, groups=0, seed=_SEED)
        with simulator(devices=args.devices, seed=_SEED, latency=latency) as url:
            key_s, eid_s = sim.api_key, sim.enterprise_id
            times = _medians(
                {
                    sequential: lambda: _devices(url, key_s, eid_s, size, 0),
                    prefetched: lambda: _devices(url, key_s, eid_s, size, ahead),
                },
                args.repeat,
            )
        _report(
            f"devices.list of {args.devices:,}, pages of {size}, {latency * 1000:.0f} ms per"
            f" request, simulator in its own process, median of {args.repeat} (min-max)",
            times,
            (sequential, prefetched),
            "prefetch speed-up on the simulator",
        )


if __name__ == "__main__":
    main()
