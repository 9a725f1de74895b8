"""Small helpers shared by the simulator's tests (plain httpx, never the project's client)."""

from __future__ import annotations

from typing import Any

import httpx

from esper_cmds.simulator import Simulator


def commands_path(sim: Simulator) -> str:
    """The create/list path, relative to the base URL."""
    return f"/v0/enterprise/{sim.enterprise_id}/command/"


def status_path(sim: Simulator, request_id: str) -> str:
    """A request's status path, relative to the base URL."""
    return f"/v0/enterprise/{sim.enterprise_id}/command/{request_id}/status/"


def history_path(sim: Simulator, device_id: str) -> str:
    """A device's command-history path, relative to the base URL."""
    return f"/v0/enterprise/{sim.enterprise_id}/device/{device_id}/command-history/"


def body(**fields: Any) -> dict[str, Any]:
    """A create body: REBOOT on DEVICE targets unless overridden."""
    return {"command_type": "DEVICE", "command": "REBOOT", "device_type": "all", **fields}


async def create(client: httpx.AsyncClient, sim: Simulator, **fields: Any) -> dict[str, Any]:
    """Create a request and return its JSON, asserting a 201."""
    response = await client.post(commands_path(sim), json=body(**fields))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def all_statuses(
    client: httpx.AsyncClient, sim: Simulator, request_id: str, **params: str
) -> list[dict[str, Any]]:
    """Every status row of a request (one page of up to 1000)."""
    response = await client.get(status_path(sim, request_id), params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def state_by_device(
    client: httpx.AsyncClient, sim: Simulator, request_id: str
) -> dict[str, str]:
    """device id -> state for a request."""
    return {s["device"]: s["state"] for s in await all_statuses(client, sim, request_id)}


def online_ids(sim: Simulator) -> list[str]:
    """Devices online now."""
    return [d for d in sim.device_ids if sim.is_online(d)]


def offline_ids(sim: Simulator) -> list[str]:
    """Devices offline now."""
    return [d for d in sim.device_ids if not sim.is_online(d)]
