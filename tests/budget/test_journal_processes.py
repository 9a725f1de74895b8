"""Two processes run one fan-out on a shared Redis journal under faults, one is SIGKILLed: every
device still gets exactly one command, the survivor finishes, and a rerun finds it all done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from esper_cmds.simulator import FaultPlan, Simulator

from ._redis_server import RedisServer

CHILD = Path(__file__).with_name("journal_child.py")
ROOT = Path(__file__).resolve().parents[2]
DEVICES = int(os.environ.get("ESPER_SHARED_JOURNAL_DEVICES", "50000"))
"""The issue's 50,000 by default; a smaller fleet for a quick look (the chunks stay 100)."""


def created_by(redis: RedisServer, prefix: str) -> Counter[int]:
    """Chunks recorded as created so far, by the pid of the process that recorded them."""
    names = [n for n in redis.command("KEYS", f"{prefix}:journal:*").split() if b"}" in n]
    names = [n for n in names if not n.startswith(b"$") and b":claim:" not in n]
    if not names:
        return Counter()
    values = redis.command("HVALS", names[0].decode()).split(b"\r\n")
    return Counter(int(v.split(b"|")[3].split(b":")[1]) for v in values if v.startswith(b"r|"))


def test_two_processes_one_killed_every_device_once(redis: RedisServer, tmp_path: Path) -> None:
    """Two processes, one journal in Redis, a loopback simulator failing creates before and
    after the store, dropping answers and answering 429: one process is SIGKILLed mid-run. The
    survivor takes the dead one's chunks over once their claims expire (looking each up on the
    server first) and reports all 100; a rerun sends nothing; every device has one command."""
    faults = FaultPlan(
        probabilities={
            "error_before_store": 0.03,
            "error_after_store": 0.03,
            "drop_after_store": 0.03,
            "throttle": 0.03,
        },
        endpoints=["create"],
        seed=51,
        seconds={"throttle": 0.05},
    )
    # Each call waits a little, so the run lasts long enough to be killed in its middle.
    sim = Simulator(devices=DEVICES, groups=0, offline=0.0, seed=51, faults=faults, latency=0.03)
    chunks = 100
    prefix = f"procs-{uuid.uuid4().hex[:8]}"
    with sim.serve_in_thread() as url:
        config = tmp_path / "config.json"
        start = tmp_path / "start"
        config.write_text(
            json.dumps(
                {
                    "base_url": url,
                    "api_key": sim.api_key,
                    "enterprise_id": sim.enterprise_id,
                    "devices": sim.device_ids,
                    "chunk_size": DEVICES // chunks,
                    "concurrency": 4,
                    "redis_url": redis.url,
                    "prefix": prefix,
                    "claim_ttl": 2.0,
                    "start": str(start),
                }
            )
        )
        command = [sys.executable, str(CHILD), str(config)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        doomed = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        survivor = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            # Both start their fan-outs together: started one after the other, the first could
            # finish all 100 chunks before the second had even imported the library.
            ready = [tmp_path / f"start.{p.pid}" for p in (doomed, survivor)]
            while not all(r.exists() for r in ready):
                assert doomed.poll() is None, "a run ended before it started"
                assert survivor.poll() is None, "a run ended before it started"
                assert time.monotonic() < deadline, "the runs never got ready"
                time.sleep(0.01)
            start.touch()
            # Kill it once both have created chunks: the survivor must report the dead one's.
            while (by := created_by(redis, prefix))[doomed.pid] < 5 or by[survivor.pid] < 5:
                assert doomed.poll() is None, "the run to kill ended by itself"
                assert time.monotonic() < deadline, "the runs never got going"
                time.sleep(0.05)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            assert doomed.returncode == -signal.SIGKILL
            assert sim.stats.requests_created < chunks, "killed after the end, not mid-run"
            out, _ = survivor.communicate(timeout=120)
        finally:
            for process in (doomed, survivor):
                if process.poll() is None:
                    process.kill()
                    process.wait()
        survived = json.loads(out)
        rerun = subprocess.run(command, env=env, capture_output=True, timeout=120, check=True)
        again = json.loads(rerun.stdout)
    assert survived["failed"] == 0, survived
    assert survived["created"] + survived["reconciled"] + survived["resumed"] == chunks, survived
    # The chunks the other process created: reported, not sent.
    assert survived["resumed"] >= by[doomed.pid], (survived, by)
    assert again == {"created": 0, "reconciled": 0, "resumed": chunks, "failed": 0}, again
    stats = sim.stats  # a snapshot: taken once, not once per device
    assert stats.requests_created == chunks
    assert Counter(stats.commands[(d, "REBOOT")] for d in sim.device_ids) == {1: DEVICES}
