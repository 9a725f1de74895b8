"""A fan-out in its own process, for the kill and journal tests: ``python fanout_child.py CONFIG``.

The config names the simulator's loopback URL, its key and enterprise, the devices and the
journal. The process prints its totals as JSON when it finishes (if it is not killed first), or
``{"error": ..., "message": ...}`` when the fan-out raised an `EsperError`.

With ``"fsize_limit": N`` the process may not grow any file past N bytes beyond the journal's
header (``RLIMIT_FSIZE``, the kernel's own short write and ``EFBIG``): a full disk, for real.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio

from esper_cmds import EsperClient, EsperError, FanOutResult
from esper_cmds._fanout import fan_out
from esper_cmds._fanout.journal import _header_line
from esper_cmds._fanout.plan import build_plan
from esper_cmds._fanout.reconcile import Fence
from esper_cmds._validation import parse_targets
from esper_cmds.models import CommandSpec


def limit_file_size(config: dict[str, Any]) -> None:
    """Let files grow only `fsize_limit` bytes past the header of this run's journal.

    The simulator is fresh, so the fence of the journal is empty and the header is known.
    """
    plan = build_plan(
        enterprise_id=uuid.UUID(config["enterprise_id"]),
        spec=CommandSpec("REBOOT", device_type="all"),
        devices=parse_targets(config["devices"], "devices"),
        groups=[],
        chunk_size=config["chunk_size"],
    )
    limit = len(_header_line(plan, Fence())) + config["fsize_limit"]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


async def main(config: dict[str, Any]) -> None:
    """Run the configured fan-out with its journal and print the totals."""
    if "fsize_limit" in config:
        limit_file_size(config)
    async with EsperClient(
        base_url=config["base_url"],
        api_key=config["api_key"],
        enterprise_id=config["enterprise_id"],
        rate_limit=None,
    ) as client:
        try:
            result = await fan_out(
                client,
                command="REBOOT",
                devices=config["devices"],
                device_type="all",
                chunk_size=config["chunk_size"],
                concurrency=config["concurrency"],
                journal=config["journal"],
            )
        except EsperError as exc:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
            return
    print_totals(result)


def print_totals(result: FanOutResult) -> None:
    """The run's totals as one JSON line on stdout, for the parent test to read."""
    totals = result.totals
    print(
        json.dumps(
            {
                "created": totals.created,
                "reconciled": totals.reconciled,
                "resumed": totals.resumed,
                "failed": totals.failed,
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main, json.loads(Path(sys.argv[1]).read_text()))
