"""fan_out against the simulator: exactly once under faults, targets, failures, progress, retry."""

from __future__ import annotations

import uuid
from collections import Counter

import anyio
import attrs
import httpx
import pytest

from esper_cmds import BadRequestError, ValidationError
from esper_cmds._fanout import (
    ChunkRetry,
    Created,
    Failed,
    FanOutError,
    FanOutProgress,
    Reconciled,
    fan_out,
    fan_out_iter,
)
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, Simulator

from .conftest import FAST, client_for

HARSH: dict[FaultKind | str, float] = {
    FaultKind.ERROR_BEFORE_STORE: 0.10,
    FaultKind.ERROR_AFTER_STORE: 0.05,
    FaultKind.DROP_AFTER_STORE: 0.05,
    FaultKind.THROTTLE: 0.10,
}


def per_device(sim: Simulator, command: str) -> Counter[int]:
    """How many devices hold 0, 1, 2... requests for `command`."""
    commands = sim.stats.commands
    return Counter(commands[(d, command)] for d in sim.device_ids)


@pytest.mark.anyio
async def test_created_outcome_holds_the_request_the_server_stored() -> None:
    """A Created outcome's request is the stored request, device ids included (they are decoded
    when first read), and its repr stays short."""
    sim = Simulator(devices=2500, groups=0, seed=3)
    async with client_for(sim) as client:
        result = await fan_out(client, command="REBOOT", devices=sim.device_ids, device_type="all")
        listed = {r.id: r for r in await client.commands.list().to_list(max_items=10)}
    assert len(result.created) == 3
    for outcome in result.created:
        assert isinstance(outcome, Created)
        request = outcome.request
        assert request is outcome.request  # decoded once
        assert request.id == outcome.request_id
        assert request.devices == tuple(uuid.UUID(d) for d in outcome.chunk.devices)
        assert request == attrs.evolve(listed[request.id], status=request.status)
        assert len(repr(outcome)) < 200
        assert str(outcome.request_id) in repr(outcome)
    full = result.created[0].request
    assert Created(result.created[0].chunk, full).request is full  # built with a whole request


@pytest.mark.anyio
async def test_50k_devices_under_faults_get_exactly_one_request_each() -> None:
    """20% lost or failed creates and 10% 429s: every device still gets exactly one command."""
    sim = Simulator(
        devices=50_000,
        groups=0,
        seed=11,
        faults=FaultPlan(probabilities=HARSH, endpoints={"create"}, seed=5),
    )
    async with client_for(sim) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            device_type="all",
            chunk_size=1000,
            retry=FAST,
        )
    faults = sim.stats.faults
    assert per_device(sim, "REBOOT") == Counter({1: 50_000})
    assert result.ok
    assert len(result.outcomes) == 50
    assert all(isinstance(o, Created | Reconciled) for o in result.outcomes)
    # Every stored-then-lost create was found, not resent.
    assert result.totals.reconciled == faults["error_after_store"] + faults["drop_after_store"] > 0
    assert faults["error_before_store"] > 0
    assert faults["throttle"] > 0
    assert sim.stats.requests_created == 50


@pytest.mark.anyio
async def test_faults_over_loopback_http() -> None:
    """The same guarantee over a real loopback server, where drops are real broken connections."""
    sim = Simulator(
        devices=5_000,
        groups=0,
        seed=3,
        faults=FaultPlan(probabilities=HARSH, endpoints={"create"}, seed=9),
    )
    with sim.serve_in_thread() as url:
        async with client_for(sim, url) as client:
            result = await fan_out(
                client,
                command="REBOOT",
                devices=sim.device_ids,
                device_type="all",
                chunk_size=250,
                retry=FAST,
            )
    assert result.ok
    assert result.totals.chunks == 20
    assert per_device(sim, "REBOOT") == Counter({1: 5_000})
    assert sim.stats.requests_created == 20


