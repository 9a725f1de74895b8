"""A fan-out that fails before its first create leaves nothing behind: no lock, no header."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from esper_cmds import AuthenticationError, CommandSpec, EsperClient, RetryPolicy, ServerError
from esper_cmds._fanout import fan_out
from esper_cmds._fanout.journal import Journal
from esper_cmds._fanout.plan import Plan, build_plan
from esper_cmds._validation import parse_targets
from esper_cmds.simulator import Simulator

from .conftest import client_for


def refusing(sim: Simulator, status: int, path_part: str) -> httpx.AsyncBaseTransport:
    """The simulator, except that requests whose path holds `path_part` get `status`."""

    class Refusing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and path_part in request.url.path:
                return httpx.Response(status, json={"errors": [], "message": "no", "status": 0})
            return await sim.transport.handle_async_request(request)

    return Refusing()


@pytest.mark.anyio
async def test_a_failed_fence_read_releases_the_journal(tmp_path: Path) -> None:
    """The fence read is refused (401): the error surfaces as itself, the journal is unlocked
    and still empty, so the next run (with a good key, say) starts it properly."""
    sim = Simulator(devices=20, groups=0, seed=12)
    journal = tmp_path / "run.jsonl"
    async with client_for(sim, transport=refusing(sim, 401, "/command/")) as client:
        with pytest.raises(AuthenticationError):
            await fan_out(client, command="REBOOT", devices=sim.device_ids, journal=journal)
    assert journal.read_bytes() == b""
    again = await Journal.open(journal, (await _plan_of(sim)))  # not locked any more
    await again.aclose()
    async with client_for(sim) as client:
        result = await fan_out(client, command="REBOOT", devices=sim.device_ids, journal=journal)
    assert result.ok
    assert sim.stats.requests_created == 1


async def _plan_of(sim: Simulator) -> Plan:
    return build_plan(
        enterprise_id=uuid.UUID(sim.enterprise_id),
        spec=CommandSpec("REBOOT"),
        devices=parse_targets(sim.device_ids, "devices"),
        groups=[],
        chunk_size=None,
    )


@pytest.mark.anyio
async def test_a_failed_group_listing_surfaces_as_itself() -> None:
    """With ``resolve_groups``, a device listing that fails ends the fan-out with that error
    (not an exception group), and nothing is created."""
    sim = Simulator(devices=60, groups=4, seed=13)
    client = EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=refusing(sim, 500, "/device/"),
        rate_limit=None,
        retry=RetryPolicy.never(),
        env={},
    )
    async with client:
        with pytest.raises(ServerError):
            await fan_out(
                client, command="REBOOT", groups=sim.group_ids, resolve_groups=True, concurrency=2
            )
    assert sim.stats.requests_created == 0
