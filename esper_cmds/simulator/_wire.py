"""Esper's JSON shapes: requests, statuses, devices, groups and error bodies."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from ._fleet import Device, Group
from ._lifecycle import REASONS, CommandRequest

__all__ = [
    "dumps",
    "error_body",
    "format_time",
    "page_bytes",
    "render_device",
    "render_group",
    "request_json",
    "status_json",
]

# Compact, and without the cycle check: the simulator only encodes trees it just built (the check
# costs a quarter of the encoding time of a status page).
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


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
    return _ENCODER.encode(data).encode()


def page_bytes(envelope: dict[str, Any], results: list[bytes]) -> bytes:
    """A page whose `results` are already JSON (`envelope`'s own ``results`` is ignored).

    The bytes are exactly what `dumps` would write for the envelope with the decoded results.
    """
    head = dumps({**envelope, "results": []})
    # "results" is the envelope's last key, so its empty list closes the text: ``[]}``. A page of
    # 20 requests is ~800 kB, so it is joined once, as bytes, rather than copied a few times.
    return b"".join((head[:-2], b",".join(results), b"]}"))


def error_body(status: int, message: str, errors: list[str] | None = None) -> dict[str, Any]:
    """Esper's error body: ``{"errors": [...], "message": "...", "status": N}``."""
    return {
        "errors": errors if errors is not None else [message],
        "message": message,
        "status": status,
    }


def request_json(req: CommandRequest, enterprise_id: str, totals: list[tuple[str, int]]) -> bytes:
    """A V0CommandRequest as JSON.

    Everything but ``status`` never changes, so it is encoded once per request (a thousand
    device ids are most of a request's JSON; a page of 20 requests would re-encode 20,000).
    """
    head = req.json_head
    if not head:
        fixed = {"id": req.id, "enterprise": enterprise_id, **req.body}
        fixed["created_on"] = format_time(req.created)
        head = req.json_head = dumps(fixed)[:-1] + b',"status":'
    return b"".join((head, dumps([{"state": s, "total": n} for s, n in totals]), b"}"))


# Every value but state and reason is a UUID or a timestamp, which JSON writes verbatim; the state
# and its reason come from fixed tables, encoded once here. Writing the row directly is ~3x
# cheaper than building a dict and encoding it, and a status page is 500 rows.
_STATUS = (
    '{"id":"%s","request":"%s","device":"%s","state":%s,"reason":%s,'
    '"created_on":"%s","updated_on":"%s"}'
)
_STATE_AND_REASON = {state: (json.dumps(state), json.dumps(r)) for state, r in REASONS.items()}


def status_json(req: CommandRequest, row: int, state: str, updated: float) -> bytes:
    """A V0CommandStatus as JSON (the bytes `dumps` would write for its dict)."""
    state_text, reason_text = _STATE_AND_REASON[state]
    text = _STATUS % (
        req.status_id(row),
        req.id,
        req.row_devices[row],
        state_text,
        reason_text,
        format_time(req.created),
        format_time(updated),
    )
    return text.encode()


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
        "state": device.state,
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
        "tags": list(device.tags),
        "api_level": 30,
        "template_name": None,
        "mqtt_id": None,
        "softwareInfo": {},
        "hardwareInfo": {
            "serialNumber": device.serial,
            "imei": device.imei,
            "brand": device.brand,
            "manufacturer": device.brand,
        },
        "displays": {},
        "networkInfo": {"wifiMacAddress": device.mac},
        "memoryInfo": {},
        "audioConstraints": {},
        "provisioned_on": stamp,
        "created_on": stamp,
        "updated_on": stamp,
        "is_gms": device.is_gms,
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