@pytest.mark.anyio
async def test_group_fan_out_sends_group_requests_in_chunks() -> None:
    """GROUP targets are sent as GROUP requests, chunk by chunk, each group once."""
    sim = Simulator(devices=300, groups=7, seed=2)
    async with client_for(sim) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            groups=sim.group_ids,
            chunk_size=3,
            device_type="all",
            retry=FAST,
        )
    assert [len(o.chunk.groups) for o in result.outcomes] == [3, 3, 1]
    assert {str(o.request.command_type) for o in result.created} == {"GROUP"}
    sent = sorted(str(g) for o in result.created for g in o.request.groups)
    assert sent == sorted(sim.group_ids)


@pytest.mark.anyio
async def test_dynamic_fan_out_when_asked() -> None:
    """command_type=DYNAMIC makes DYNAMIC requests over the given devices."""
    sim = Simulator(devices=50, groups=0, seed=2)
    async with client_for(sim) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            command_type="DYNAMIC",
            chunk_size=20,
            retry=FAST,
        )
    assert result.ok
    assert len(result.created) == 3
    assert {str(o.request.command_type) for o in result.created} == {"DYNAMIC"}


@pytest.mark.anyio
async def test_groups_resolved_to_their_devices() -> None:
    """resolve_groups lists each group's devices and sends DEVICE requests to each device once."""
    sim = Simulator(devices=400, groups=5, seed=4)
    members = {d for g in sim.group_ids for d in sim.group_members(g)}
    async with client_for(sim) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            groups=sim.group_ids,
            resolve_groups=True,
            device_type="all",
            chunk_size=100,
            retry=FAST,
        )
    assert {str(o.request.command_type) for o in result.created} == {"DEVICE"}
    sent = [d for o in result.outcomes for d in o.chunk.devices]
    assert sorted(sent) == sorted(members)
    commands = sim.stats.commands
    assert {commands[(d, "REBOOT")] for d in members} == {1}
    assert sim.stats.calls["devices"] >= len(sim.group_ids)


@pytest.mark.anyio
async def test_unknown_ids_fail_only_their_chunk() -> None:
    """Ids the server does not know fail that chunk with its 400; the other chunks are created."""
    sim = Simulator(devices=30, groups=0, seed=1)
    strangers = [str(uuid.UUID(int=i)) for i in range(1, 4)]
    async with client_for(sim) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            devices=[*sim.device_ids, *strangers],
            chunk_size=10,
            device_type="all",
            retry=FAST,
        )
    failed = result.failed
    assert [f.chunk.index for f in failed] == [3]
    assert isinstance(failed[0].error, BadRequestError)
    assert failed[0].retryable is False
    assert len(result.created) == 3
    assert result.totals.targets_failed == 3
    with pytest.raises(FanOutError, match="1 of 4 chunks failed"):
        result.raise_for_failures()


@pytest.mark.anyio
async def test_malformed_ids_and_empty_input_send_nothing() -> None:
    """A malformed id (named by index) or no targets at all is refused before any call."""
    sim = Simulator(devices=5, groups=0, seed=1)
    async with client_for(sim) as client:
        with pytest.raises(ValidationError, match=r"devices\[5\]"):
            await fan_out(client, command="REBOOT", devices=[*sim.device_ids, "nope"])
        with pytest.raises(ValidationError, match="at least one device or group"):
            await fan_out(client, command="REBOOT", devices=[])
        with pytest.raises(ValidationError, match="brightness_value"):
            await fan_out(client, command="SET_BRIGHTNESS_SCALE", devices=sim.device_ids)
    assert sum(sim.stats.calls.values()) == 0


@pytest.mark.anyio
async def test_lost_answer_is_reconciled_not_resent() -> None:
    """A create stored and then dropped is found on the server, not sent again."""
    sim = Simulator(
        devices=10,
        groups=0,
        seed=1,
        faults=FaultPlan(script=[Fault(FaultKind.DROP_AFTER_STORE)], endpoints={"create"}),
    )
    async with client_for(sim) as client:
        result = await fan_out(client, command="REBOOT", devices=sim.device_ids, retry=FAST)
    (outcome,) = result.outcomes
    assert isinstance(outcome, Reconciled)
    assert sim.stats.requests_created == 1
    assert sim.stats.calls["create"] == 1


