"""WINDOW and RECURRING as documented: days, daily windows, time_type, DST, retries until success.

Everything runs on the manual clock: time moves only when a test says so.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import httpx
import pytest

from esper_cmds.simulator import ManualClock, Simulator
from esper_cmds.simulator._lifecycle import window_intervals
from esper_cmds.simulator._validation import Schedule

from ._support import all_statuses, create, state_by_device

UTC = dt.UTC


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each test on asyncio and on trio."""
    return str(request.param)


def _at(sim: Simulator, moment: dt.datetime) -> None:
    """Move the manual clock forward to `moment`."""
    clock = sim.clock
    assert isinstance(clock, ManualClock)
    seconds = (moment - clock.now()).total_seconds()
    assert seconds >= 0, f"{moment} is in the past"
    clock.advance(seconds)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _states(client: httpx.AsyncClient, sim: Simulator, request_id: str) -> dict[str, str]:
    return await state_by_device(client, sim, request_id)


async def _totals(client: httpx.AsyncClient, sim: Simulator, request_id: str) -> dict[str, int]:
    """The request's `status` totals, which must agree with its rows."""
    listing = (await client.get(f"/v0/enterprise/{sim.enterprise_id}/command/")).json()
    (item,) = [r for r in listing["results"] if r["id"] == request_id]
    totals = {s["state"]: s["total"] for s in item["status"]}
    rows: dict[str, int] = {}
    for row in await all_statuses(client, sim, request_id):
        rows[row["state"]] = rows.get(row["state"], 0) + 1
    assert totals == rows
    return totals


# 2026-01-01 (the ManualClock's default start) is a Thursday.
THURSDAY = dt.datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.anyio
async def test_window_fires_only_on_its_days_inside_its_daily_window() -> None:
    """A Saturday 09:00-10:00 window waits through Thursday and Friday, and fires Saturday 09:00."""
    sim = Simulator(devices=2, groups=1, offline=0.0)
    device = sim.device_ids[0]
    args = {
        "start_datetime": _iso(THURSDAY),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=7)),
        "days": ["Saturday"],
        "window_start_time": "09:00",
        "window_end_time": "10:00",
    }
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="WINDOW", schedule_args=args)
        for moment in (
            THURSDAY + dt.timedelta(hours=9, minutes=30),
            THURSDAY.replace(day=2, hour=9),
        ):
            _at(sim, moment)  # Thursday and Friday inside the hours, but not the day
            assert (await _states(client, sim, req["id"]))[device] == "Command Scheduled"
        _at(sim, dt.datetime(2026, 1, 3, 8, 59, 59, tzinfo=UTC))
        assert (await _states(client, sim, req["id"]))[device] == "Command Scheduled"
        _at(sim, dt.datetime(2026, 1, 3, 9, tzinfo=UTC))
        assert (await _states(client, sim, req["id"]))[device] == "Command Initiated"
        _at(sim, dt.datetime(2026, 1, 3, 9, 0, 3, tzinfo=UTC))
        assert (await _states(client, sim, req["id"]))[device] == "Command Success"
        assert await _totals(client, sim, req["id"]) == {"Command Success": 1}


@pytest.mark.anyio
async def test_offline_device_is_queued_inside_the_window_and_scheduled_outside() -> None:
    """Waiting inside an open window (device offline) is Queued; between windows, Scheduled."""
    sim = Simulator(devices=2, groups=1, offline=1.0)
    device = sim.device_ids[0]
    args = {
        "start_datetime": _iso(THURSDAY),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=3)),
        "window_start_time": "09:00",
        "window_end_time": "10:00",
    }
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="WINDOW", schedule_args=args)
        _at(sim, THURSDAY.replace(hour=9, minute=30))
        assert (await _states(client, sim, req["id"]))[device] == "Command Queued"
        _at(sim, THURSDAY.replace(hour=11))
        assert (await _states(client, sim, req["id"]))[device] == "Command Scheduled"
        _at(sim, THURSDAY.replace(day=2, hour=9, minute=15))
        sim.set_online(device, True)  # comes back inside Friday's window: fires at once
        assert (await _states(client, sim, req["id"]))[device] == "Command Initiated"


