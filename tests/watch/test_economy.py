"""API-call economy: calls per round for 10 requests × 1000 devices, against naive polling."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid

import anyio.lowlevel
import pytest

from esper_cmds import CommandState
from esper_cmds._watch import WatchChanges, watch
from esper_cmds.simulator import ManualClock, Simulator
from esper_cmds.testing import FakeClock

from .conftest import sim_client

REQUESTS, DEVICES = 10, 1000
NAIVE_PER_ROUND = REQUESTS * math.ceil(DEVICES / 20)
"""Re-reading every status of every request each round, with the API's default page of 20."""


class RoundMeter(FakeClock):
    """Simulated sleep (one lifecycle step) recording server calls and totals per round."""

    def __init__(self, sim: Simulator) -> None:
        assert isinstance(sim.clock, ManualClock)
        super().__init__(start=sim.clock.now(), drives=[sim.clock])
        self.sim = sim
        self.changes: WatchChanges | None = None
        self.marks: list[int] = []
        self.totals: list[dict[uuid.UUID, dict[str, int]]] = []

    def snapshot(self) -> None:
        """Record the server's call count and the watch's per-request totals."""
        assert self.changes is not None
        self.marks.append(sum(self.sim.stats.calls.values()))
        summary = self.changes.summary
        self.totals.append({rid: dict(r.totals) for rid, r in summary.requests.items()})

    async def sleep(self, seconds: float) -> None:
        """Advance one lifecycle step, whatever the back-off asked, so no transition is skipped."""
        self.snapshot()
        self.advance(1.0)
        await anyio.lowlevel.checkpoint()

    def calls_per_round(self) -> list[int]:
        """Calls each round cost."""
        marks = [0, *self.marks]
        return [b - a for a, b in itertools.pairwise(marks)]

    def requests_changed_per_round(self) -> list[int]:
        """How many requests' totals moved in each round after the first."""
        return [
            sum(1 for rid in after if after[rid] != before[rid])
            for before, after in itertools.pairwise(self.totals)
        ]


async def _watch_scenario(*, staggered_by: float | None, opens_in: float) -> RoundMeter:
    sim = Simulator(devices=DEVICES, offline=0.0, seed=1, step_seconds=1.0)
    meter = RoundMeter(sim)
    async with sim_client(sim, meter, rate_limit=None) as client:
        requests = []
        for i in range(REQUESTS):
            opens = sim.clock.now() + dt.timedelta(seconds=opens_in + (staggered_by or 0) * i)
            requests.append(
                await client.commands.create(
                    command="REBOOT",
                    devices=sim.device_ids,
                    schedule="WINDOW",
                    schedule_args={
                        "start_datetime": opens,
                        "end_datetime": opens + dt.timedelta(hours=1),
                    },
                )
            )
        sim.reset_stats()
        async with watch(client, requests, timeout=80) as changes:
            meter.changes = changes
            await changes.wait()
        meter.snapshot()  # the last round, which ended the watch
    return meter


@pytest.mark.anyio
async def test_staggered_requests_cost_one_listing_plus_one_read_per_moving_request() -> None:
    """Each later round costs one listing plus one read per request that moved, not 500 calls."""
    meter = await _watch_scenario(staggered_by=5.0, opens_in=1.0)
    assert meter.changes is not None
    summary = meter.changes.summary
    assert summary.done
    assert summary.totals() == {CommandState.SUCCESS: REQUESTS * DEVICES}
    calls = meter.calls_per_round()
    moved = meter.requests_changed_per_round()
    assert calls[0] == REQUESTS * math.ceil(DEVICES / 1000)  # the first read learns every device
    for cost, moving in zip(calls[1:], moved, strict=True):
        assert cost <= 1 + moving
    assert max(calls[1:]) * 100 < NAIVE_PER_ROUND
    print(  # shown with -s: the measurement the README quotes
        f"\nstaggered {REQUESTS}x{DEVICES}: {len(calls)} rounds, {sum(calls)} calls "
        f"(mean {sum(calls[1:]) / (len(calls) - 1):.2f}/round after the first) "
        f"vs naive {NAIVE_PER_ROUND}/round = {NAIVE_PER_ROUND * len(calls)}"
    )


@pytest.mark.anyio
async def test_a_round_where_nothing_moves_costs_one_call() -> None:
    """While every request waits for its window, a round is a single listing call."""
    meter = await _watch_scenario(staggered_by=None, opens_in=3600.0)
    calls = meter.calls_per_round()
    assert calls[0] == REQUESTS * math.ceil(DEVICES / 1000)
    assert set(calls[1:]) == {math.ceil(REQUESTS / 50)}


@pytest.mark.anyio
async def test_lockstep_requests_never_cost_more_than_one_read_each() -> None:
    """When every request moves every round, the listing is skipped: one read per request."""
    meter = await _watch_scenario(staggered_by=None, opens_in=0.0)
    calls = meter.calls_per_round()
    assert meter.changes is not None
    assert meter.changes.summary.done
    # The round after the first learns that all moved; from then on no listing is made.
    assert all(cost <= REQUESTS + 1 for cost in calls)
    assert all(cost == REQUESTS for cost in calls[2:])
