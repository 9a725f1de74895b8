"""Fixtures for the simulator's tests."""

from __future__ import annotations

import pytest

from esper_cmds.simulator import ManualClock, Simulator


@pytest.fixture
def sim() -> Simulator:
    """A small fleet on a manual clock: 40 devices in 4 groups, a quarter offline."""
    return Simulator(devices=40, groups=4, offline=0.25, seed=7, clock=ManualClock())
