"""Run every benchmark once, in turn: ``make bench`` or ``python -m benchmarks.run``.

Each benchmark prints its own figures and ratios from one run; nothing here compares against an
absolute time. Arguments after ``--quick`` shrink every benchmark to a smoke run (used by the tests
so the benchmarks cannot rot unnoticed).
"""

from __future__ import annotations

import subprocess
import sys

FULL: dict[str, list[str]] = {
    "bench_decode": [],
    "bench_pagination": [],
    "bench_simulator": [],
    "bench_transport": [],
    "bench_fanout": [],
    "bench_watch": [],
}

QUICK: dict[str, list[str]] = {
    "bench_decode": ["--rows", "2000", "--repeat", "1"],
    "bench_pagination": [
        *("--statuses", "2000", "--status-page", "500", "--devices", "600"),
        *("--latency", "0.005", "--repeat", "1"),
    ],
    "bench_simulator": ["--devices", "2000", "--groups", "10", "--rounds", "1"],
    "bench_transport": ["--reads", "100", "--latency", "0.005", "--repeat", "1"],
    "bench_fanout": ["--devices", "5000", "--latency", "0.01", "--server", "thread"],
    "bench_watch": ["--requests", "3", "--devices", "200"],
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks as subprocesses; return the first non-zero exit code, else 0."""
    args = sys.argv[1:] if argv is None else argv
    plan = QUICK if "--quick" in args else FULL
    worst = 0
    for module, extra in plan.items():
        print(f"== {module} {' '.join(extra)}", flush=True)
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{module}", *extra])
        worst = worst or code
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
