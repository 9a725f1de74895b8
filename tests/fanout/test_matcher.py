"""Reconciliation adopts a stored request only if it is provably this chunk's.

On the main of 2026-11-28 (issue 10) replacing the matcher with ``return True`` left every
fan-out test green: its rejecting branches never ran. Here each condition is exercised on its
own, so removing any one of them fails a test: the command, the command type, the device type,
the exact target set, no groups on a device chunk, and "newer than the fence" (an identical
request from before the fan-out is someone else's). For GROUP chunks an always-yes matcher would
adopt another chunk's request and that chunk would never be sent.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import attrs
import httpx
import pytest

from esper_cmds import AmbiguousCreateError, CommandRequest, EsperClient
from esper_cmds._fanout import fan_out
from esper_cmds._fanout.plan import Plan, build_plan
from esper_cmds._fanout.reconcile import Fence, _matches, find_request, take_fence
from esper_cmds.models import CommandSpec
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, ManualClock, Simulator

from .conftest import FAST, client_for

ENTERPRISE = uuid.UUID(int=7)
D = [str(uuid.UUID(int=0x100 + i)) for i in range(4)]
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def device_plan(**overrides: Any) -> Plan:
    """REBOOT to devices D[0..2] (one chunk), device type "all"."""
    kwargs: dict[str, Any] = {
        "enterprise_id": ENTERPRISE,
        "command": "REBOOT",
        "devices": D[:3],
        "groups": [],
        "command_type": None,
        "device_type": "all",
        "command_args": None,
        "schedule": "IMMEDIATE",
        "schedule_args": None,
        "chunk_size": None,
    }
    kwargs.update(overrides)
    spec = CommandSpec(
        kwargs.pop("command"),
        **{k: kwargs.pop(k) for k in ("command_args", "command_type", "device_type", "schedule")},
        schedule_args=kwargs.pop("schedule_args"),
    )
    return build_plan(spec=spec, **kwargs)


MATCHING = CommandRequest(
    id=uuid.UUID(int=1),
    command="REBOOT",
    command_type="DEVICE",
    device_type="all",
    devices=tuple(uuid.UUID(d) for d in D[:3]),
    created_on=T0,
)


@pytest.mark.parametrize(
    ("change", "matches"),
    [
        ({}, True),
        ({"devices": tuple(uuid.UUID(d) for d in reversed(D[:3]))}, True),
        ({"command_type": None, "device_type": None}, True),  # not reported: not a difference
        ({"command": "LOCK"}, False),
        ({"command_type": "DYNAMIC"}, False),
        ({"device_type": "active"}, False),
        ({"devices": tuple(uuid.UUID(d) for d in D[:4])}, False),
        ({"devices": tuple(uuid.UUID(d) for d in D[:2])}, False),
        ({"groups": (uuid.UUID(int=9),)}, False),
    ],
    ids=["same", "same-set-other-order", "types-unreported", "other-command",
         "other-command-type", "other-device-type", "superset", "subset", "has-groups"],
)  # fmt: skip
def test_matcher_on_a_device_chunk(change: dict[str, Any], matches: bool) -> None:
    """Every field the matcher compares, changed alone."""
    p = device_plan()
    assert _matches(attrs.evolve(MATCHING, **change), p, p.chunks[0]) is matches


def test_matcher_on_group_chunks_adopts_only_the_chunks_own_groups() -> None:
    """Two GROUP chunks: a request for the second chunk's groups is not the first's."""
    groups = [str(uuid.UUID(int=0x200 + i)) for i in range(4)]
    p = device_plan(devices=[], groups=groups, chunk_size=2)
    second = CommandRequest(
        id=uuid.UUID(int=2),
        command="REBOOT",
        command_type="GROUP",
        device_type="all",
        groups=tuple(uuid.UUID(g) for g in groups[2:]),
    )
    assert not _matches(second, p, p.chunks[0])
    assert _matches(second, p, p.chunks[1])


def test_the_fence_excludes_its_own_request_and_older_ones_even_when_naive() -> None:
    """A request is the fan-out's only if it is newer than the fence; a server time without an
    offset is UTC (it used to raise `TypeError` comparing naive and aware times)."""
    fence = Fence(T0, uuid.UUID(int=5))
    assert fence.excludes(attrs.evolve(MATCHING, id=uuid.UUID(int=5)))
    naive_older = attrs.evolve(
        MATCHING, created_on=(T0 - dt.timedelta(seconds=1)).replace(tzinfo=None)
    )
    naive_newer = attrs.evolve(
        MATCHING, created_on=(T0 + dt.timedelta(seconds=1)).replace(tzinfo=None)
    )
    assert fence.excludes(naive_older)
    assert not fence.excludes(naive_newer)
    assert Fence(T0.replace(tzinfo=None)).created_on == T0


async def store(client: EsperClient, **kwargs: Any) -> CommandRequest:
    """Create a request on the simulator directly."""
    return await client.commands.create(**kwargs)


@pytest.mark.anyio
async def test_find_request_ignores_lookalikes_and_finds_the_chunks_own() -> None:
    """On the simulator: requests for another command, device type, a superset or subset of the
    chunk's devices, or an identical one older than the fence, are not adopted; the chunk's own
    is."""
    clock = ManualClock()
    sim = Simulator(devices=6, groups=0, seed=8, clock=clock)
    devices = sim.device_ids[:3]
    p = device_plan(devices=devices)
    chunk = p.chunks[0]
    async with client_for(sim) as client:
        await store(client, command="REBOOT", devices=devices, device_type="all")  # before
        clock.advance(1)
        fence = await take_fence(client.commands)
        clock.advance(1)
        assert await find_request(client.commands, p, chunk, fence=fence) is None
        for decoy in (
            {"command": "LOCK", "devices": devices, "device_type": "all"},
            {"command": "REBOOT", "devices": devices, "device_type": "active"},
            {"command": "REBOOT", "devices": sim.device_ids[:4], "device_type": "all"},
            {"command": "REBOOT", "devices": devices[:2], "device_type": "all"},
            {"command": "REBOOT", "devices": devices, "device_type": "all",
             "command_type": "DYNAMIC"},
        ):  # fmt: skip
            await store(client, **decoy)
            clock.advance(1)
            assert await find_request(client.commands, p, chunk, fence=fence) is None, decoy
        own = await store(client, command="REBOOT", devices=devices, device_type="all")
        clock.advance(1)
        found = await find_request(client.commands, p, chunk, fence=fence)
    assert found is not None
    assert found.id == own.id


@pytest.mark.anyio
async def test_find_request_for_group_chunks_on_the_simulator() -> None:
    """Each GROUP chunk finds its own request and not the other chunk's."""
    clock = ManualClock()
    sim = Simulator(devices=40, groups=4, seed=9, clock=clock)
    p = device_plan(devices=[], groups=sim.group_ids, chunk_size=2)
    async with client_for(sim) as client:
        fence = await take_fence(client.commands)
        clock.advance(1)
        second = await store(client, command="REBOOT", groups=sim.group_ids[2:], device_type="all")
        clock.advance(1)
        assert await find_request(client.commands, p, p.chunks[0], fence=fence) is None
        found = await find_request(client.commands, p, p.chunks[1], fence=fence)
    assert found is not None
    assert found.id == second.id


