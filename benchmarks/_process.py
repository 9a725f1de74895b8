"""Servers for the benchmarks, each in a process of its own.

In a thread of the benchmark's process a server shares the GIL with the client it serves, and
its CPU time is added to the client's; in its own process it runs on the other core, as a real
API runs on another machine.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

__all__ = ["free_port", "page_server", "simulator"]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _serving(command: list[str], ready_url: str, *, timeout: float = 120) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(ready_url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the server did not start: {' '.join(command)}") from None
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait()


@contextlib.contextmanager
def page_server(*, statuses: int = 0, devices: int = 0, latency: float = 0.0) -> Iterator[str]:
    """`benchmarks._pageserver` on a free port; yields its API base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "benchmarks._pageserver",
        "--port",
        str(port),
        "--statuses",
        str(statuses),
        "--devices",
        str(devices),
        "--latency",
        str(latency),
    ]
    with _serving(command, f"http://127.0.0.1:{port}/"):
        yield f"http://127.0.0.1:{port}/api"


@contextlib.contextmanager
def simulator(*, devices: int, seed: int, latency: float = 0.0, groups: int = 0) -> Iterator[str]:
    """The simulator CLI on a free port; yields its API base URL. An in-process
    ``Simulator(devices=..., groups=..., seed=...)`` has the same fleet, key and enterprise."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "esper_cmds.simulator",
        "--devices",
        str(devices),
        "--groups",
        str(groups),
        "--seed",
        str(seed),
        "--port",
        str(port),
        "--latency",
        str(latency),
    ]
    with _serving(command, f"http://127.0.0.1:{port}/__sim__/stats"):
        yield f"http://127.0.0.1:{port}/api"
