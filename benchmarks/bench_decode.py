"""Decoding: one page of statuses into models vs ``json.loads`` alone vs the official SDK.

Run with ``python -m benchmarks.bench_decode [--rows 100000] [--repeat 5]``.

One body of `--rows` statuses as the API writes them (canonical ids, the nine states, reasons,
microsecond UTC timestamps), decoded in this process by:

- ``json.loads`` alone: dicts, no models; the floor any Python decoder starts from;
- this library (the transport's decoder): models with UUIDs, datetimes and enum members;
- this library's reference reader (``json.loads`` then cattrs), which reads what the fast path
  declines (an odd value, an id sent as a resource URL): the path such a page takes, and the
  only path before msgspec;
- the official ``esperclient`` SDK's deserializer (``ApiClient.deserialize``), its own models.

Each reader runs `--repeat` times, interleaved so drift hits all alike; each time covers the call
and then a collection of the youngest generation (``gc.collect(0)``), so garbage-collector work
a reader only postponed is counted. Prints each median with its spread and the ratios between
medians from this run; it asserts nothing about absolute times.

``--breakdown`` also times msgspec alone on the same body, step by step (every value as text,
then datetimes, then UUIDs, into a plain attrs class; then this library's shadows; then with the
collector running), to show where the time between ``json.loads`` and `decode` goes. The steps
decode with the collector paused, so the young collection after each walks what it made;
`decode` itself places what it made in the oldest generation, so that collection finds nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import esperclient
import msgspec

from esper_cmds._converter import _TIERS, decode, structure
from esper_cmds.models import CommandState, CommandStatus, Page

_REASONS = ["Package not installed", "Device offline", "", None]


def status_page(rows: int, *, seed: int = 11) -> bytes:
    """A page body of `rows` statuses of one request, as the simulator and Esper write them."""
    rng = random.Random(seed)
    request = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    states = [s.value for s in CommandState]
    results = [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "request": request,
            "device": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "state": rng.choice(states),
            "reason": rng.choice(_REASONS),
            "created_on": "2024-05-31T10:00:00.123456Z",
            "updated_on": f"2024-05-31T1{row // 3_600_000 % 10}:{row // 60_000 % 60:02d}:"
            f"{row // 1000 % 60:02d}.{row % 1000:03d}000Z",
        }
        for row in range(rows)
    ]
    page = {"count": rows, "next": None, "previous": None, "results": results}
    return json.dumps(page, separators=(",", ":")).encode()


class _SdkResponse:
    """What ``ApiClient.deserialize`` reads from a urllib3 response: its ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def readers(body: bytes) -> dict[str, Callable[[], Any]]:
    """The decoders compared, each a call that decodes `body` once."""
    sdk = esperclient.ApiClient()
    sdk_response = _SdkResponse(body)
    return {
        "json.loads alone": lambda: json.loads(body),
        "esper_cmds": lambda: decode(body, Page[CommandStatus]),
        "esper_cmds reference": lambda: structure(json.loads(body), Page[CommandStatus]),
        "esperclient SDK": lambda: sdk.deserialize(sdk_response, "InlineResponse20010"),
    }


