"""kill -9 in the middle of a journaled fan-out, then a re-run: every device gets one command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from esper_cmds.simulator import Simulator

CHILD = Path(__file__).with_name("fanout_child.py")
ROOT = Path(__file__).resolve().parents[2]


def created_records(journal: Path) -> int:
    """How many chunks the journal records as created so far."""
    if not journal.exists():
        return 0
    return journal.read_text().count('"type":"created"')


def test_sigkill_mid_run_then_resume_delivers_exactly_once(tmp_path: Path) -> None:
    """A SIGKILLed run and its journaled re-run together create each chunk exactly once."""
    sim = Simulator(devices=3000, groups=0, seed=21, latency=0.05)
    journal = tmp_path / "fanout.jsonl"
    with sim.serve_in_thread() as url:
        config = tmp_path / "config.json"
        config.write_text(
            json.dumps(
                {
                    "base_url": url,
                    "api_key": sim.api_key,
                    "enterprise_id": sim.enterprise_id,
                    "devices": sim.device_ids,
                    "chunk_size": 100,
                    "concurrency": 2,
                    "journal": str(journal),
                }
            )
        )
        command = [sys.executable, str(CHILD), str(config)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while created_records(journal) < 4 and first.poll() is None:
            assert time.monotonic() < deadline, "the first run never got going"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL
        done_before = created_records(journal)
        assert 4 <= done_before < 30  # killed mid-run, not after the end

        second = subprocess.run(command, env=env, capture_output=True, timeout=60, check=True)
        totals = json.loads(second.stdout)
    assert totals["failed"] == 0
    assert totals["resumed"] >= done_before
    assert totals["resumed"] + totals["created"] + totals["reconciled"] == 30
    assert Counter(sim.stats.commands[(d, "REBOOT")] for d in sim.device_ids) == {1: 3000}
    assert sim.stats.requests_created == 30
