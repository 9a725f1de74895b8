"""``python -m esper_cmds.simulator``: serve a simulated Esper fleet on 127.0.0.1.

Prints the base URL, API key and enterprise id (one ``NAME=value`` per line), then serves until
interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._clock import RealClock
from ._faults import FaultKind, FaultPlan
from ._simulator import Simulator

__all__ = ["main"]


def _rate_limit(text: str) -> tuple[int, float]:
    calls, _, seconds = text.partition("/")
    try:
        return int(calls), float(seconds or "1")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CALLS/SECONDS, e.g. 4000/300, not {text!r}"
        ) from None


def _fault(text: str) -> tuple[FaultKind, float]:
    kind, _, probability = text.partition("=")
    try:
        return FaultKind(kind), float(probability)
    except ValueError:
        kinds = ", ".join(k.value for k in FaultKind)
        raise argparse.ArgumentTypeError(
            f"expected KIND=PROBABILITY with KIND in {kinds}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m esper_cmds.simulator",
        description="Serve a simulated Esper Commands V2 API on 127.0.0.1.",
    )
    parser.add_argument("--devices", type=int, default=1000, help="fleet size (default 1000)")
    parser.add_argument("--groups", type=int, default=10, help="number of groups (default 10)")
    parser.add_argument("--offline", type=float, default=0.3, help="share offline (default 0.3)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the fleet and ids")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real one")
    parser.add_argument("--step-seconds", type=float, default=1.0, help="lifecycle step delay")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of failures")
    parser.add_argument("--churn-seconds", type=float, default=None, help="online/offline period")
    parser.add_argument("--queue-expiry", type=float, default=7 * 24 * 3600.0, help="seconds")
    parser.add_argument("--rate-limit", type=_rate_limit, default=None, help="CALLS/SECONDS")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds from a call's arrival to its answer"
    )
    parser.add_argument("--latency-jitter", type=float, default=0.0, help="extra random seconds")
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND=P",
        help="inject a fault kind with probability P (repeatable)",
    )
    parser.add_argument("--max-page-size", type=int, default=1000, help="largest page limit")
    parser.add_argument("--api-key", default=None, help="API key to accept (default: derived)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    args = build_parser().parse_args(argv)
    faults = FaultPlan(probabilities=dict(args.fault), seed=args.seed) if args.fault else None
    sim = Simulator(
        devices=args.devices,
        groups=args.groups,
        offline=args.offline,
        seed=args.seed,
        clock=RealClock(speed=args.speed),
        step_seconds=args.step_seconds,
        failure_rate=args.failure_rate,
        churn_seconds=args.churn_seconds,
        queue_expiry_seconds=args.queue_expiry,
        rate_limit=args.rate_limit,
        max_page_size=args.max_page_size,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        faults=faults,
        api_key=args.api_key,
    )
    # The fleet lives as long as the process: moving it out of the collector's sight keeps every
    # later full collection short (for 100,000 devices it would otherwise pause all answers for
    # ~30 ms, or ~100 ms once requests pile up, and clients would see that as latency).
    gc.freeze()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with sim.serve_in_thread(port=args.port) as base_url:
        print(f"ESPER_BASE_URL={base_url}")
        print(f"ESPER_API_KEY={sim.api_key}")
        print(f"ESPER_ENTERPRISE_ID={sim.enterprise_id}")
        print(f"# {len(sim.device_ids)} devices in {len(sim.group_ids)} groups; Ctrl-C to stop")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