@pytest.mark.anyio
async def test_retry_failed_reconciles_then_creates_only_the_failed() -> None:
    """A chunk left in doubt is looked up, then created, by retry_failed; others are untouched."""
    sim = Simulator(
        devices=30,
        groups=0,
        seed=1,
        faults=FaultPlan(script=[Fault(FaultKind.ERROR_BEFORE_STORE)], endpoints={"create"}),
    )
    async with client_for(sim) as client:
        first = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=10,
            device_type="all",
            concurrency=1,
            retry=ChunkRetry(max_attempts=1),
        )
        assert [f.chunk.index for f in first.failed] == [0]
        assert first.failed[0].retryable
        creates = sim.stats.calls["create"]
        second = await first.retry_failed()
    assert second.ok
    assert isinstance(second.outcomes[0], Created)
    assert second.outcomes[1:] == first.outcomes[1:]
    assert sim.stats.calls["create"] == creates + 1
    assert per_device(sim, "REBOOT") == Counter({1: 30})


@pytest.mark.anyio
async def test_progress_callback_and_stream_see_every_chunk_once() -> None:
    """on_progress counts up to the total; the stream yields each chunk's outcome exactly once."""
    sim = Simulator(devices=95, groups=0, seed=1)
    seen: list[FanOutProgress] = []
    async with (
        client_for(sim) as client,
        fan_out_iter(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=10,
            concurrency=3,
            on_progress=seen.append,
            retry=FAST,
        ) as outcomes,
    ):
        streamed = [o.chunk.index async for o in outcomes]
    assert sorted(streamed) == list(range(10))
    assert [p.done for p in seen] == list(range(1, 11))
    assert {p.total for p in seen} == {10}
    assert outcomes.result.totals.created == 10


@pytest.mark.anyio
async def test_leaving_the_stream_early_stops_the_rest() -> None:
    """Breaking out of the stream cancels the chunks not yet sent."""
    sim = Simulator(devices=100, groups=0, seed=1)
    async with client_for(sim) as client:
        async with fan_out_iter(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=5,
            concurrency=1,
            retry=FAST,
        ) as outcomes:
            async for _ in outcomes:
                break
        with pytest.raises(RuntimeError, match="still running"):
            _ = outcomes.result
    assert sim.stats.requests_created < 20


@pytest.mark.anyio
async def test_cancellation_propagates() -> None:
    """Cancelling the caller's scope stops the fan-out without an error or a result."""
    sim = Simulator(devices=100, groups=0, seed=1)
    with anyio.CancelScope() as scope:

        def stop(progress: FanOutProgress) -> None:
            scope.cancel()

        async with client_for(sim) as client:
            await fan_out(
                client,
                command="REBOOT",
                devices=sim.device_ids,
                chunk_size=5,
                concurrency=2,
                on_progress=stop,
                retry=FAST,
            )
        pytest.fail("fan_out returned despite cancellation")
    assert scope.cancelled_caught
    assert sim.stats.requests_created < 20


@pytest.mark.anyio
async def test_concurrency_is_bounded_and_used() -> None:
    """No more than `concurrency` creates are in flight, and that many are."""
    sim = Simulator(devices=400, groups=0, seed=1, latency=0.01)
    in_flight = peak = 0

    class Counting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await sim.transport.handle_async_request(request)
            finally:
                in_flight -= 1

    async with client_for(sim, transport=Counting()) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=10,
            concurrency=4,
            retry=FAST,
        )
    assert result.ok
    assert len(result.outcomes) == 40
    assert peak == 4


@pytest.mark.anyio
async def test_failed_outcome_types() -> None:
    """A chunk that keeps being throttled ends Failed and retryable after max_attempts."""
    sim = Simulator(
        devices=5,
        groups=0,
        seed=1,
        faults=FaultPlan(probabilities={FaultKind.THROTTLE: 1.0}, endpoints={"create"}),
    )
    async with client_for(sim) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            retry=ChunkRetry(max_attempts=3),
        )
    (outcome,) = result.outcomes
    assert isinstance(outcome, Failed)
    assert outcome.retryable
    assert outcome.in_doubt_since is None
    assert sim.stats.requests_created == 0