@pytest.mark.anyio
async def test_a_lost_create_made_in_the_fences_own_instant_is_adopted() -> None:
    """A server clock that does not move between the fence read and the create (coarse
    timestamps; the simulator's manual clock): the request the fan-out stored in that same
    instant is still its own, found and adopted, not sent again."""
    clock = ManualClock()
    sim = Simulator(devices=10, groups=0, seed=14, clock=clock)
    async with client_for(sim) as client:
        await store(client, command="LOCK", devices=sim.device_ids[:1], device_type="all")
        sim.faults = FaultPlan(script=[Fault(FaultKind.DROP_AFTER_STORE)], endpoints=["create"])
        result = await fan_out(
            client, command="REBOOT", devices=sim.device_ids, device_type="all", retry=FAST
        )
    assert [type(o).__name__ for o in result.outcomes] == ["Reconciled"]
    assert all(sim.stats.commands[(d, "REBOOT")] == 1 for d in sim.device_ids)


@pytest.mark.anyio
async def test_reconciliation_reads_one_filtered_page() -> None:
    """The lookup lists by command, command type and the chunk's first device, 50 a page: with
    60 newer requests differing in each of those, and 30 that pass the filters but target more
    devices, it still costs one call."""
    clock = ManualClock()
    sim = Simulator(devices=200, groups=0, seed=15, clock=clock)
    chunk_devices = sim.device_ids[:10]
    sim.faults = FaultPlan(script=[Fault(FaultKind.DROP_AFTER_STORE)], endpoints=["create"])
    async with client_for(sim) as client:
        fence = await take_fence(client.commands)
        p = device_plan(devices=chunk_devices)
        with pytest.raises(AmbiguousCreateError):
            await client.commands.create(command="REBOOT", devices=chunk_devices, device_type="all")
        clock.advance(1)
        first = chunk_devices[0]
        others = sim.device_ids[10:]
        for i in range(60):
            await store(client, command="LOCK", devices=[first], device_type="all")
            await store(client, command="REBOOT", devices=[first, others[i]], device_type="all",
                        command_type="DYNAMIC")  # fmt: skip
            await store(client, command="REBOOT", devices=[others[i]], device_type="all")
            if i < 30:
                await store(client, command="REBOOT", devices=[first, others[i]], device_type="all")
        before = sim.stats.calls["list"]
        found = await find_request(client.commands, p, p.chunks[0], fence=fence)
    assert found is not None
    assert sim.stats.calls["list"] - before == 1


