"""The benchmarks stay runnable: a quick pass of every one must finish and print its ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_runs_in_quick_mode() -> None:
    """`python -m benchmarks.run --quick` exits 0 and each benchmark prints its comparison lines."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "status page of 500" in out  # simulator CPU per page
    assert "esper_cmds / json.loads" in out  # decoding vs json.loads alone
    assert "SDK / esper_cmds" in out  # and vs the official SDK's deserializer
    assert "EsperClient / raw httpx (iterate)" in out  # pagination, minimal server
    assert "EsperClient / raw httpx on the simulator" in out
    assert "prefetch speed-up" in out
    assert "EsperClient / raw httpx" in out
    assert "EsperClient / naive raw httpx" in out
    assert "EsperClient / SDK" in out
    assert "planning" in out  # the fan-out's work before its first request
    assert "x ideal" in out
    assert "fan_out / raw httpx" in out
    assert "faster" in out
    assert "naive/round" in out  # watch economy vs naive polling
