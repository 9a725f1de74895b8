"""The command lifecycle through the nine states, driven by a ManualClock."""

from __future__ import annotations

import datetime as dt
import gc

import pytest

from esper_cmds.simulator import STATES, ManualClock, Simulator

from ._support import (
    all_statuses,
    commands_path,
    create,
    offline_ids,
    online_ids,
    state_by_device,
    status_path,
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each test on asyncio and on trio."""
    return str(request.param)


def _clock(sim: Simulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


def _iso(sim: Simulator, seconds_from_now: float) -> str:
    moment = _clock(sim).now() + dt.timedelta(seconds=seconds_from_now)
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.anyio
async def test_online_device_walks_initiated_to_success(sim: Simulator) -> None:
    """An online device goes Initiated → Acknowledged → In Progress → Success, one step a second."""
    device = online_ids(sim)[0]
    async with sim.client() as client:
        req = await create(client, sim, devices=[device])
        seen = []
        for _ in range(4):
            rows = await all_statuses(client, sim, req["id"])
            seen.append(rows[0]["state"])
            _clock(sim).advance(1.0)
    assert seen == [
        "Command Initiated",
        "Command Acknowledged",
        "Command In Progress",
        "Command Success",
    ]


@pytest.mark.anyio
async def test_failure_rate_one_ends_in_failure_with_reason() -> None:
    """With failure_rate=1 every command ends in "Command Failure" with a reason."""
    sim = Simulator(devices=5, groups=1, offline=0.0, failure_rate=1.0)
    async with sim.client() as client:
        req = await create(client, sim, devices=sim.device_ids)
        _clock(sim).advance(3.0)
        rows = await all_statuses(client, sim, req["id"])
    assert {r["state"] for r in rows} == {"Command Failure"}
    assert all(r["reason"] for r in rows)


@pytest.mark.anyio
async def test_failures_are_a_deterministic_share() -> None:
    """failure_rate=0.5 fails roughly half, the same rows on every run with the same seed."""
    outcomes = []
    for _ in range(2):
        sim = Simulator(devices=400, groups=2, offline=0.0, failure_rate=0.5)
        async with sim.client() as client:
            req = await create(client, sim, command_type="GROUP", groups=sim.group_ids)
            _clock(sim).advance(10.0)
            outcomes.append(await state_by_device(client, sim, req["id"]))
    assert outcomes[0] == outcomes[1]
    failures = sum(state == "Command Failure" for state in outcomes[0].values())
    assert 140 <= failures <= 260


@pytest.mark.anyio
async def test_device_type_active_skips_offline_devices(sim: Simulator) -> None:
    """device_type=active gives rows only to the online targets."""
    targets = online_ids(sim)[:3] + offline_ids(sim)[:2]
    async with sim.client() as client:
        req = await create(client, sim, devices=targets, device_type="active")
        states = await state_by_device(client, sim, req["id"])
    assert set(states) == set(online_ids(sim)[:3])
    assert req["devices"] == targets  # the request echoes every target, in the order sent


@pytest.mark.anyio
async def test_device_type_inactive_targets_only_offline_and_queues_them(sim: Simulator) -> None:
    """device_type=inactive gives rows only to offline targets, which wait in "Command Queued"."""
    targets = online_ids(sim)[:3] + offline_ids(sim)[:2]
    async with sim.client() as client:
        req = await create(client, sim, devices=targets, device_type="inactive")
        states = await state_by_device(client, sim, req["id"])
    assert states == dict.fromkeys(offline_ids(sim)[:2], "Command Queued")


@pytest.mark.anyio
async def test_device_type_all_queues_offline_until_online(sim: Simulator) -> None:
    """Under `all` an offline device is Queued, then runs its lifecycle once it comes online."""
    device = offline_ids(sim)[0]
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], device_type="all")
        _clock(sim).advance(3600)
        assert (await state_by_device(client, sim, req["id"]))[device] == "Command Queued"
        sim.set_online(device, True)
        assert (await state_by_device(client, sim, req["id"]))[device] == "Command Initiated"
        _clock(sim).advance(3.0)
        rows = await all_statuses(client, sim, req["id"])
    assert rows[0]["state"] == "Command Success"
    assert rows[0]["updated_on"] == _iso(sim, 0)


@pytest.mark.anyio
async def test_queued_past_expiry_times_out() -> None:
    """A device that stays offline past queue_expiry_seconds ends in "Command TimeOut"."""
    sim = Simulator(devices=4, groups=1, offline=1.0, queue_expiry_seconds=600)
    async with sim.client() as client:
        req = await create(client, sim, devices=sim.device_ids)
        _clock(sim).advance(599)
        assert set((await state_by_device(client, sim, req["id"])).values()) == {"Command Queued"}
        _clock(sim).advance(1)
        assert set((await state_by_device(client, sim, req["id"])).values()) == {"Command TimeOut"}
        sim.set_online(sim.device_ids[0], True)  # too late: the command already expired
        assert set((await state_by_device(client, sim, req["id"])).values()) == {"Command TimeOut"}


@pytest.mark.parametrize("schedule", ["WINDOW", "RECURRING"])
@pytest.mark.anyio
async def test_scheduled_until_window_start(sim: Simulator, schedule: str) -> None:
    """WINDOW and RECURRING requests sit in "Command Scheduled" until start_datetime."""
    device = online_ids(sim)[0]
    args = {"name": "later", "start_datetime": _iso(sim, 60), "end_datetime": _iso(sim, 3600)}
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule=schedule, schedule_args=args)
        assert req["status"] == [{"state": "Command Scheduled", "total": 1}]
        _clock(sim).advance(59.5)
        assert (await state_by_device(client, sim, req["id"]))[device] == "Command Scheduled"
        _clock(sim).advance(0.5)
        assert (await state_by_device(client, sim, req["id"]))[device] == "Command Initiated"


@pytest.mark.anyio
async def test_window_end_times_out_a_queued_device(sim: Simulator) -> None:
    """An offline device that misses its whole window times out at the window's end."""
    device = offline_ids(sim)[0]
    args = {"start_datetime": _iso(sim, 10), "end_datetime": _iso(sim, 100)}
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="WINDOW", schedule_args=args)
        _clock(sim).advance(50)
        assert (await state_by_device(client, sim, req["id"]))[device] == "Command Queued"
        _clock(sim).advance(50)
        assert (await state_by_device(client, sim, req["id"]))[device] == "Command TimeOut"


