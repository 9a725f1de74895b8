"""A fan-out in its own process, for the kill test: ``python fanout_child.py CONFIG.json``.

The config names the simulator's loopback URL, its key and enterprise, the devices and the
journal. The process prints its totals as JSON when it finishes (if it is not killed first).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

from esper_cmds import EsperClient
from esper_cmds._fanout import fan_out


async def main(config: dict[str, Any]) -> None:
    """Run the configured fan-out with its journal and print the totals."""
    async with EsperClient(
        base_url=config["base_url"],
        api_key=config["api_key"],
        enterprise_id=config["enterprise_id"],
        rate_limit=None,
    ) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            devices=config["devices"],
            device_type="all",
            chunk_size=config["chunk_size"],
            concurrency=config["concurrency"],
            journal=config["journal"],
        )
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
