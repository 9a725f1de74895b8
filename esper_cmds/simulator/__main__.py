"""``python -m esper_cmds.simulator`` (or ``esper-sim``): serve a simulated fleet on 127.0.0.1.

Prints the base URL, API key and enterprise id as shell lines (``NAME=value`` each, then one
``export`` line), then serves until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._clock import RealClock
from ._faults import FaultKind, FaultPlan
from ._simulator import Simulator
from ._validation import _known_timezone

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


_FAULT_HELP = {
    "latency": "wait, then answer normally",
    "error_before_store": "500, nothing stored",
    "error_after_store": "stored, then a 500",
    "drop_after_store": "stored, then the connection drops",
    "html_502": "a proxy's HTML 502, nothing stored",
    "html_503": "a proxy's HTML 503, nothing stored",
    "malformed_json": "a truncated JSON body (a create is stored)",
    "slow": "stored, then the answer waits",
    "throttle": "429 with Retry-After, nothing stored",
}

_EPILOG = """\
fault kinds for --fault KIND=P:
{kinds}

Use it from a shell:
  esper-sim --port 8765 > sim.env &   then   . ./sim.env   (or eval "$(cat sim.env)")
  esper-cmds groups list
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    kinds = "\n".join(f"  {k.value:<20} {_FAULT_HELP.get(k.value, '')}" for k in FaultKind)
    parser = argparse.ArgumentParser(
        prog="esper-sim",
        description="Serve a simulated Esper Commands V2 API on 127.0.0.1 and print the "
        "ESPER_BASE_URL, ESPER_API_KEY and ESPER_ENTERPRISE_ID a client needs, as shell lines.",
        epilog=_EPILOG.format(kinds=kinds),
        formatter_class=_Formatter,
    )
    parser.add_argument("--devices", type=int, default=1000, help="fleet size")
    parser.add_argument("--groups", type=int, default=10, help="number of groups")
    parser.add_argument("--offline", type=float, default=0.3, help="share of devices offline")
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
    parser.add_argument(
        "--api-key", default=None, help="API key to accept (default: derived from --seed)"
    )
    parser.add_argument(
        "--read-only-key",
        action="append",
        default=[],
        metavar="KEY",
        help="an API key that may read but gets 403 on create (repeatable)",
    )
    parser.add_argument(
        "--device-timezones",
        type=_timezones,
        default=("UTC",),
        metavar="TZ[,TZ...]",
        help="IANA timezones dealt to the devices in turn (for time_type: device windows)",
    )
    parser.add_argument(
        "--console-timezone",
        type=_timezone,
        default="UTC",
        metavar="TZ",
        help="the console's IANA timezone (for time_type: console windows)",
    )
    return parser


def _timezone(text: str) -> str:
    # The simulator's own rule (as its validator reads time_type: device windows), not ZoneInfo
    # alone: that also opens file paths.
    if not _known_timezone(text):
        raise argparse.ArgumentTypeError(f"unknown IANA timezone {text!r}")
    return text


def _timezones(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one IANA timezone")
    return tuple(_timezone(name) for name in names)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown after each option; the fault list kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == []:
            return action.help  # "(default: None)" says nothing
        return super()._get_help_string(action)


def _port_in_use(port: int) -> bool:
    if port == 0:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _shell_lines(base_url: str, api_key: str, enterprise_id: str) -> list[str]:
    """``NAME=value`` lines and one ``export`` line: a shell can eval them, and a reader that
    splits each line at the first ``=`` gets the plain values."""
    values = {
        "ESPER_BASE_URL": base_url,
        "ESPER_API_KEY": api_key,
        "ESPER_ENTERPRISE_ID": enterprise_id,
    }
    return [f"{name}={shlex.quote(value)}" for name, value in values.items()] + [
        f"export {' '.join(values)}"
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    args = build_parser().parse_args(argv)
    if _port_in_use(args.port):
        print(
            f"esper-sim: port {args.port} is in use on 127.0.0.1: pick another with --port, "
            "or --port 0 for a free one",
            file=sys.stderr,
        )
        return 2
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
        read_only_api_keys=args.read_only_key,
        device_timezones=args.device_timezones,
        console_timezone=args.console_timezone,
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
    with contextlib.ExitStack() as stack:
        try:
            base_url = stack.enter_context(sim.serve_in_thread(port=args.port))
        except RuntimeError:  # lost a race for the port since the check above
            print(f"esper-sim: could not listen on 127.0.0.1:{args.port}", file=sys.stderr)
            return 2
        for line in _shell_lines(base_url, sim.api_key, sim.enterprise_id):
            print(line)
        print(f"# {len(sim.device_ids)} devices in {len(sim.group_ids)} groups; Ctrl-C to stop")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
