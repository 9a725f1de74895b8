"""The fleet: deterministic devices and groups, online state, churn."""

from __future__ import annotations

import datetime as dt

import pytest

from esper_cmds.simulator import ManualClock, RealClock, Simulator

from ._support import offline_ids, online_ids


def test_same_seed_gives_same_fleet_and_credentials() -> None:
    """Two simulators with one seed agree on every id, key and online flag."""
    a, b = Simulator(devices=30, groups=3, seed=5), Simulator(devices=30, groups=3, seed=5)
    assert a.device_ids == b.device_ids
    assert a.group_ids == b.group_ids
    assert (a.api_key, a.enterprise_id) == (b.api_key, b.enterprise_id)
    assert [a.is_online(d) for d in a.device_ids] == [b.is_online(d) for d in b.device_ids]


def test_other_seed_gives_other_fleet() -> None:
    """A different seed draws different ids."""
    assert Simulator(devices=5, seed=1).device_ids != Simulator(devices=5, seed=2).device_ids


def test_ids_are_sorted_uuids_and_groups_partition_devices(sim: Simulator) -> None:
    """device_ids is sorted and every device is in exactly one group."""
    assert sim.device_ids == sorted(sim.device_ids)
    assert len(sim.device_ids) == 40
    assert len(sim.group_ids) == 4
    members = [d for g in sim.group_ids for d in sim.group_members(g)]
    assert sorted(members) == sim.device_ids


def test_offline_share_is_exact(sim: Simulator) -> None:
    """A quarter of 40 devices start offline."""
    assert len(offline_ids(sim)) == 10
    assert len(online_ids(sim)) == 30


def test_set_online_pins_state(sim: Simulator) -> None:
    """set_online flips a device and it stays flipped as time passes."""
    device = offline_ids(sim)[0]
    sim.set_online(device, True)
    assert sim.is_online(device)
    assert isinstance(sim.clock, ManualClock)
    sim.clock.advance(3600)
    assert sim.is_online(device)
    sim.set_online(device, False)
    assert not sim.is_online(device)


def test_churn_brings_offline_devices_online_and_keeps_the_share() -> None:
    """With churn, devices change state over time while about the configured share is offline."""
    clock = ManualClock()
    sim = Simulator(devices=200, groups=2, offline=0.3, churn_seconds=100.0, clock=clock)
    before = {d: sim.is_online(d) for d in sim.device_ids}
    assert sum(not v for v in before.values()) == 60
    clock.advance(50)
    after = {d: sim.is_online(d) for d in sim.device_ids}
    assert any(before[d] != after[d] for d in sim.device_ids)
    assert 30 <= sum(not v for v in after.values()) <= 90
    clock.advance(50)  # a whole period later every device is back where it started
    assert {d: sim.is_online(d) for d in sim.device_ids} == before


def test_bad_fleet_parameters_are_refused() -> None:
    """Nonsense sizes and shares raise ValueError."""
    with pytest.raises(ValueError, match="offline"):
        Simulator(offline=1.5)
    with pytest.raises(ValueError, match="churn"):
        Simulator(churn_seconds=0)
    with pytest.raises(ValueError, match="failure_rate"):
        Simulator(failure_rate=2)


def test_set_online_stops_churn_for_that_device() -> None:
    """A pinned device keeps its state through churn periods; the others keep changing."""
    clock = ManualClock()
    sim = Simulator(devices=50, groups=1, offline=0.5, churn_seconds=10.0, clock=clock)
    device = sim.device_ids[0]
    sim.set_online(device, False)
    for _ in range(20):
        clock.advance(1.0)
        assert not sim.is_online(device)


def test_real_clock_moves_at_its_speed() -> None:
    """RealClock(speed=...) starts where told and never runs backwards; bad speeds are refused."""
    start = dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
    clock = RealClock(speed=1000.0, start=start)
    first = clock.now()
    assert first >= start
    assert clock.now() >= first
    assert first - start < dt.timedelta(minutes=5)
    with pytest.raises(ValueError, match="speed"):
        RealClock(speed=0)
    with pytest.raises(ValueError, match="backwards"):
        ManualClock().advance(-1)
