"""Shared helpers for the core tests: a client on a respx router, and Esper-shaped JSON."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import respx

from esper_cmds import EsperClient

BASE_URL = "http://127.0.0.1:8000/api"
ENTERPRISE_ID = "796caaf9-a7de-4817-9ffa-39d04bf83de9"
API_KEY = "test-key-5ecr3t-value"
V0 = f"/v0/enterprise/{ENTERPRISE_ID}"
V1 = f"/enterprise/{ENTERPRISE_ID}"

DEVICE_A = "5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b"
DEVICE_B = "9a8b7c6d-1111-2222-3333-444455556666"
GROUP_A = "0f0e0d0c-aaaa-bbbb-cccc-000000000001"
REQUEST_ID = "2c1d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def make_router() -> respx.MockRouter:
    """A respx router for `BASE_URL` that does not insist every route is called."""
    return respx.MockRouter(base_url=BASE_URL, assert_all_called=False)


def make_client(router: respx.MockRouter, **overrides: Any) -> EsperClient:
    """An `EsperClient` whose requests all go to `router` (nothing touches the network)."""
    settings: dict[str, Any] = {
        "base_url": BASE_URL,
        "api_key": API_KEY,
        "enterprise_id": ENTERPRISE_ID,
        "transport": httpx.MockTransport(router.handler),
        "env": {},
        # No client-side pacing: these tests count requests, they do not measure rates.
        "rate_limit": None,
    }
    settings.update(overrides)
    return EsperClient(**settings)


def page_json(
    results: list[Any],
    *,
    count: int | None = None,
    next: str | None = None,
    previous: str | None = None,
) -> dict[str, Any]:
    """A DRF page body."""
    return {
        "count": len(results) if count is None else count,
        "next": next,
        "previous": previous,
        "results": results,
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


def query_of(request: httpx.Request) -> str:
    """The raw query string a request carried."""
    return request.url.query.decode()


def params_of(request: httpx.Request) -> Mapping[str, str]:
    """The decoded query parameters a request carried."""
    return dict(request.url.params)
