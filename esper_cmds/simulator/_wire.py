"""Esper's JSON shapes: requests, statuses, devices, groups and error bodies."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from ._fleet import Device, Group
from ._lifecycle import REASONS, CommandRequest

__all__ = ["dumps", "error_body", "format_time", "render_device", "render_group", "render_request"]


@functools.lru_cache(maxsize=4096)
def format_time(ts: float) -> str:
    """ISO-8601 UTC with a ``Z``, as Esper writes it (cached: a page repeats few instants)."""
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def dumps(data: object) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


def error_body(status: int, message: str, errors: list[str] | None = None) -> dict[str, Any]:
    """Esper's error body: ``{"errors": [...], "message": "...", "status": N}``."""
    return {
        "errors": errors if errors is not None else [message],
        "message": message,
        "status": status,
    }


def render_request(
    req: CommandRequest, enterprise_id: str, totals: list[tuple[str, int]]
) -> dict[str, Any]:
    """A V0CommandRequest."""
    return {
        "id": req.id,
        "enterprise": enterprise_id,
        **req.body,
        "created_on": format_time(req.created),
        "status": [{"state": state, "total": total} for state, total in totals],
    }


def render_status(req: CommandRequest, row: int, state: str, updated: float) -> dict[str, Any]:
    """A V0CommandStatus."""
    return {
        "id": req.status_id(row),
        "request": req.id,
        "device": req.row_devices[row],
        "state": state,
        "reason": REASONS[state],
        "created_on": format_time(req.created),
        "updated_on": format_time(updated),
    }


def render_device(
    device: Device, *, base: str, enterprise_id: str, online: bool, created: float
) -> dict[str, Any]:
    """A Device, with the fields the official SDK models (group links are URLs, as Esper's)."""
    enterprise_url = f"{base}/enterprise/{enterprise_id}/"
    stamp = format_time(created)
    return {
        "id": device.id,
        "url": f"{base}/enterprise/{enterprise_id}/device/{device.id}/",
        "device_name": device.name,
        "alias_name": device.name.lower(),
        "policy_name": "sim-policy",
        # Esper's device status codes: 1 is online, 60 is offline.
        "status": 1 if online else 60,
        "state": 1,
        "current_command": None,
        "suid": device.serial,
        "fcm_id": None,
        "enterprise": enterprise_url,
        "policy": None,
        "user": None,
        "groups": (
            [f"{base}/enterprise/{enterprise_id}/devicegroup/{device.group_id}/"]
            if device.group_id
            else []
        ),
        "tags": [],
        "api_level": 30,
        "template_name": None,
        "mqtt_id": None,
        "softwareInfo": {},
        "hardwareInfo": {"serialNumber": device.serial, "imei": device.imei},
        "displays": {},
        "networkInfo": {},
        "memoryInfo": {},
        "audioConstraints": {},
        "provisioned_on": stamp,
        "created_on": stamp,
        "updated_on": stamp,
        "is_gms": True,
        "is_active": True,
    }


def render_group(group: Group, *, base: str, enterprise_id: str, created: float) -> dict[str, Any]:
    """A DeviceGroup."""
    return {
        "id": group.id,
        "name": group.name,
        "created_on": format_time(created),
        "enterprise": f"{base}/enterprise/{enterprise_id}/",
        "parent": None,
        "device_count": len(group.members),
        "path": f"/{group.name}",
        "children_count": 0,
    }
