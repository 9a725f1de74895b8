"""A fan-out on a shared Redis journal in its own process: ``python journal_child.py CONFIG``.

The config names the simulator's loopback URL, its key and enterprise, the devices, the Redis
URL, the journal's prefix and claim expiry, and optionally ``start``: a path the process waits
for before its fan-out (having created ``<start>.<pid>`` to say it is ready), so that two runs
start together whatever their start-up times. The process prints its totals as JSON when it
finishes (unless it is killed first), or ``{"error": ..., "message": ...}`` if the fan-out raised.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from esper_cmds import ChunkRetry, EsperClient, EsperError, RedisJournal
from tests.fanout.fanout_child import print_totals


async def main(config: dict[str, Any]) -> None:
    """Run the configured fan-out on the shared journal and print the totals."""
    journal = RedisJournal(
        config["redis_url"],
        prefix=config["prefix"],
        claim_ttl=config["claim_ttl"],
        poll=0.05,
    )
    # A lost answer is given a second to land before it is looked up for the last time.
    retry = ChunkRetry(max_attempts=8, backoff=0.05, max_backoff=0.2, settle=1.0)
    async with EsperClient(
        base_url=config["base_url"],
        api_key=config["api_key"],
        enterprise_id=config["enterprise_id"],
        rate_limit=None,
        env={},
    ) as client:
        try:
            result = await client.fan_out(
                command="REBOOT",
                devices=config["devices"],
                device_type="all",
                chunk_size=config["chunk_size"],
                concurrency=config["concurrency"],
                journal=journal,
                retry=retry,
            )
        except EsperError as exc:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
            return
    print_totals(result)


def wait_for_start(config: dict[str, Any]) -> None:
    """Say this process is ready, and wait for the word to start, if the config asks."""
    if "start" in config:
        Path(f"{config['start']}.{os.getpid()}").touch()
        while not Path(config["start"]).exists():
            time.sleep(0.01)


if __name__ == "__main__":
    settings = json.loads(Path(sys.argv[1]).read_text())
    wait_for_start(settings)
    anyio.run(main, settings)
