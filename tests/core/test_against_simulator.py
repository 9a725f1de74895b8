"""End to end through `EsperClient` against the simulator, in-process and over real loopback.

The simulator is an independent oracle (it imports nothing from the client), so every result is
checked against its own state: its fleet, its group membership and its counters.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager

import pytest

from esper_cmds import (
    Command,
    CommandState,
    CommandType,
    EsperClient,
    ValidationError,
    is_terminal,
)
from esper_cmds.simulator import ManualClock, Simulator


@contextmanager
def _no_server(sim: Simulator) -> Iterator[str]:
    yield sim.base_url


@asynccontextmanager
async def connect(sim: Simulator, how: str) -> AsyncIterator[EsperClient]:
    """A client on `sim`: through its in-process transport, or over HTTP on 127.0.0.1."""
    server: AbstractContextManager[str] = (
        sim.serve_in_thread() if how == "loopback" else _no_server(sim)
    )
    with server as url:
        async with EsperClient(
            base_url=url,
            api_key=sim.api_key,
            enterprise_id=sim.enterprise_id,
            transport=sim.transport if how == "in-process" else None,
            rate_limit=None,
            env={},
        ) as client:
            yield client


@pytest.fixture
def sim() -> Simulator:
    """A small deterministic fleet on a manual clock: 60 devices, 4 groups, a third offline."""
    return Simulator(devices=60, groups=4, offline=0.33, seed=11, clock=ManualClock())


@pytest.fixture(params=["in-process", "loopback"])
def how(request: pytest.FixtureRequest) -> str:
    """How the client reaches the simulator."""
    return str(request.param)


def ids(values: list[str]) -> set[uuid.UUID]:
    """The simulator's string ids as UUIDs."""
    return {uuid.UUID(v) for v in values}


@pytest.mark.anyio
async def test_create_list_statuses_history(sim: Simulator, how: str) -> None:
    """A DEVICE create is stored once per device and every listing agrees with the simulator."""
    targets = sim.device_ids[:25]
    async with connect(sim, how) as client:
        created = await client.commands.create(
            command=Command.REBOOT, devices=targets, device_type="all"
        )
        assert created.command_type is CommandType.DEVICE
        assert set(created.devices) == ids(targets)
        stats = sim.stats
        assert stats.requests_created == 1
        assert {d for (d, c), n in stats.commands.items() if c == "REBOOT" and n == 1} == set(
            targets
        )

        listed = await client.commands.list(command="REBOOT").to_list(max_items=100)
        assert [r.id for r in listed] == [created.id]
        assert await client.commands.list(command="WIPE").to_list(max_items=10) == []
        by_device = client.commands.list(devices=[targets[3]], device_type="all")
        assert [r.id for r in await by_device.to_list(max_items=10)] == [created.id]

        statuses = [s async for s in client.commands.statuses(created.id, page_size=7)]
        assert {s.device for s in statuses} == ids(targets)
        assert len(statuses) == len(targets)
        offline = {uuid.UUID(d) for d in targets if not sim.is_online(d)}
        assert offline, "the seed should leave some targets offline"
        for status in statuses:
            expected = CommandState.QUEUED if status.device in offline else CommandState.INITIATED
            assert status.state is expected
        assert created.totals() == {
            state: sum(1 for s in statuses if s.state is state) for state in created.totals()
        }

        queued = client.commands.statuses(created.id, state="QUEUED", page_size=5)
        assert {s.device async for s in queued} == offline

        history = await client.devices.command_history(targets[0]).to_list(max_items=10)
        assert [h.request for h in history] == [created.id]


@pytest.mark.anyio
async def test_statuses_reach_terminal_states_as_the_clock_advances(
    sim: Simulator, how: str
) -> None:
    """Online devices finish with Success once simulated time passes; offline ones stay queued."""
    targets = sim.device_ids[:20]
    async with connect(sim, how) as client:
        created = await client.commands.create(command="LOCK", devices=targets, device_type="all")
        assert isinstance(sim.clock, ManualClock)
        sim.clock.advance(60)
        statuses = await client.commands.statuses(created.id).to_list(max_items=100)
    done = {s.device for s in statuses if is_terminal(s.state)}
    assert done == {uuid.UUID(d) for d in targets if sim.is_online(d)}
    assert {s.state for s in statuses if s.device in done} == {CommandState.SUCCESS}


@pytest.mark.anyio
async def test_devices_and_groups_match_the_fleet(sim: Simulator, how: str) -> None:
    """Device and group listings (prefetched) hold exactly the simulator's fleet and members."""
    async with connect(sim, how) as client:
        devices = [
            d async for p in client.devices.list(page_size=9).pages(prefetch=3) for d in p.results
        ]
        assert sorted(str(d.id) for d in devices) == sorted(sim.device_ids)
        groups = await client.groups.list(page_size=3).to_list(max_items=100)
        assert sorted(str(g.id) for g in groups) == sorted(sim.group_ids)
        for group in groups:
            members = await client.devices.list(group=group.id, page_size=50).to_list(
                max_items=1000
            )
            assert sorted(str(d.id) for d in members) == sorted(sim.group_members(str(group.id)))
            assert group.device_count == len(members)


@pytest.mark.anyio
async def test_group_create_reaches_every_member(sim: Simulator, how: str) -> None:
    """A GROUP create is inferred from groups and yields one status per member of the group."""
    group = sim.group_ids[1]
    async with connect(sim, how) as client:
        created = await client.commands.create(
            command="SET_BRIGHTNESS_SCALE",
            groups=[group],
            device_type="all",
            command_args={"brightness_value": 40},
        )
        assert created.command_type is CommandType.GROUP
        assert created.command_args.brightness_value == 40
        statuses = await client.commands.statuses(created.id).to_list(max_items=1000)
    assert {str(s.device) for s in statuses} == set(sim.group_members(group))
    assert sum(sim.stats.commands.values()) == len(sim.group_members(group))


@pytest.mark.anyio
async def test_invalid_create_never_reaches_the_simulator(sim: Simulator, how: str) -> None:
    """Validation refuses bad input before any call: the simulator counts no create."""
    async with connect(sim, how) as client:
        with pytest.raises(ValidationError):
            await client.commands.create(
                command="SET_GPS_STATE", devices=sim.device_ids[:2], command_args={"gps_state": 9}
            )
    assert sim.stats.calls["create"] == 0
    assert sim.stats.requests_created == 0
