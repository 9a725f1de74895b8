"""Helpers for the watch tests: a client on the simulator, and simulated time for the poller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.lowlevel

from esper_cmds import EsperClient, testing
from esper_cmds.simulator import ManualClock, Simulator
from esper_cmds.testing import FakeClock


class SimTime(FakeClock):
    """The client's fake clock, driving the simulator's `ManualClock`: sleeping advances both.

    `hooks` are called after each sleep with the number of sleeps so far (to change the world).
    """

    def __init__(self, sim: Simulator) -> None:
        assert isinstance(sim.clock, ManualClock)
        super().__init__(start=sim.clock.now(), drives=[sim.clock])
        self.sim_clock = sim.clock
        self.hooks: list[Callable[[int], None]] = []

    async def sleep(self, seconds: float) -> None:
        """Advance simulated time instead of waiting, then let other tasks run."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        for hook in self.hooks:
            hook(len(self.sleeps))
        await anyio.lowlevel.checkpoint()


def sim_client(sim: Simulator, time: FakeClock | None = None, **kwargs: Any) -> EsperClient:
    """An `EsperClient` on the simulator's in-process transport, on `time` if given."""
    if time is None:
        return EsperClient(
            base_url=sim.base_url,
            api_key=sim.api_key,
            enterprise_id=sim.enterprise_id,
            transport=sim.transport,
            **kwargs,
        )
    return testing.client(simulator=sim, clock=time, **kwargs)


async def raw_statuses(sim: Simulator, request_id: str) -> dict[str, str]:
    """The simulator's own device -> state map for a request, read without this library."""
    out: dict[str, str] = {}
    async with sim.client() as http:
        url: str | None = f"/v0/enterprise/{sim.enterprise_id}/command/{request_id}/status/"
        params: dict[str, str] | None = {"limit": "1000"}
        while url is not None:
            response = await http.get(url, params=params)
            response.raise_for_status()
            body = response.json()
            out.update({row["device"]: row["state"] for row in body["results"]})
            url, params = body["next"], None
    return out


async def raw_totals(sim: Simulator, request_id: str) -> dict[str, int]:
    """The simulator's own per-state totals for a request, read without this library."""
    async with sim.client() as http:
        response = await http.get(
            f"/v0/enterprise/{sim.enterprise_id}/command/", params={"limit": "1000"}
        )
        response.raise_for_status()
    for request in response.json()["results"]:
        if request["id"] == request_id:
            return {entry["state"]: entry["total"] for entry in request["status"]}
    raise AssertionError(f"request {request_id} is not listed")