@pytest.mark.anyio
async def test_device_time_reads_each_devices_own_timezone() -> None:
    """time_type=device fires each device at 09:00 on its own clock; console at 09:00 UTC."""
    sim = Simulator(devices=2, groups=1, offline=0.0, device_timezones=["Asia/Tokyo", "UTC"])
    tokyo = next(d for d in sim.device_ids if sim.device_timezone(d) == "Asia/Tokyo")
    utc = next(d for d in sim.device_ids if sim.device_timezone(d) == "UTC")
    base = {
        "start_datetime": _iso(THURSDAY + dt.timedelta(hours=12)),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=2)),
        "window_start_time": "09:00:00",
        "window_end_time": "09:30:00",
    }
    async with sim.client() as client:
        by_device = await create(
            client,
            sim,
            devices=[tokyo, utc],
            schedule="WINDOW",
            schedule_args={**base, "time_type": "device"},
        )
        by_console = await create(
            client,
            sim,
            devices=[tokyo, utc],
            schedule="WINDOW",
            schedule_args={**base, "time_type": "console"},
        )
        # Friday 09:00 in Tokyo is Friday 00:00 UTC.
        _at(sim, dt.datetime(2026, 1, 2, 0, 0, 0, tzinfo=UTC))
        assert await _states(client, sim, by_device["id"]) == {
            tokyo: "Command Initiated",
            utc: "Command Scheduled",
        }
        assert set((await _states(client, sim, by_console["id"])).values()) == {"Command Scheduled"}
        _at(sim, dt.datetime(2026, 1, 2, 9, 0, 0, tzinfo=UTC))
        assert (await _states(client, sim, by_device["id"]))[utc] == "Command Initiated"
        assert set((await _states(client, sim, by_console["id"])).values()) == {"Command Initiated"}


@pytest.mark.anyio
async def test_console_timezone_is_configurable() -> None:
    """time_type=console reads the simulator's console timezone (here New York)."""
    sim = Simulator(devices=1, groups=1, offline=0.0, console_timezone="America/New_York")
    device = sim.device_ids[0]
    args = {
        "start_datetime": _iso(THURSDAY),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=1)),
        "window_start_time": "09:00",
        "window_end_time": "10:00",
    }
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="WINDOW", schedule_args=args)
        _at(sim, THURSDAY.replace(hour=13, minute=59))  # 08:59 in New York (UTC-5 in January)
        assert (await _states(client, sim, req["id"]))[device] == "Command Scheduled"
        _at(sim, THURSDAY.replace(hour=14))
        assert (await _states(client, sim, req["id"]))[device] == "Command Initiated"


@pytest.mark.anyio
async def test_recurring_fires_again_after_a_failure_across_dst() -> None:
    """A RECURRING command that keeps failing fires in every daily window until it expires.

    The device lives in New York, where DST starts on 2026-03-08: the 09:00 window opens at
    14:00 UTC on the 7th and at 13:00 UTC on the 8th and 9th.
    """
    start = dt.datetime(2026, 3, 7, tzinfo=UTC)
    sim = Simulator(
        devices=1,
        groups=1,
        offline=0.0,
        failure_rate=1.0,
        clock=ManualClock(start=start),
        device_timezones=["America/New_York"],
    )
    device = sim.device_ids[0]
    args = {
        "start_datetime": _iso(start),
        "end_datetime": _iso(dt.datetime(2026, 3, 10, tzinfo=UTC)),
        "window_start_time": "09:00",
        "window_end_time": "10:00",
        "time_type": "device",
    }
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="RECURRING", schedule_args=args)
        fired = []
        for day, hour in ((7, 14), (8, 13), (9, 13)):
            opens = dt.datetime(2026, 3, day, hour, tzinfo=UTC)
            _at(sim, opens - dt.timedelta(seconds=1))
            assert (await _states(client, sim, req["id"]))[device] == "Command Scheduled"
            _at(sim, opens)
            assert (await _states(client, sim, req["id"]))[device] == "Command Initiated"
            _at(sim, opens + dt.timedelta(seconds=5))
            # Failed, but the schedule has not expired: it waits for the next window.
            (row,) = await all_statuses(client, sim, req["id"])
            assert row["state"] == "Command Scheduled"
            fired.append(opens)
        _at(sim, dt.datetime(2026, 3, 10, tzinfo=UTC))
        (row,) = await all_statuses(client, sim, req["id"])
    assert row["state"] == "Command Failure"
    assert row["updated_on"] == "2026-03-10T00:00:00Z"
    assert [f.hour for f in fired] == [14, 13, 13]


