"""`esper_cmds.testing`: the fake clock, the fixed random, and a client wired to both."""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from typing import Any

import anyio
import pytest

from esper_cmds import RequestSummary, ValidationError, WatchSummary, WatchTimeoutError, testing
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, ManualClock, Simulator


@pytest.mark.anyio
async def test_fake_clock_moves_only_when_told() -> None:
    """Both readings stand still until `advance` or `sleep`; a sleep returns at once, recorded."""
    start = dt.datetime(2030, 5, 1, 12, tzinfo=dt.UTC)
    driven = ManualClock(start=start)
    clock = testing.FakeClock(start=start, drives=[driven])
    assert (clock.monotonic(), clock.utcnow()) == (0.0, start)
    assert clock.monotonic() == 0.0
    clock.advance(1.5)
    began = time.monotonic()
    await clock.sleep(3600)
    await clock.sleep(-2)  # a negative sleep is a checkpoint, not time travel
    assert time.monotonic() - began < 5
    assert clock.sleeps == [3600, -2]
    assert clock.monotonic() == 3601.5
    assert clock.utcnow() == start + dt.timedelta(seconds=3601.5)
    assert driven.now() == clock.utcnow()  # the simulator's clock moved along
    assert "2030-05-01T13:00:01.500000+00:00" in repr(clock)


def test_fake_clock_refuses_going_back_and_naive_starts() -> None:
    """A clock cannot move backwards, and its UTC time must be timezone-aware."""
    clock = testing.FakeClock()
    with pytest.raises(ValidationError) as caught:
        clock.advance(-1)
    assert caught.value.field == "seconds"
    with pytest.raises(ValidationError) as caught:
        testing.FakeClock(start=dt.datetime(2026, 1, 1))
    assert caught.value.field == "start"


def test_fixed_random_is_fixed_and_in_range() -> None:
    """`fixed_random` returns its value every time; a value outside [0, 1) is refused."""
    draw = testing.fixed_random(0.25)
    assert {draw() for _ in range(5)} == {0.25}
    for bad in (-0.1, 1.0):
        with pytest.raises(ValidationError):
            testing.fixed_random(bad)


@pytest.mark.anyio
async def test_client_on_a_simulator_waits_out_a_watch_on_fake_time() -> None:
    """A ten-minute `wait` on devices that never finish ends at exactly its timeout, on the
    client's fake clock, in well under a real second's worth of sleeping."""
    sim = Simulator(devices=3, offline=1.0, seed=4)  # offline: queued for ever under "all"
    clock = testing.FakeClock.for_simulator(sim)
    async with testing.client(simulator=sim, clock=clock) as client:
        assert client.clock is clock
        request = await client.commands.create(
            command="REBOOT", devices=sim.device_ids, device_type="all"
        )
        with pytest.raises(WatchTimeoutError) as caught:
            await client.wait(request, timeout=600)
    assert clock.monotonic() == pytest.approx(600)
    assert sum(clock.sleeps) == pytest.approx(600)
    assert isinstance(sim.clock, ManualClock)
    assert sim.clock.now() == clock.utcnow()
    summary = caught.value.summary
    assert not summary.done
    assert len(summary.pending[request.id]) == 3


@pytest.mark.anyio
async def test_hard_deadline_cuts_a_hung_round_whatever_the_clock() -> None:
    """A round stuck on a slow server is cut once the watch's time is up, with a fake clock as
    with the real one: the same code for every clock, bounded in real time."""
    plan = FaultPlan(
        script=[Fault(None), Fault(FaultKind.SLOW, seconds=30.0)], endpoints={"statuses"}
    )
    sim = Simulator(devices=2, offline=1.0, seed=5, faults=plan)
    async with testing.client(simulator=sim) as client:
        request = await client.commands.create(
            command="REBOOT", devices=sim.device_ids, device_type="all"
        )
        with anyio.fail_after(10):  # the hung read alone would take 30 s
            async with client.watch([request.id], timeout=0.5, interval=0.25) as changes:
                summary = await changes.wait()
    assert not summary.done


def test_summary_reprs_show_counts_not_devices() -> None:
    """A summary of many devices prints a line of counts, never every device id."""
    devices = [uuid.UUID(int=i) for i in range(1, 2001)]
    request = RequestSummary(
        request_id=uuid.UUID(int=99999),
        totals={"Command Success": 1500, "Command Queued": 500},
        states=dict.fromkeys(devices, "Command Success"),
        pending=tuple(devices[:500]),
        done=False,
    )
    summary = WatchSummary(
        requests={request.request_id: request}, done=False, rounds=7, calls=21, errors=1
    )
    assert repr(request) == (
        "RequestSummary(request_id='00000000-0000-0000-0000-00000001869f', done=False,"
        " devices=2000, pending=500, totals={'Command Success': 1500, 'Command Queued': 500})"
    )
    assert repr(summary) == (
        "WatchSummary(done=False, requests=1, pending=500, totals={'Command Success': 1500,"
        " 'Command Queued': 500}, rounds=7, calls=21, errors=1)"
    )
    assert str(devices[0]) not in repr(summary)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: testing.FakeClock(start="2026-01-01"), "start"),  # type: ignore[arg-type]
        (lambda: testing.FakeClock(drives=None), "drives"),  # type: ignore[arg-type]
        (lambda: testing.FakeClock(drives=[object()]), "drives[0]"),  # type: ignore[list-item]
        (lambda: testing.fixed_random("0.5"), "value"),  # type: ignore[arg-type]
        (lambda: testing.client(clock=object()), "clock"),  # type: ignore[arg-type]
    ],
)
def test_the_seams_misuse_is_a_validation_error_naming_it(make: Any, field: str) -> None:
    """Wrong kinds were AttributeErrors and TypeErrors from deep inside."""
    with pytest.raises(ValidationError) as caught:
        make()
    assert caught.value.field == field


@pytest.mark.anyio
@pytest.mark.parametrize("seconds", [math.inf, math.nan, 1e12, "1"])
async def test_a_fake_clock_refuses_a_step_it_cannot_take_and_stays_usable(seconds: Any) -> None:
    """Infinity, NaN or a step past the year 9999 left a clock whose utcnow() raised
    OverflowError, and a refused sleep was still recorded."""
    clock = testing.FakeClock()
    with pytest.raises(ValidationError):
        clock.advance(seconds)
    with pytest.raises(ValidationError):
        await clock.sleep(seconds)
    assert clock.sleeps == []
    assert clock.utcnow() == testing.DEFAULT_START
    await clock.sleep(-1)  # as anyio's: already over
    assert clock.sleeps == [-1]
    assert clock.monotonic() == 0
