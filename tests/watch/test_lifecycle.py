"""The watch against the simulator: every transition, final states, summaries and deadlines."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from esper_cmds import CommandState, is_terminal
from esper_cmds._watch import StateChange, WatchTimeoutError, wait, watch
from esper_cmds.simulator import Simulator

from .conftest import SimTime, raw_statuses, raw_totals, sim_client

LIFECYCLE = [
    CommandState.INITIATED,
    CommandState.ACKNOWLEDGED,
    CommandState.IN_PROGRESS,
]


@pytest.mark.anyio
async def test_one_step_per_round_sees_every_transition_once_in_order() -> None:
    """One lifecycle step per round: every transition of every device is reported exactly once."""
    sim = Simulator(devices=60, offline=0.0, seed=3, step_seconds=1.0, failure_rate=0.3)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        requests = [
            await client.commands.create(command="REBOOT", devices=sim.device_ids[i::3])
            for i in range(3)
        ]
        events: list[StateChange] = []
        async with watch(
            client,
            requests,
            timeout=60,
            interval=1.0,
            max_interval=1.0,
            jitter=0,
        ) as changes:
            events = [change async for change in changes]
    assert changes.summary.done
    by_device: dict[tuple[uuid.UUID, uuid.UUID], list[StateChange]] = {}
    for event in events:
        by_device.setdefault((event.request, event.device), []).append(event)
    assert len(by_device) == sum(len(r.devices) for r in requests)
    for (request_id, device), seen in by_device.items():
        final = (await raw_statuses(sim, str(request_id)))[str(device)]
        assert [e.new_state for e in seen] == [*LIFECYCLE, final]
        assert [e.old_state for e in seen] == [None, *LIFECYCLE]
        assert is_terminal(final)
    # The simulator's failure draw really produced both outcomes, so both were reported.
    assert {e.new_state for e in events if is_terminal(e.new_state)} == {
        CommandState.SUCCESS,
        CommandState.FAILURE,
    }


@pytest.mark.parametrize("seconds", [3.0, 600.0])
@pytest.mark.anyio
async def test_summary_matches_the_simulators_own_accounting(seconds: float) -> None:
    """Mid-flight at the deadline and at the end, the summary equals the simulator's own state."""
    sim = Simulator(devices=300, offline=0.0, seed=4, step_seconds=2.0, failure_rate=0.2)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        requests = []
        for i in range(3):
            requests.append(
                await client.commands.create(
                    command="LOCK", devices=sim.device_ids[i * 100 : i * 100 + 100]
                )
            )
            time.sim_clock.advance(1.0)  # requests at different lifecycle steps
        async with watch(client, requests, timeout=seconds, interval=0.5) as changes:
            summary = await changes.wait()
    assert summary.done == (seconds > 100)
    for request in requests:
        mine = summary.requests[request.id]
        server = await raw_statuses(sim, str(request.id))
        assert {str(d): str(s) for d, s in mine.states.items()} == server
        assert {str(s): n for s, n in mine.totals.items()} == await raw_totals(sim, str(request.id))
        assert {str(d) for d in mine.pending} == {
            d for d, s in server.items() if not is_terminal(s)
        }


@pytest.mark.anyio
async def test_deadline_returns_offline_devices_queued_under_all_as_pending() -> None:
    """When the deadline passes, the summary names exactly the devices still queued (offline)."""
    sim = Simulator(devices=40, offline=0.4, seed=5, step_seconds=1.0)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        request = await client.commands.create(
            command="REBOOT", devices=sim.device_ids, device_type="all"
        )
        offline = {uuid.UUID(d) for d in sim.device_ids if not sim.is_online(d)}
        assert offline  # the fleet has offline devices, or the test proves nothing
        start = time.monotonic()
        with pytest.raises(WatchTimeoutError) as caught:
            await wait(client, request, timeout=120)
    summary = caught.value.summary
    assert not summary.done
    assert set(summary.pending[request.id]) == offline
    assert all(summary.requests[request.id].states[d] == CommandState.QUEUED for d in offline)
    assert time.monotonic() - start == pytest.approx(120)