@pytest.mark.anyio
async def test_recurring_stops_at_the_first_success_and_window_never_retries() -> None:
    """With a 50% failure rate, a RECURRING row that failed once succeeds in a later window and
    stays Success; the same failure under WINDOW is final at once."""
    sim = Simulator(devices=40, groups=1, offline=0.0, failure_rate=0.5, seed=3)
    args = {
        "start_datetime": _iso(THURSDAY),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=30)),
        "window_start_time": "09:00",
        "window_end_time": "10:00",
    }
    async with sim.client() as client:
        recurring = await create(
            client, sim, devices=sim.device_ids, schedule="RECURRING", schedule_args=args
        )
        window = await create(
            client, sim, devices=sim.device_ids, schedule="WINDOW", schedule_args=args
        )
        _at(sim, THURSDAY.replace(hour=9, minute=1))
        first = await _states(client, sim, recurring["id"])
        first_window = await _states(client, sim, window["id"])
        retrying = [d for d, state in first.items() if state == "Command Scheduled"]
        assert retrying, "expected some first attempts to fail"
        assert set(first.values()) == {"Command Scheduled", "Command Success"}
        assert "Command Failure" in first_window.values()
        seen_success_after_retry = False
        for day in range(2, 30):
            _at(sim, dt.datetime(2026, 1, day, 9, 1, tzinfo=UTC))
            states = await _states(client, sim, recurring["id"])
            # Success is final: a row that succeeded never goes back to Scheduled.
            assert all(
                states[d] == "Command Success" for d in first if first[d] == "Command Success"
            )
            seen_success_after_retry |= any(states[d] == "Command Success" for d in retrying)
            first = states
            assert await _states(client, sim, window["id"]) == first_window
        totals = await _totals(client, sim, recurring["id"])
    assert seen_success_after_retry
    assert set(totals) <= {"Command Success", "Command Scheduled"}


@pytest.mark.anyio
async def test_recurring_without_a_daily_window_retries_the_next_day() -> None:
    """Without days or a daily window, each local day is a window: a failure fires again at the
    next midnight (the device's, here Tokyo's: 15:00 UTC)."""
    sim = Simulator(
        devices=1, groups=1, offline=0.0, failure_rate=1.0, device_timezones=["Asia/Tokyo"]
    )
    device = sim.device_ids[0]
    args = {
        "start_datetime": _iso(THURSDAY + dt.timedelta(hours=1)),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=2)),
        "time_type": "device",
    }
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="RECURRING", schedule_args=args)
        _at(sim, THURSDAY.replace(hour=1))
        assert (await _states(client, sim, req["id"]))[device] == "Command Initiated"
        _at(sim, THURSDAY.replace(hour=14, minute=59))
        assert (await _states(client, sim, req["id"]))[device] == "Command Scheduled"
        _at(sim, THURSDAY.replace(hour=15))
        assert (await _states(client, sim, req["id"]))[device] == "Command Initiated"


@pytest.mark.anyio
async def test_cancel_ends_a_recurring_retry() -> None:
    """Cancelling while a failed RECURRING row waits for its next window cancels it."""
    sim = Simulator(devices=1, groups=1, offline=0.0, failure_rate=1.0)
    device = sim.device_ids[0]
    args = {
        "start_datetime": _iso(THURSDAY),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=5)),
        "window_start_time": "09:00",
        "window_end_time": "10:00",
    }
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="RECURRING", schedule_args=args)
        _at(sim, THURSDAY.replace(hour=12))
        assert (await _states(client, sim, req["id"]))[device] == "Command Scheduled"
        sim.cancel_request(req["id"])
        _at(sim, THURSDAY.replace(day=3, hour=12))
        assert (await _states(client, sim, req["id"]))[device] == "Command Cancelled"


@pytest.mark.anyio
async def test_changing_a_device_timezone_moves_its_window() -> None:
    """set_device_timezone re-plans a waiting device-time schedule."""
    sim = Simulator(devices=1, groups=1, offline=0.0)
    device = sim.device_ids[0]
    args = {
        "start_datetime": _iso(THURSDAY),
        "end_datetime": _iso(THURSDAY + dt.timedelta(days=2)),
        "window_start_time": "09:00",
        "window_end_time": "10:00",
        "time_type": "device",
    }
    async with sim.client() as client:
        req = await create(client, sim, devices=[device], schedule="WINDOW", schedule_args=args)
        sim.set_device_timezone(device, "Asia/Kolkata")  # 09:00 there is 03:30 UTC
        _at(sim, THURSDAY.replace(hour=3, minute=30))
        assert (await _states(client, sim, req["id"]))[device] == "Command Initiated"
    with pytest.raises(ValueError, match="unknown timezone"):
        sim.set_device_timezone(device, "Not/AZone")


def _schedule(**overrides: Any) -> Schedule:
    fields: dict[str, Any] = {
        "start": dt.datetime(2026, 3, 6, tzinfo=UTC).timestamp(),
        "end": dt.datetime(2026, 3, 10, tzinfo=UTC).timestamp(),
        "recurring": True,
        "days": None,
        "window": (9 * 3600, 10 * 3600),
        "time_type": "device",
    }
    return Schedule(**{**fields, **overrides})