def _time(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    result = call()
    gc.collect(0)  # what the reader left for the collector is part of its cost
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def measure(
    body: bytes, repeat: int, *, skip: frozenset[str] = frozenset()
) -> dict[str, list[float]]:
    """Seconds per reader, `repeat` times each, interleaved."""
    calls = {name: call for name, call in readers(body).items() if name not in skip}
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm: shadows built, imports done
    for _ in range(repeat):
        for name, call in calls.items():
            gc.collect()
            times[name].append(_time(call))
    return times


def _flat_decoder(id_type: Any, time_type: Any) -> msgspec.json.Decoder[Any]:
    """A decoder into a plain attrs page of statuses with these id and timestamp types."""
    fields = {"id": id_type, "request": id_type, "device": id_type, "state": str}
    optional = {
        "reason": str | None,
        "created_on": time_type | None,
        "updated_on": time_type | None,
    }
    status = attrs.frozen(kw_only=True)(
        type("Status", (), {"__annotations__": {**fields, **optional}, **dict.fromkeys(optional)})
    )
    results: Any = tuple[status, ...]  # type: ignore[valid-type]
    page_fields = {"count": int, "results": results, "next": str | None}
    page = attrs.frozen(kw_only=True)(
        type("StatusPage", (), {"__annotations__": page_fields, "next": None})
    )
    return msgspec.json.Decoder(page)


def breakdown(body: bytes, repeat: int) -> dict[str, float]:
    """Median seconds of each step from msgspec's parsing alone to `decode`."""
    shadows = _TIERS[0].reader(Page[CommandStatus])
    assert shadows is not None
    text, times, ids = (
        _flat_decoder(t, u) for t, u in [(str, str), (str, dt.datetime), (uuid.UUID, dt.datetime)]
    )

    def paused(call: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            gc.disable()
            try:
                return call()
            finally:
                gc.enable()

        return run

    steps: dict[str, Callable[[], Any]] = {
        "json.loads alone": lambda: json.loads(body),
        "msgspec, every value as text": paused(lambda: text.decode(body)),
        "  + datetimes": paused(lambda: times.decode(body)),
        "  + UUIDs (a plain attrs class)": paused(lambda: ids.decode(body)),
        "  + the models (shadows, post-init)": paused(lambda: shadows(body)),
        "decode (to the oldest generation)": lambda: decode(body, Page[CommandStatus]),
        "decode, collector not paused": lambda: shadows(body),
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for call in steps.values():
        call()  # warm
    for _ in range(repeat):
        # Interleaved: run one after another, each step's figures depended on the step before.
        for name, call in steps.items():
            gc.collect()
            samples[name].append(_time(call))
    return {name: statistics.median(times) for name, times in samples.items()}


def check_equal(body: bytes) -> None:
    """The fast path and the reference give the same models (a benchmark of a wrong answer is
    worth nothing)."""
    if decode(body, Page[CommandStatus]) != structure(json.loads(body), Page[CommandStatus]):
        raise SystemExit("decode and structure disagree")


def main() -> None:
    """Decode one body with every reader and print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-sdk", action="store_true", help="skip the esperclient SDK")
    parser.add_argument("--breakdown", action="store_true", help="time msgspec step by step")
    args = parser.parse_args()
    body = status_page(args.rows)
    check_equal(body)
    skip = frozenset({"esperclient SDK"}) if args.no_sdk else frozenset()
    times = measure(body, args.repeat, skip=skip)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["json.loads alone"]
    print(
        f"decode one page of {args.rows:,} statuses ({len(body) / 1e6:.1f} MB), "
        f"median of {args.repeat} (min-max)"
    )
    for name, samples in times.items():
        print(
            f"  {name:<22} {medians[name]:8.3f} s  ({min(samples):.3f}-{max(samples):.3f})"
            f"  {medians[name] / base:6.2f}x json.loads"
        )
    ours = medians["esper_cmds"]
    print(f"  esper_cmds / json.loads: {ours / base:.2f}x the time")
    print(f"  reference / esper_cmds: {medians['esper_cmds reference'] / ours:.1f}x slower")
    if "esperclient SDK" in medians:
        print(f"  SDK / esper_cmds: {medians['esperclient SDK'] / ours:.1f}x slower")
    if args.breakdown:
        steps = breakdown(body, args.repeat)
        first = steps["json.loads alone"]
        print(f"where the time goes (median of {args.repeat}, x json.loads; paused: no collector)")
        for name, seconds in steps.items():
            print(f"  {name:<38} {seconds:7.3f} s  {seconds / first:5.2f}x")


if __name__ == "__main__":
    main()
