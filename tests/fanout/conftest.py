"""Fixtures for the fan-out tests: a client bound to an in-process simulator."""

from __future__ import annotations

import datetime as dt
import time

import anyio
import anyio.lowlevel
import httpx

from esper_cmds import EsperClient
from esper_cmds._fanout import ChunkRetry
from esper_cmds.simulator import Simulator


class FakeTime:
    """A client clock that only moves when the client sleeps, so backoff and 429 pauses are
    instant in real time but still ordered correctly."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        """Real monotonic time plus every second slept so far."""
        return time.monotonic() + self.offset

    def utcnow(self) -> dt.datetime:
        """Real UTC time plus every second slept so far."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.offset)

    async def sleep(self, seconds: float) -> None:
        """Advance instead of waiting (still a checkpoint, so other tasks run)."""
        self.offset += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


FAST = ChunkRetry()
"""The default retry policy: its waits are the client's, which `client_for` makes instant."""


def client_for(
    sim: Simulator, base_url: str | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> EsperClient:
    """A client for `sim`: in-process, or over loopback when `base_url` is given.

    No client-side pacing (the tests are about the fan-out, not the token bucket) and no
    real-time waits after a 429.
    """
    fake = FakeTime()
    return EsperClient(
        base_url=base_url or sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=None if base_url else (transport or sim.transport),
        rate_limit=None,
        clock=fake,
        sleep=fake.sleep,
    )
