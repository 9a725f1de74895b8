"""The one set of helpers for tests that talk to a mocked API: a client on a respx router, fake
time (`esper_cmds.testing.FakeClock`), and Esper-shaped JSON.

The simulator's own helpers (raw HTTP against it) are in ``tests/simulator/_support.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import respx

from esper_cmds import EsperClient, TransportEvent
from esper_cmds.testing import DEFAULT_START, FakeClock, fixed_random

__all__ = [
    "API_KEY",
    "BASE_URL",
    "COMMANDS_URL",
    "DEVICE",
    "DEVICE_A",
    "DEVICE_B",
    "ENTERPRISE_ID",
    "EPOCH",
    "GROUP_A",
    "REQUEST_ID",
    "STATUS_URL",
    "V0",
    "V1",
    "FakeClock",
    "error_json",
    "make_client",
    "make_router",
    "page_json",
    "params_of",
    "query_of",
    "reboot_request_json",
    "request_json",
    "status_json",
]

BASE_URL = "http://127.0.0.1:8000/api"
ENTERPRISE_ID = "796caaf9-a7de-4817-9ffa-39d04bf83de9"
API_KEY = "test-key-5ecr3t-value-never-shown"
V0 = f"/v0/enterprise/{ENTERPRISE_ID}"
V1 = f"/enterprise/{ENTERPRISE_ID}"

DEVICE_A = "5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b"
DEVICE_B = "9a8b7c6d-1111-2222-3333-444455556666"
DEVICE = DEVICE_A
GROUP_A = "0f0e0d0c-aaaa-bbbb-cccc-000000000001"
REQUEST_ID = "2c1d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"

COMMANDS_URL = f"{BASE_URL}{V0}/command/"
STATUS_URL = f"{COMMANDS_URL}{REQUEST_ID}/status/"
EPOCH = DEFAULT_START
"""Where every `FakeClock` starts (2026-01-01 UTC)."""


def make_router() -> respx.MockRouter:
    """A respx router for `BASE_URL` (absolute URLs work too) that does not insist every route
    is called."""
    return respx.MockRouter(base_url=BASE_URL, assert_all_called=False)


def make_client(
    router: respx.MockRouter,
    clock: FakeClock | None = None,
    events: list[TransportEvent] | None = None,
    **overrides: Any,
) -> EsperClient:
    """An `EsperClient` whose requests all go to `router` (nothing touches the network).

    No client-side pacing unless overridden: these tests count requests, they do not measure
    rates. With `clock`, every wait is on it (instant) and the jitter is fixed at 0.5.
    """
    settings: dict[str, Any] = {
        "base_url": BASE_URL,
        "api_key": API_KEY,
        "enterprise_id": ENTERPRISE_ID,
        "transport": httpx.MockTransport(router.async_handler),
        "env": {},
        "rate_limit": None,
    }
    if clock is not None:
        settings.update(clock=clock, sleep=clock.sleep, random=fixed_random(0.5))
    if events is not None:
        settings["on_event"] = events.append
    settings.update(overrides)
    return EsperClient(**settings)


def page_json(
    results: list[Any] | None = None,
    *,
    count: int | None = None,
    next: str | None = None,
    previous: str | None = None,
) -> dict[str, Any]:
    """A DRF page body."""
    items = results or []
    return {
        "count": len(items) if count is None else count,
        "next": next,
        "previous": previous,
        "results": items,
    }


def request_json(**fields: Any) -> dict[str, Any]:
    """A command request as Esper returns it (the docs' sample), with `fields` replaced."""
    body: dict[str, Any] = {
        "id": REQUEST_ID,
        "enterprise": ENTERPRISE_ID,
        "command_type": "GROUP",
        "devices": [],
        "groups": [GROUP_A],
        "device_type": "all",
        "command": "SET_APP_STATE",
        "command_args": {"package_name": "com.example.app", "app_state": "HIDE"},
        "schedule": "WINDOW",
        "schedule_args": {
            "name": "after-hours",
            "start_datetime": "2024-06-01T00:00:00Z",
            "end_datetime": "2024-06-30T00:00:00Z",
            "time_type": "device",
            "window_start_time": "22:00:00",
            "window_end_time": "23:59:00",
            "days": ["Monday", "Tuesday"],
        },
        "issued_by": "1234",
        "created_on": "2024-05-31T10:00:00Z",
        "status": [{"state": "Command Scheduled", "total": 3}],
    }
    body.update(fields)
    return body


def reboot_request_json() -> dict[str, Any]:
    """A created REBOOT of `DEVICE` as Esper returns it."""
    return request_json(
        command_type="DEVICE",
        devices=[DEVICE],
        groups=[],
        device_type="active",
        command="REBOOT",
        command_args={},
        schedule="IMMEDIATE",
        schedule_args=None,
        issued_by=1,
        created_on="2026-01-01T00:00:00Z",
        status=[{"state": "Command Initiated", "total": 1}],
    )


def status_json(index: int = 0, **fields: Any) -> dict[str, Any]:
    """One per-device status as Esper returns it; `index` makes the ids distinct."""
    body: dict[str, Any] = {
        "id": str(uuid.UUID(int=index + 1)),
        "request": REQUEST_ID,
        "device": DEVICE_A,
        "state": "Command Failure",
        "reason": "Package not installed",
        "created_on": "2024-05-31T10:00:00Z",
        "updated_on": "2024-05-31T22:01:13+02:00",
    }
    body.update(fields)
    return body


def error_json(status: int, message: str = "nope") -> dict[str, Any]:
    """Esper's error body."""
    return {"errors": [message], "message": message, "status": status}


def query_of(request: httpx.Request) -> str:
    """The raw query string a request carried."""
    return request.url.query.decode()


def params_of(request: httpx.Request) -> Mapping[str, str]:
    """The decoded query parameters a request carried."""
    return dict(request.url.params)
