"""Shared helpers for the transport tests: a fake clock, a respx-backed client, Esper JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio.lowlevel
import httpx
import respx

from esper_cmds import EsperClient
from esper_cmds._ratelimit import TransportEvent

BASE_URL = "http://127.0.0.1:8000/api"
ENTERPRISE_ID = "796caaf9-a7de-4817-9ffa-39d04bf83de9"
API_KEY = "tr4nsport-k3y-never-shown"
REQUEST_ID = "2c1d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
DEVICE = "5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b"
COMMANDS_URL = f"{BASE_URL}/v0/enterprise/{ENTERPRISE_ID}/command/"
STATUS_URL = f"{COMMANDS_URL}{REQUEST_ID}/status/"
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class FakeClock:
    """A clock that only moves when something sleeps on it; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Fake monotonic seconds."""
        return self.now

    def utcnow(self) -> dt.datetime:
        """Fake UTC time, moving with `monotonic`."""
        return EPOCH + dt.timedelta(seconds=self.now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        """Advance the clock instead of waiting (still a checkpoint, so cancellation works)."""
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


def make_router() -> respx.MockRouter:
    """A respx router that does not insist every route is called."""
    return respx.MockRouter(assert_all_called=False)


def make_client(
    router: respx.MockRouter,
    clock: FakeClock,
    events: list[TransportEvent] | None = None,
    **overrides: Any,
) -> EsperClient:
    """An `EsperClient` on `router`, with fake time and no pacing unless overridden."""
    settings: dict[str, Any] = {
        "base_url": BASE_URL,
        "api_key": API_KEY,
        "enterprise_id": ENTERPRISE_ID,
        "transport": httpx.MockTransport(router.async_handler),
        "env": {},
        "rate_limit": None,
        "clock": clock,
        "sleep": clock.sleep,
    }
    if events is not None:
        settings["on_event"] = events.append
    settings.update(overrides)
    return EsperClient(**settings)


def page_json(results: list[Any] | None = None) -> dict[str, Any]:
    """A one-page DRF body."""
    items = results or []
    return {"count": len(items), "next": None, "previous": None, "results": items}


def request_json() -> dict[str, Any]:
    """A created REBOOT request as Esper returns it."""
    return {
        "id": REQUEST_ID,
        "enterprise": ENTERPRISE_ID,
        "command_type": "DEVICE",
        "devices": [DEVICE],
        "groups": [],
        "device_type": "active",
        "command": "REBOOT",
        "command_args": {},
        "schedule": "IMMEDIATE",
        "schedule_args": None,
        "issued_by": 1,
        "created_on": "2026-01-01T00:00:00Z",
        "status": [{"state": "Command Initiated", "total": 1}],
    }


def error_json(status: int, message: str = "nope") -> dict[str, Any]:
    """Esper's error body."""
    return {"errors": [message], "message": message, "status": status}
