"""A minimal DRF-style page server for the benchmarks, run in its own process.

``python -m benchmarks._pageserver --port P [--statuses 50000] [--devices 20000] [--latency 0]``

It serves one request's statuses at ``/api/v0/enterprise/{eid}/command/{rid}/status/`` and a
fleet at ``/api/enterprise/{eid}/device/``, with ``limit``/``offset`` and absolute ``next`` and
``previous`` links, the rows rendered to JSON once at start-up: a page costs the join of its rows
and the HTTP stack, so what a benchmark measures is the client. Every request waits `--latency`
seconds (concurrent requests wait side by side, as a real API's do). No auth, no filters, no
state: a bare ASGI app on uvicorn, nothing of the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import uvicorn

ENTERPRISE_ID = "796caaf9-a7de-4817-9ffa-39d04bf83de9"
REQUEST_ID = "2c1d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
API_KEY = "bench-key"
STATUSES_PATH = f"/api/v0/enterprise/{ENTERPRISE_ID}/command/{REQUEST_ID}/status/"
DEVICES_PATH = f"/api/enterprise/{ENTERPRISE_ID}/device/"

_STATES = ["Command Success", "Command Failure", "Command In Progress", "Command Queued"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def status_rows(count: int, rng: random.Random) -> list[bytes]:
    """`count` statuses of one request, as Esper writes them."""
    return [
        json.dumps(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "request": REQUEST_ID,
                "device": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "state": _STATES[row % len(_STATES)],
                "reason": "Package not installed" if row % 7 == 0 else "",
                "created_on": "2024-05-31T10:00:00.123456Z",
                "updated_on": f"2024-05-31T11:{row // 60 % 60:02d}:{row % 60:02d}."
                f"{row % 1_000_000:06d}Z",
            },
            separators=(",", ":"),
        ).encode()
        for row in range(count)
    ]


def device_rows(count: int, rng: random.Random, base: str) -> list[bytes]:
    """`count` devices with every field of Esper's Device, as the simulator renders them."""
    rows = []
    for row in range(count):
        device_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        group_id = str(uuid.UUID(int=row % 50 + 1))
        stamp = "2024-01-02T03:04:05.678901Z"
        rows.append(
            json.dumps(
                {
                    "id": device_id,
                    "url": f"{base}/enterprise/{ENTERPRISE_ID}/device/{device_id}/",
                    "device_name": f"ACME-{row:06d}",
                    "alias_name": f"acme-{row:06d}",
                    "policy_name": "bench-policy",
                    "status": 1 if row % 3 else 60,
                    "state": 1,
                    "current_command": None,
                    "suid": f"SN{row:08d}",
                    "fcm_id": None,
                    "enterprise": f"{base}/enterprise/{ENTERPRISE_ID}/",
                    "policy": None,
                    "user": None,
                    "groups": [f"{base}/enterprise/{ENTERPRISE_ID}/devicegroup/{group_id}/"],
                    "tags": [],
                    "api_level": 30,
                    "template_name": None,
                    "mqtt_id": None,
                    "softwareInfo": {},
                    "hardwareInfo": {"serialNumber": f"SN{row:08d}", "imei": f"{row:015d}"},
                    "displays": {},
                    "networkInfo": {},
                    "memoryInfo": {},
                    "audioConstraints": {},
                    "provisioned_on": stamp,
                    "created_on": stamp,
                    "updated_on": stamp,
                    "is_gms": True,
                    "is_active": True,
                },
                separators=(",", ":"),
            ).encode()
        )
    return rows


class PageServer:
    """The ASGI app: pages of pre-rendered rows."""

    def __init__(self, *, statuses: int, devices: int, latency: float, port: int) -> None:
        rng = random.Random(5)
        self.origin = f"http://127.0.0.1:{port}"
        self.listings = {
            STATUSES_PATH: status_rows(statuses, rng),
            DEVICES_PATH: device_rows(devices, rng, f"{self.origin}/api"),
        }
        self.latency = latency

    def page(self, path: str, query: bytes) -> bytes | None:
        rows = self.listings.get(path)
        if rows is None:
            return None
        params = parse_qs(query.decode())
        limit = int(params.get("limit", ["20"])[0])
        offset = int(params.get("offset", ["0"])[0])
        end = min(offset + limit, len(rows))

        def link(at: int) -> str:
            return json.dumps(f"{self.origin}{path}?limit={limit}&offset={at}")

        head = (
            f'{{"count":{len(rows)},'
            f'"next":{link(end) if end < len(rows) else "null"},'
            f'"previous":{link(max(offset - limit, 0)) if offset > 0 else "null"},'
            f'"results":['
        ).encode()
        return b"".join((head, b",".join(rows[offset:end]), b"]}"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.latency:
            await asyncio.sleep(self.latency)
        body = self.page(scope["path"], scope["query_string"])
        status = 200 if body is not None else 404
        body = body if body is not None else b'{"errors":[],"message":"not found","status":404}'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--statuses", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    app = PageServer(
        statuses=args.statuses, devices=args.devices, latency=args.latency, port=args.port
    )
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off", access_log=False
    )


if __name__ == "__main__":
    main()
