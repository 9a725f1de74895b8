"""The watch over real loopback HTTP: many requests through a small connection pool."""

from __future__ import annotations

import math
import uuid

import httpx
import pytest

from esper_cmds import CommandState, EsperClient
from esper_cmds._watch import watch
from esper_cmds.simulator import Simulator

from .conftest import SimTime, raw_statuses

WATCHED = 200


@pytest.mark.anyio
async def test_200_requests_through_a_pool_of_20_complete_without_pool_timeout() -> None:
    """200 requests watched at once over loopback with 20 connections all finish, no PoolTimeout."""
    sim = Simulator(devices=400, offline=0.0, seed=11, step_seconds=1.0)
    time = SimTime(sim)
    request_ids: list[str] = []
    # Created through the in-process app so only the watch goes over the wire.
    async with sim.client() as http:
        for i in range(WATCHED):
            response = await http.post(
                f"/v0/enterprise/{sim.enterprise_id}/command/",
                json={
                    "command_type": "DEVICE",
                    "command": "REBOOT",
                    "devices": sim.device_ids[2 * i : 2 * i + 2],
                    "device_type": "active",
                },
            )
            assert response.status_code == 201, response.text
            request_ids.append(response.json()["id"])
    sim.reset_stats()
    with sim.serve_in_thread() as base_url:
        client = EsperClient(
            base_url=base_url,
            api_key=sim.api_key,
            enterprise_id=sim.enterprise_id,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
            rate_limit=None,  # simulated time; pacing would only add real waiting here
            clock=time,
            sleep=time.sleep,
        )
        async with (
            client,
            watch(
                client,
                request_ids,
                timeout=60,
                concurrency=50,  # more than the pool: the client's own limit must queue them
            ) as changes,
        ):
            summary = await changes.wait()
    assert summary.done
    assert summary.errors == 0
    assert summary.totals() == {CommandState.SUCCESS: 2 * WATCHED}
    assert summary.calls == sum(sim.stats.calls.values())
    # At most one read per request and one listing per 50 requests a round.
    assert summary.calls <= summary.rounds * (WATCHED + math.ceil(WATCHED / 50))
    for rid in request_ids[::50]:
        mine = summary.requests[uuid.UUID(rid)].states
        assert {str(d): str(s) for d, s in mine.items()} == await raw_statuses(sim, rid)
