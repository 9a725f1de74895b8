"""The watch's polling behaviour: back-off, cancellation, errors and argument checks."""

from __future__ import annotations

import uuid

import anyio
import pytest

from esper_cmds import CommandState, NotFoundError, ValidationError
from esper_cmds._watch import watch
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, Simulator

from .conftest import SimTime, sim_client


@pytest.mark.anyio
async def test_backoff_cuts_calls_while_nothing_changes() -> None:
    """While nothing changes the delay grows to max_interval, so far fewer calls are made."""
    sim = Simulator(devices=5, offline=0.0, seed=7)
    time = SimTime(sim)
    opens = sim.clock.now().replace(year=2027)  # nothing will change during the watch
    watched_for, interval = 600.0, 1.0
    async with sim_client(sim, time) as client:
        request = await client.commands.create(
            command="REBOOT",
            devices=sim.device_ids,
            schedule="WINDOW",
            schedule_args={"start_datetime": opens, "end_datetime": opens.replace(month=2)},
        )
        sim.reset_stats()
        async with watch(
            client,
            [request.id],
            timeout=watched_for,
            interval=interval,
            max_interval=60.0,
        ) as changes:
            summary = await changes.wait()
    assert not summary.done
    calls = sum(sim.stats.calls.values())
    assert calls == summary.calls  # the watch counts its calls as the server does
    # A fixed interval would have polled once per interval, one call each time.
    assert calls * 10 < watched_for / interval
    # The first round sees every device (a change), so the first delay is the interval; then
    # the delay grows 1.5x up to 60 s, and jitter only ever shortens it, by up to 20 %.
    assert max(time.sleeps) <= 60.0
    assert max(time.sleeps) > 60.0 * 0.8 - 1e-9
    ceilings = [1.0] + [min(60.0, 1.5**i) for i in range(len(time.sleeps))]
    assert all(c * 0.8 - 1e-9 <= s <= c for s, c in zip(time.sleeps[:-1], ceilings, strict=False))


@pytest.mark.anyio
async def test_backoff_resets_when_a_device_changes() -> None:
    """After a long quiet spell, a change brings the delay back to the first interval."""
    sim = Simulator(devices=6, offline=0.5, seed=8, step_seconds=1.0)
    time = SimTime(sim)
    offline = [d for d in sim.device_ids if not sim.is_online(d)]
    assert offline
    wake_after = 12

    def wake(sleeps: int) -> None:
        if sleeps == wake_after:
            for device in offline:
                sim.set_online(device, True)

    time.hooks.append(wake)
    async with sim_client(sim, time) as client:
        request = await client.commands.create(
            command="REBOOT", devices=sim.device_ids, device_type="all"
        )
        async with watch(
            client,
            [request.id],
            timeout=3600,
            interval=1.0,
            max_interval=30.0,
            jitter=0,
        ) as changes:
            summary = await changes.wait()
    assert summary.done
    assert time.sleeps[wake_after - 1] > 10  # backed off while the queued devices slept
    assert time.sleeps[wake_after] == 1.0  # the round after waking saw changes: reset


@pytest.mark.anyio
async def test_leaving_the_block_stops_polling() -> None:
    """Breaking out after the first change ends the watch cleanly; no call is made afterwards."""
    sim = Simulator(devices=20, offline=0.0, seed=9)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids)
        async with watch(client, [request.id], timeout=600) as changes:
            async for change in changes:
                assert change.new_state == CommandState.INITIATED
                break
        calls = sum(sim.stats.calls.values())
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert sum(sim.stats.calls.values()) == calls
        assert not changes.summary.done


@pytest.mark.anyio
async def test_outer_cancellation_propagates_cleanly() -> None:
    """Cancelling the scope around a watch cancels the polling task and nothing else leaks."""
    sim = Simulator(devices=20, offline=0.0, seed=9)
    time = SimTime(sim)
    seen = 0
    async with sim_client(sim, time) as client:
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids)
        with anyio.CancelScope() as scope:
            async with watch(client, [request.id], timeout=600) as changes:
                async for _ in changes:
                    seen += 1
                    if seen == 5:
                        scope.cancel()
        assert scope.cancelled_caught
        assert seen == 5


@pytest.mark.anyio
async def test_body_error_propagates_as_itself() -> None:
    """An exception raised in the block comes out unwrapped, not as an exception group."""
    sim = Simulator(devices=5, offline=0.0, seed=9)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids)

        async def consume() -> None:
            async with watch(client, [request.id], timeout=60) as changes:
                async for _ in changes:
                    raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            await consume()


@pytest.mark.anyio
async def test_unknown_request_raises_not_found_from_iteration() -> None:
    """A request that does not exist ends the iteration with NotFoundError, unwrapped."""
    sim = Simulator(devices=5, offline=0.0, seed=9)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:

        async def consume() -> None:
            async with watch(client, [uuid.uuid4()], timeout=60) as changes:
                async for _ in changes:
                    pass

        with pytest.raises(NotFoundError):
            await consume()


@pytest.mark.anyio
async def test_transient_read_failure_is_retried_next_round() -> None:
    """A malformed status page counts as an error and the next round still finishes the watch."""
    sim = Simulator(devices=5, offline=0.0, seed=9, step_seconds=1.0)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids)
        sim.faults = FaultPlan(
            script=[Fault(kind=FaultKind.MALFORMED_JSON)], endpoints={"statuses"}
        )
        async with watch(client, [request.id], timeout=60) as changes:
            summary = await changes.wait()
    assert summary.errors == 1
    assert summary.done
    assert set(summary.requests[request.id].totals) == {CommandState.SUCCESS}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "timeout"),
        ({"timeout": 5, "deadline": 5.0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 5, "interval": 0}, "interval"),
        ({"timeout": 5, "interval": 5, "max_interval": 1}, "max_interval"),
        ({"timeout": 5, "jitter": 1.0}, "jitter"),
        ({"timeout": 5, "concurrency": 0}, "concurrency"),
        ({"timeout": 5, "page_size": 1001}, "page_size"),
        ({"timeout": 5, "request_ids": ["not-a-uuid"]}, "request_ids"),
    ],
)
@pytest.mark.anyio
async def test_bad_arguments_are_refused_before_any_call(
    kwargs: dict[str, object], field: str
) -> None:
    """Bad arguments raise ValidationError naming the field, and nothing is sent."""
    sim = Simulator(devices=5, offline=0.0, seed=9)
    kwargs = dict(kwargs)  # the parameter is shared by both event loops' runs
    request_ids = kwargs.pop("request_ids", [uuid.uuid4()])
    async with sim_client(sim) as client:
        with pytest.raises(ValidationError) as caught:
            async with watch(client, request_ids, **kwargs):  # type: ignore[arg-type]
                pass
    assert caught.value.field == field
    assert sum(sim.stats.calls.values()) == 0
