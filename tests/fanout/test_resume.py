"""Journaled fan-outs in-process: resume after a stop, reconcile in-flight chunks, refuse others."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from esper_cmds._fanout import (
    FanOutProgress,
    JournalMismatchError,
    Reconciled,
    Resumed,
    fan_out,
)
from esper_cmds.simulator import Simulator

from .conftest import FAST, client_for


class Stop(Exception):
    """Raised by a progress callback to stop a run part-way."""


@pytest.mark.anyio
async def test_a_stopped_run_resumes_from_its_journal(tmp_path: Path) -> None:
    """After a run stops at chunk 3, a re-run resumes 3 chunks and creates only the rest."""
    sim = Simulator(devices=100, groups=0, seed=3)
    journal = tmp_path / "j.jsonl"

    def stop_at_three(progress: FanOutProgress) -> None:
        if progress.done == 3:
            raise Stop

    async with client_for(sim) as client:
        with pytest.raises(Stop):
            await fan_out(
                client,
                command="REBOOT",
                devices=sim.device_ids,
                device_type="all",
                chunk_size=10,
                concurrency=1,
                journal=journal,
                on_progress=stop_at_three,
                retry=FAST,
            )
        result = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            device_type="all",
            chunk_size=10,
            concurrency=1,
            journal=journal,
            retry=FAST,
        )
    assert [type(o) for o in result.outcomes[:3]] == [Resumed] * 3
    assert result.totals.created == 7
    assert result.ok
    assert Counter(sim.stats.commands[(d, "REBOOT")] for d in sim.device_ids) == {1: 100}


@pytest.mark.anyio
async def test_an_in_flight_chunk_that_was_stored_is_reconciled(tmp_path: Path) -> None:
    """A chunk journaled as started (the process died after sending) is found, not resent."""
    sim = Simulator(devices=20, groups=0, seed=3)
    journal = tmp_path / "j.jsonl"
    async with client_for(sim) as client:
        await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=10,
            journal=journal,
            retry=FAST,
        )
        # Forge the crash: chunk 1's "created" record never made it to disk.
        lines = journal.read_text().splitlines()
        kept = [
            line
            for line in lines
            if not (json.loads(line).get("chunk") == 1 and '"created"' in line)
        ]
        journal.write_text("\n".join(kept) + "\n")
        creates = sim.stats.calls["create"]
        result = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=10,
            journal=journal,
            retry=FAST,
        )
    assert isinstance(result.outcomes[0], Resumed)
    assert isinstance(result.outcomes[1], Reconciled)
    assert result.outcomes[1].attempts == 0
    assert sim.stats.calls["create"] == creates


@pytest.mark.anyio
async def test_a_journal_for_other_inputs_is_refused_before_sending(tmp_path: Path) -> None:
    """Re-using a journal with another command refuses to start and sends nothing."""
    sim = Simulator(devices=20, groups=0, seed=3)
    journal = tmp_path / "j.jsonl"
    async with client_for(sim) as client:
        await fan_out(client, command="REBOOT", devices=sim.device_ids, journal=journal)
        creates = sim.stats.calls["create"]
        with pytest.raises(JournalMismatchError, match="another fan-out"):
            await fan_out(client, command="REBOOT", devices=sim.device_ids[:10], journal=journal)
    assert sim.stats.calls["create"] == creates


@pytest.mark.anyio
async def test_without_a_journal_an_identical_earlier_request_is_not_mistaken_for_ours() -> None:
    """A second, separate fan-out with a lost answer creates again: the earlier request is
    older than its fence."""
    from esper_cmds.simulator import Fault, FaultKind, FaultPlan, RealClock

    sim = Simulator(devices=10, groups=0, seed=3, clock=RealClock())
    async with client_for(sim) as client:
        await fan_out(client, command="REBOOT", devices=sim.device_ids, retry=FAST)
        sim.faults = FaultPlan(script=[Fault(FaultKind.ERROR_BEFORE_STORE)], endpoints={"create"})
        again = await fan_out(client, command="REBOOT", devices=sim.device_ids, retry=FAST)
    assert again.ok
    assert again.totals.created == 1
    assert sim.stats.requests_created == 2