@pytest.mark.anyio
async def test_queued_is_done_stops_at_queued_devices() -> None:
    """With queued_is_done, a request whose other devices finished is done despite queued ones."""
    sim = Simulator(devices=40, offline=0.4, seed=5, step_seconds=1.0)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        request = await client.commands.create(
            command="REBOOT", devices=sim.device_ids, device_type="all"
        )
        summary = await wait(client, request, timeout=120, queued_is_done=True)
    totals = summary.requests[request.id].totals
    offline = sum(1 for d in sim.device_ids if not sim.is_online(d))
    assert summary.done
    assert summary.pending == {}
    assert totals[CommandState.QUEUED] == offline
    assert totals[CommandState.SUCCESS] == len(sim.device_ids) - offline
    assert sum(time.sleeps) < 120  # stopped well before the timeout


@pytest.mark.anyio
async def test_scheduled_is_in_flight_until_the_window_opens() -> None:
    """A WINDOW request reports Scheduled first, is not done while scheduled, and finishes later."""
    sim = Simulator(devices=10, offline=0.0, seed=6, step_seconds=1.0)
    time = SimTime(sim)
    opens = sim.clock.now() + dt.timedelta(minutes=10)
    async with sim_client(sim, time) as client:
        request = await client.commands.create(
            command="REBOOT",
            devices=sim.device_ids,
            schedule="WINDOW",
            schedule_args={"start_datetime": opens, "end_datetime": opens + dt.timedelta(hours=1)},
        )
        with pytest.raises(WatchTimeoutError) as caught:
            await wait(client, request, timeout=300)
        early = caught.value.summary.requests[request.id]
        assert set(early.states.values()) == {CommandState.SCHEDULED}
        assert len(early.pending) == len(sim.device_ids)

        async with watch(client, [request.id], timeout=3600) as changes:
            events = [change async for change in changes]
    assert changes.summary.done
    firsts = [e for e in events if e.old_state is None]
    assert {e.new_state for e in firsts} == {CommandState.SCHEDULED}
    assert len(firsts) == len(sim.device_ids)
    finals = [e for e in events if is_terminal(e.new_state)]
    assert {e.new_state for e in finals} == {CommandState.SUCCESS}
    assert all(e.at >= opens for e in finals)


@pytest.mark.anyio
async def test_a_group_request_over_1000_devices_reads_only_the_moving_states() -> None:
    """A 2400-device group request: state-filtered reads still report every transition once."""
    sim = Simulator(devices=2400, groups=4, offline=0.25, seed=12, step_seconds=1.0)
    time = SimTime(sim)
    offline = [d for d in sim.device_ids if not sim.is_online(d)]
    woken = offline[:7]

    def wake(sleeps: int) -> None:
        if sleeps == 10:
            for device in woken:
                sim.set_online(device, True)

    time.hooks.append(wake)
    async with sim_client(sim, time, rate_limit=None) as client:
        request = await client.commands.create(
            command="REBOOT", groups=sim.group_ids, device_type="all"
        )
        sim.reset_stats()
        async with watch(
            client,
            [request.id],
            timeout=30,
            interval=1.0,
            max_interval=1.0,
            jitter=0,
        ) as changes:
            events = [change async for change in changes]
    summary = changes.summary
    server = await raw_statuses(sim, str(request.id))
    assert len(server) > 1000
    assert {str(d): str(s) for d, s in summary.requests[request.id].states.items()} == server
    for device in woken:
        seen = [e.new_state for e in events if str(e.device) == device]
        assert seen == [CommandState.QUEUED, *LIFECYCLE, CommandState.SUCCESS]
    # An unfiltered round costs 3 pages; rounds where only queued devices remain cost less.
    assert summary.calls < 3 * summary.rounds
    assert set(summary.pending[request.id]) == {uuid.UUID(d) for d in offline if d not in woken}


@pytest.mark.anyio
async def test_pending_counts_requests_not_read_yet() -> None:
    """Before the first round, every watched request is pending (devices unknown yet), not left
    out; once all are done, none is."""
    sim = Simulator(devices=30, offline=0.0, seed=5, step_seconds=1.0)
    time = SimTime(sim)
    async with sim_client(sim, time) as client:
        requests = [
            await client.commands.create(command="REBOOT", devices=sim.device_ids[i::3])
            for i in range(3)
        ]
        async with watch(client, requests, timeout=60, interval=1.0) as changes:
            early = changes.summary
            final = await changes.wait()
    assert set(early.pending) == {r.id for r in requests}
    assert all(devices == () for devices in early.pending.values())
    assert not early.done
    assert final.done
    assert final.pending == {}