@pytest.mark.anyio
async def test_cancel_turns_waiting_rows_cancelled_and_leaves_running_ones(sim: Simulator) -> None:
    """cancel_request cancels Queued rows; a row already running still finishes."""
    running, waiting = online_ids(sim)[0], offline_ids(sim)[0]
    async with sim.client() as client:
        req = await create(client, sim, devices=[running, waiting])
        sim.cancel_request(req["id"])
        _clock(sim).advance(5)
        states = await state_by_device(client, sim, req["id"])
    assert states == {running: "Command Success", waiting: "Command Cancelled"}


@pytest.mark.anyio
async def test_all_nine_states_at_once_and_totals_match_rows() -> None:
    """One moment can show all nine states; `status` totals equal the rows' states."""
    sim = Simulator(devices=60, groups=3, offline=0.5, failure_rate=0.5, queue_expiry_seconds=100)
    clock = _clock(sim)
    on, off = online_ids(sim), offline_ids(sim)
    async with sim.client() as client:
        timed_out = await create(client, sim, devices=off[:2])
        success_failure = await create(client, sim, devices=on[:20])
        clock.advance(100)  # the first request's queue expires; the second has finished
        queued = await create(client, sim, devices=off[2:4])
        cancelled = await create(client, sim, devices=off[4:6])
        sim.cancel_request(cancelled["id"])
        initiated = await create(client, sim, devices=on[20:22])
        clock.advance(1)
        await create(client, sim, devices=on[22:24])  # Acknowledged one step from now
        clock.advance(1)
        await create(client, sim, devices=on[24:26])  # just Initiated; the first is In Progress
        args = {"start_datetime": _iso(sim, 100), "end_datetime": _iso(sim, 200)}
        await create(client, sim, devices=on[26:28], schedule="WINDOW", schedule_args=args)
        listing = (await client.get(commands_path(sim), params={"limit": "100"})).json()
        seen: set[str] = set()
        for item in listing["results"]:
            rows = await all_statuses(client, sim, item["id"])
            from_rows: dict[str, int] = {}
            for row in rows:
                from_rows[row["state"]] = from_rows.get(row["state"], 0) + 1
            assert {s["state"]: s["total"] for s in item["status"]} == from_rows
            seen |= set(from_rows)
    assert seen == set(STATES)
    assert timed_out["id"]
    assert success_failure["id"]
    assert queued["id"]
    assert initiated["id"]


