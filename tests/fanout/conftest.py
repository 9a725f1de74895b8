"""Fixtures for the fan-out tests: a client bound to an in-process simulator."""

from __future__ import annotations

import httpx

from esper_cmds import EsperClient
from esper_cmds._fanout import ChunkRetry
from esper_cmds.simulator import Simulator
from esper_cmds.testing import FakeClock

FAST = ChunkRetry()
"""The default retry policy: its waits are the client's, which `client_for` makes instant."""


def client_for(
    sim: Simulator, base_url: str | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> EsperClient:
    """A client for `sim`: in-process, or over loopback when `base_url` is given.

    No client-side pacing (the tests are about the fan-out, not the token bucket) and no
    real-time waits after a 429.
    """
    # The simulator's time, not driven: the fan-out's own waits are instant, the fleet's are not.
    fake = FakeClock(start=sim.clock.now())
    return EsperClient(
        base_url=base_url or sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=None if base_url else (transport or sim.transport),
        rate_limit=None,
        clock=fake,
        sleep=fake.sleep,
    )