def _utc(intervals: list[tuple[float, float]]) -> list[tuple[str, str]]:
    def text(ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, UTC).strftime("%d %H:%M")

    return [(text(a), text(b)) for a, b in intervals]


def test_windows_follow_dst_and_cross_midnight() -> None:
    """Windows are laid out in local time: DST shifts them in UTC; 22:00-02:00 spans midnight."""
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert _utc(window_intervals(_schedule(), new_york)) == [
        ("06 14:00", "06 15:00"),
        ("07 14:00", "07 15:00"),
        ("08 13:00", "08 14:00"),  # EDT from 2026-03-08
        ("09 13:00", "09 14:00"),
    ]
    overnight = _schedule(window=(22 * 3600, 2 * 3600), days=frozenset({5}))  # Saturday nights
    assert _utc(window_intervals(overnight, dt.UTC)) == [("07 22:00", "08 02:00")]
    # 02:30 does not exist in New York on the 8th (02:00 jumps to 03:00 EDT, 07:00 UTC): a
    # 02:30-03:30 window opens when the clock jumps and closes at 03:30 EDT.
    gap = _schedule(window=(2 * 3600 + 1800, 3 * 3600 + 1800), days=frozenset({6}))
    assert _utc(window_intervals(gap, new_york)) == [("08 07:00", "08 07:30")]
    # 01:30 happens twice on 2026-11-01 (EDT, then EST): the window opens at the first.
    autumn = _schedule(
        start=dt.datetime(2026, 10, 31, tzinfo=UTC).timestamp(),
        end=dt.datetime(2026, 11, 2, tzinfo=UTC).timestamp(),
        window=(1 * 3600 + 1800, 2 * 3600 + 1800),
        days=frozenset({6}),
    )
    assert _utc(window_intervals(autumn, new_york)) == [("01 05:30", "01 07:30")]
    assert len(window_intervals(_schedule(window=None, recurring=False), new_york)) == 1
    daily = window_intervals(_schedule(window=None), new_york)  # RECURRING: a window a day
    assert _utc(daily)[:2] == [("06 00:00", "06 05:00"), ("06 05:00", "07 05:00")]


@pytest.mark.anyio
async def test_the_client_creates_lists_and_watches_a_recurring_schedule() -> None:
    """Through the client: a RECURRING create with days, window, device time and an extra key is
    stored as sent, lists and parses, filters in lower case find it, and rows retry."""
    from esper_cmds import CommandState, EsperClient, Schedule, TimeType

    sim = Simulator(devices=6, groups=1, offline=0.0, failure_rate=1.0)
    async with EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
        rate_limit=None,
        env={},
    ) as client:
        created = await client.commands.create(
            command="reboot",
            devices=[d.upper() for d in sim.device_ids] + sim.device_ids[:2],
            device_type="ALL",
            schedule="recurring",
            schedule_args={
                "name": "weekend-nights",
                "start_datetime": THURSDAY,
                "end_datetime": THURSDAY + dt.timedelta(days=4),
                "days": ["Saturday", "sunday"],
                "window_start_time": "22:00",
                "window_end_time": "02:00",
                "time_type": "Device",
                "priority": "low",  # a key the docs do not name: sent and kept
            },
        )
        assert created.schedule is Schedule.RECURRING
        assert created.schedule_args is not None
        assert created.schedule_args.time_type is TimeType.DEVICE
        assert sorted(str(d) for d in created.devices) == sim.device_ids
        listed = await client.commands.list(command="reboot", command_type="device").to_list(
            max_items=10
        )
        assert [r.id for r in listed] == [created.id]
        assert listed[0].schedule_args == created.schedule_args
        _at(sim, dt.datetime(2026, 1, 3, 22, 0, 5, tzinfo=UTC))  # Saturday night: failed once
        states = {s.state for s in await client.commands.statuses(created.id).to_list(max_items=10)}
        assert states == {CommandState.SCHEDULED}  # waiting to retry, not terminal
        _at(sim, dt.datetime(2026, 1, 5, tzinfo=UTC))
        states = {s.state for s in await client.commands.statuses(created.id).to_list(max_items=10)}
    assert states == {CommandState.FAILURE}
    async with sim.client() as raw:
        stored = (await raw.get(f"/v0/enterprise/{sim.enterprise_id}/command/")).json()
    assert stored["results"][0]["schedule_args"]["priority"] == "low"
    assert stored["results"][0]["schedule_args"]["time_type"] == "device"