@pytest.mark.anyio
async def test_totals_match_rows_under_churn() -> None:
    """With churn, per-state totals always equal a count of the rows' own states."""
    sim = Simulator(devices=300, groups=3, offline=0.4, churn_seconds=30.0, failure_rate=0.2)
    async with sim.client() as client:
        req = await create(client, sim, command_type="GROUP", groups=sim.group_ids)
        for _ in range(12):
            _clock(sim).advance(1.7)
            rows = await all_statuses(client, sim, req["id"])
            counted: dict[str, int] = {}
            for row in rows:
                counted[row["state"]] = counted.get(row["state"], 0) + 1
            listing = (await client.get(commands_path(sim))).json()["results"][0]
            assert {s["state"]: s["total"] for s in listing["status"]} == counted
            for state, n in counted.items():
                filtered = await all_statuses(client, sim, req["id"], state=state)
                assert len(filtered) == n
                assert {r["state"] for r in filtered} == {state}


@pytest.mark.anyio
async def test_zero_target_request_is_created_without_rows() -> None:
    """`active` on an all-offline group is still created (201) with no rows and empty totals."""
    sim = Simulator(devices=6, groups=1, offline=1.0)
    async with sim.client() as client:
        req = await create(
            client, sim, command_type="GROUP", groups=sim.group_ids, device_type="active"
        )
        page = (await client.get(status_path(sim, req["id"]))).json()
    assert req["status"] == []
    assert page["count"] == 0
    assert page["results"] == []
    assert sim.stats.requests_created == 1
    assert not sim.stats.commands


@pytest.mark.anyio
async def test_request_body_is_echoed(sim: Simulator) -> None:
    """The 201 echoes the request with server fields filled in."""
    args = {"package_name": "com.example", "app_state": "HIDE"}
    async with sim.client() as client:
        req = await create(
            client, sim, devices=sim.device_ids[:2], command="SET_APP_STATE", command_args=args
        )
    assert req["command"] == "SET_APP_STATE"
    assert req["command_args"] == args
    assert req["enterprise"] == sim.enterprise_id
    assert req["schedule"] == "IMMEDIATE"
    assert req["created_on"] == "2026-01-01T00:00:00Z"
    assert req["issued_by"] == "1"
    assert req["groups"] == []
    assert req["device_type"] == "all"


@pytest.mark.anyio
async def test_stored_rows_cost_the_garbage_collector_nothing() -> None:
    """A stored request's per-row data ends up untracked by the cyclic garbage collector.

    A simulator serving a 100,000-device fan-out holds 100,000s of rows for good; were they in
    lists or sets, every full collection would walk them all and pause every answer.
    """
    sim = Simulator(devices=1000, groups=0, failure_rate=0.5)
    async with sim.client() as client:
        req = await create(client, sim, devices=sim.device_ids, device_type="all")
        _clock(sim).advance(10)
        assert len(await all_statuses(client, sim, req["id"])) == 1000  # fills the lifecycle data
    gc.collect()
    stored = sim._store.by_id[req["id"]]
    held = {
        "row_devices": stored.row_devices,
        "row_indexes": stored.row_indexes,
        "fails": stored.fails,
        "targets": stored.targets,
        "starts": stored._starts,
        "sorted_ok": stored._sorted_ok,
        "sorted_fail": stored._sorted_fail,
        "body devices": stored.body["devices"],
    }
    assert all(len(v) for v in held.values())  # failure_rate=0.5: both sorted lists filled
    assert {k: gc.is_tracked(v) for k, v in held.items()} == dict.fromkeys(held, False)