@pytest.mark.anyio
async def test_the_fence_notes_every_request_of_its_instant_across_pages() -> None:
    """60 requests created in one instant (a clock that did not move): the fence holds all
    of them, read 50 a page, in two calls."""
    clock = ManualClock()
    sim = Simulator(devices=70, groups=0, seed=16, clock=clock)
    async with client_for(sim) as client:
        made = [
            await store(client, command="LOCK", devices=[d], device_type="all")
            for d in sim.device_ids[:60]
        ]
        before = sim.stats.calls["list"]
        fence = await take_fence(client.commands)
    assert fence.request_ids == {r.id for r in made}
    assert sim.stats.calls["list"] - before == 2
    assert fence.created_on is not None


class OldestFirst(httpx.AsyncBaseTransport):
    """The simulator, with request listings in the opposite order among equal times: how a
    server may order requests created in the same instant is its own business."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.sim.transport.handle_async_request(request)
        if request.method == "GET" and request.url.path.endswith("/command/"):
            body = json.loads(await response.aread())
            body["results"] = body["results"][::-1]  # one instant: reverse is a valid order
            return httpx.Response(response.status_code, json=body)
        return response


@pytest.mark.anyio
async def test_a_request_of_the_fences_instant_listed_after_a_fence_request_is_found() -> None:
    """Our lost create shares the fence's instant and is listed after the fence's own request:
    the lookup goes past the fence request (it only stops at an older time) and adopts it."""
    clock = ManualClock()
    sim = Simulator(devices=10, groups=0, seed=17, clock=clock)
    async with client_for(sim, transport=OldestFirst(sim)) as client:
        # The fence's request passes the lookup's filters (REBOOT, DEVICE, the first device).
        await store(client, command="REBOOT", devices=sim.device_ids[:1], device_type="all")
        sim.faults = FaultPlan(script=[Fault(FaultKind.DROP_AFTER_STORE)], endpoints=["create"])
        result = await fan_out(
            client, command="REBOOT", devices=sim.device_ids, device_type="all", retry=FAST
        )
    assert [type(o).__name__ for o in result.outcomes] == ["Reconciled"]
    assert [sim.stats.commands[(d, "REBOOT")] for d in sim.device_ids] == [2] + [1] * 9


@pytest.mark.anyio
async def test_find_request_reads_on_past_a_page_of_lookalikes() -> None:
    """60 newer requests pass the lookup's filters but are not the chunk's (more devices): the
    chunk's own request, on the second page, is still found."""
    clock = ManualClock()
    sim = Simulator(devices=100, groups=0, seed=18, clock=clock)
    chunk_devices = sim.device_ids[:10]
    async with client_for(sim) as client:
        fence = await take_fence(client.commands)
        own = await store(client, command="REBOOT", devices=chunk_devices, device_type="all")
        clock.advance(1)
        for other in sim.device_ids[10:70]:
            await store(client, command="REBOOT", devices=[chunk_devices[0], other],
                        device_type="all")  # fmt: skip
        p = device_plan(devices=chunk_devices)
        found = await find_request(client.commands, p, p.chunks[0], fence=fence)
    assert found is not None
    assert found.id == own.id
