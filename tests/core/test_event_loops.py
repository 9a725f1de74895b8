"""A client is bound to the event loop of its first call: another loop fails at once, clearly."""

from __future__ import annotations

import asyncio

import pytest
import trio

from esper_cmds import ClientClosedError, EsperClient, EsperError
from esper_cmds.simulator import Simulator


def _client(sim: Simulator) -> EsperClient:
    return EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
    )


def test_a_module_level_client_in_a_second_asyncio_run_fails_before_sending() -> None:
    """The first `asyncio.run` works; the second raises `ClientClosedError` (an `EsperError`)
    telling the user to create the client inside the loop, and sends nothing."""
    sim = Simulator(devices=10, seed=2)
    client = _client(sim)

    async def main() -> int:
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids[:2])
        return len(request.devices)

    assert asyncio.run(main()) == 2
    calls = sum(sim.stats.calls.values())
    with pytest.raises(ClientClosedError, match="create the client inside the event loop") as info:
        asyncio.run(main())
    assert isinstance(info.value, EsperError)
    assert sum(sim.stats.calls.values()) == calls
    assert all(sim.stats.commands[d, "REBOOT"] <= 1 for d in sim.device_ids)


def test_a_second_trio_run_fails_too() -> None:
    """The same on trio: reading from a new `trio.run` is refused before anything is sent."""
    sim = Simulator(devices=10, seed=2)
    client = _client(sim)

    async def main() -> int:
        return len(await client.devices.list().to_list(max_items=100))

    assert trio.run(main) == 10
    with pytest.raises(ClientClosedError, match="another event loop"):
        trio.run(main)


def test_reentering_a_closed_client_says_to_create_a_new_one() -> None:
    """`async with client` again after its block ended: a clear `ClientClosedError`, not
    httpx's RuntimeError."""
    sim = Simulator(devices=5, seed=2)
    client = _client(sim)

    async def main() -> None:
        async with client:
            await client.devices.list().first_page()

    asyncio.run(main())
    with pytest.raises(ClientClosedError, match="create a new client"):
        asyncio.run(main())


def test_one_loop_many_calls_is_fine() -> None:
    """Many calls in one loop, and a fresh client per `asyncio.run`, both just work."""
    sim = Simulator(devices=5, seed=2)

    async def main() -> int:
        async with _client(sim) as client:
            for _ in range(3):
                await client.devices.list().first_page()
            return 3

    assert asyncio.run(main()) == 3
    assert asyncio.run(main()) == 3
