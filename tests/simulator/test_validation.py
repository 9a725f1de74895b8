# ruff: noqa: E501  (the case tables read best one case per line)
"""Auth (401/404) and Esper's validation of create bodies (400 with the error body)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from esper_cmds.simulator import Simulator

from ._support import body, commands_path, history_path, status_path


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Token {key}"}],
    ids=["missing", "wrong-key", "wrong-scheme"],
)
@pytest.mark.anyio
async def test_401_without_a_valid_bearer_key(sim: Simulator, headers: dict[str, str]) -> None:
    """No key, a wrong key or a non-Bearer scheme answers 401 with Esper's error body."""
    headers = {k: v.format(key=sim.api_key) for k, v in headers.items()}
    async with httpx.AsyncClient(transport=sim.transport, base_url=sim.base_url) as client:
        response = await client.get(commands_path(sim), headers=headers)
    assert response.status_code == 401
    data = response.json()
    assert data["status"] == 401
    assert data["errors"]
    assert data["message"]


@pytest.mark.anyio
async def test_404_for_another_enterprise_or_unknown_ids(sim: Simulator) -> None:
    """Another enterprise, an unknown request and an unknown device are 404s."""
    other = str(uuid.UUID(int=1))
    async with sim.client() as client:
        responses = [
            await client.get(f"/v0/enterprise/{other}/command/"),
            await client.get(status_path(sim, str(uuid.UUID(int=2)))),
            await client.get(status_path(sim, "not-a-uuid")),
            await client.get(history_path(sim, str(uuid.UUID(int=3)))),
            await client.get(f"/enterprise/{other}/device/"),
            await client.get("/no/such/path/"),
        ]
    assert [r.status_code for r in responses] == [404] * 6
    assert all(r.json()["status"] == 404 for r in responses)


def _devices(sim: Simulator, n: int = 1) -> list[str]:
    return sim.device_ids[:n]


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown command", {"command": "EXPLODE"}, "command"),
    ("missing command", {"command": None}, "command"),
    ("missing command_type", {"command_type": None}, "command_type"),
    ("bad command_type", {"command_type": "FLEET"}, "command_type"),
    ("bad device_type", {"device_type": "online"}, "device_type"),
    ("bad schedule", {"schedule": "LATER"}, "schedule"),
    ("malformed uuid", {"devices": ["not-a-uuid"]}, "devices"),
    ("unknown device", {"devices": [str(uuid.UUID(int=5))]}, "devices"),
    ("unknown group", {"command_type": "GROUP", "devices": [], "groups": [str(uuid.UUID(int=6))]}, "groups"),
    ("DEVICE without devices", {"devices": []}, "devices"),
    ("DEVICE with groups", {"groups": "{group}"}, "groups"),
    ("GROUP without groups", {"command_type": "GROUP", "devices": []}, "groups"),
    ("GROUP with devices", {"command_type": "GROUP", "groups": "{group}"}, "devices"),
    ("DYNAMIC without devices", {"command_type": "DYNAMIC", "devices": []}, "devices"),
    ("WINDOW without dates", {"schedule": "WINDOW"}, "start_datetime"),
    ("RECURRING without end", {"schedule": "RECURRING", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z"}}, "end_datetime"),
    ("bad datetime", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "soon", "end_datetime": "2026-01-02T00:00:00Z"}}, "start_datetime"),
    ("end before start", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-03T00:00:00Z", "end_datetime": "2026-01-02T00:00:00Z"}}, "end_datetime"),
    ("bad time_type", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "time_type": "utc"}}, "time_type"),
    ("args not an object", {"command_args": [1]}, "command_args"),
    ("brightness 0", {"command": "SET_BRIGHTNESS_SCALE", "command_args": {"brightness_value": 0}}, "brightness_value"),
    ("brightness 101", {"command": "SET_BRIGHTNESS_SCALE", "command_args": {"brightness_value": 101}}, "brightness_value"),
    ("brightness string", {"command": "SET_BRIGHTNESS_SCALE", "command_args": {"brightness_value": "50"}}, "brightness_value"),
    ("brightness missing", {"command": "SET_BRIGHTNESS_SCALE"}, "brightness_value"),
    ("timeout 4999", {"command": "SET_SCREEN_OFF_TIMEOUT", "command_args": {"screen_off_timeout": 4999}}, "screen_off_timeout"),
    ("timeout 1800001", {"command": "SET_SCREEN_OFF_TIMEOUT", "command_args": {"screen_off_timeout": 1800001}}, "screen_off_timeout"),
    ("stream 4", {"command": "SET_STREAM_VOLUME", "command_args": {"stream": 4, "volume_level": 5}}, "stream"),
    ("volume 101", {"command": "SET_STREAM_VOLUME", "command_args": {"stream": 0, "volume_level": 101}}, "volume_level"),
    ("gps 5", {"command": "SET_GPS_STATE", "command_args": {"gps_state": 5}}, "gps_state"),
    ("gps bool", {"command": "SET_GPS_STATE", "command_args": {"gps_state": True}}, "gps_state"),
    ("rotate 3", {"command": "SET_ROTATION_STATE", "command_args": {"rotate_state": 3}}, "rotate_state"),
    ("grant_state", {"command": "SET_APP_PERMISSION", "command_args": {"package_name": "a", "permission": "p", "grant_state": "YES"}}, "grant_state"),
    ("permission missing", {"command": "SET_APP_PERMISSION", "command_args": {"package_name": "a", "grant_state": "PERMISSION_GRANT_STATE_DENIED"}}, "permission"),
    ("app_state", {"command": "SET_APP_STATE", "command_args": {"package_name": "a", "app_state": "GONE"}}, "app_state"),
    ("lockdown state", {"command": "SET_DEVICE_LOCKDOWN_STATE", "command_args": {"state": "OPEN", "message": "m"}}, "state"),
    ("lockdown message", {"command": "SET_DEVICE_LOCKDOWN_STATE", "command_args": {"state": "LOCKED"}}, "message"),
    ("notifications state", {"command": "SET_APP_NOTIFICATIONS", "command_args": {"package_name": "a", "app_notifications_state": "ON"}}, "app_notifications_state"),
    ("bluetooth not bool", {"command": "SET_BLUETOOTH_STATE", "command_args": {"bluetooth_state": "true"}}, "bluetooth_state"),
    ("wifi not bool", {"command": "SET_WIFI_STATE", "command_args": {"wifi_state": 1}}, "wifi_state"),
    ("saved ap not bool", {"command": "USE_ONLY_SAVED_WIFI_AP", "command_args": {}}, "use_only_saved_ap"),
    ("empty package", {"command": "UNINSTALL", "command_args": {"package_name": ""}}, "package_name"),
    ("install no version", {"command": "INSTALL", "command_args": {}}, "app_version"),
    ("policy url", {"command": "SET_NEW_POLICY", "command_args": {"policy_url": 3}}, "policy_url"),
    ("timezone", {"command": "SET_TIMEZONE", "command_args": {}}, "timezone_string"),
    ("password", {"command": "RESET_LOCKSCREEN_PASSWORD", "command_args": {}}, "new_lockscreen_password"),
    ("wifi aps", {"command": "ADD_WIFI_AP", "command_args": {"wifi_access_points": {}}}, "wifi_access_points"),
    ("notify title", {"command": "NOTIFY_DEVICE", "command_args": {"message": "m"}}, "title"),
    ("static ip", {"command": "SET_STATIC_IP", "command_args": {"interface": "eth0", "dhcp_enabled": False}}, "static_ip"),
    # Bodies that used to crash (500) or slip through: every field is type-checked first.
    ("command object", {"command": {}}, "command"),
    ("command list", {"command": ["REBOOT"]}, "command"),
    ("command_type list", {"command_type": ["DEVICE"]}, "command_type"),
    ("device_type object", {"device_type": {"a": 1}}, "device_type"),
    ("schedule number", {"schedule": 3}, "schedule"),
    ("devices object", {"devices": {"a": 1}}, "devices"),
    ("device id object", {"devices": [{"id": 1}]}, "devices"),
    ("schedule_args list", {"schedule": "WINDOW", "schedule_args": ["x"]}, "schedule_args"),
    ("days string", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "days": "Monday"}}, "days"),
    ("days numbers", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "days": [1]}}, "days"),
    ("days empty", {"schedule": "RECURRING", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "days": []}}, "days"),
    ("naive start", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00", "end_datetime": "2026-01-03T00:00:00Z"}}, "start_datetime"),
    ("window time", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "window_start_time": "9am", "window_end_time": "10:00"}}, "window_start_time"),
    ("lone window time", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "window_start_time": "09:00"}}, "window_end_time"),
    ("empty window", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "window_start_time": "09:00", "window_end_time": "09:00:00"}}, "window_end_time"),
    ("name number", {"schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "name": 5}}, "name"),
    ("immediate bad time_type", {"schedule_args": {"time_type": "utc"}}, "time_type"),
    ("immediate bad start", {"schedule_args": {"start_datetime": "soon"}}, "start_datetime"),
    ("scheduled notify name", {"command": "NOTIFY_DEVICE", "command_args": {"title": "t", "message": "m"}, "schedule": "WINDOW", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "time_type": "device"}}, "name"),
    ("scheduled notify time_type", {"command": "NOTIFY_DEVICE", "command_args": {"title": "t", "message": "m"}, "schedule": "RECURRING", "schedule_args": {"start_datetime": "2026-01-02T00:00:00Z", "end_datetime": "2026-01-03T00:00:00Z", "name": "n"}}, "time_type"),
    ("wifi revert 0", {"command": "SET_WIFI_STATE", "command_args": {"wifi_state": True, "wifi_revert_timeout": 0}}, "wifi_revert_timeout"),
    ("wifi aps string", {"command": "ADD_WIFI_AP", "command_args": {"wifi_access_points": "lobby"}}, "wifi_access_points"),
    ("unknown timezone", {"command": "SET_TIMEZONE", "command_args": {"timezone_string": "Not/AZone"}}, "timezone_string"),
    ("locale missing", {"command": "SET_DEVICE_LANGUAGE", "command_args": {}}, "locale"),
    ("locale shape", {"command": "SET_DEVICE_LANGUAGE", "command_args": {"locale": "en-US"}}, "locale"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.anyio
async def test_validation_errors_are_400_with_esper_body(
    sim: Simulator, overrides: dict[str, Any], field: str
) -> None:
    """Each broken rule answers 400 naming the field, and nothing is stored."""
    fields: dict[str, Any] = {"devices": _devices(sim)}
    for key, value in overrides.items():
        fields[key] = [sim.group_ids[0]] if value == "{group}" else value
    payload = {k: v for k, v in body(**fields).items() if v is not None}
    async with sim.client() as client:
        response = await client.post(commands_path(sim), json=payload)
    assert response.status_code == 400, response.text
    data = response.json()
    assert data["status"] == 400
    assert any(field in error for error in data["errors"]), data
    assert data["message"] == data["errors"][0]
    assert sim.stats.requests_created == 0


@pytest.mark.anyio
async def test_too_many_devices_and_groups() -> None:
    """More than 1000 devices or 500 groups in one request is a 400."""
    sim = Simulator(devices=1001, groups=501, offline=0.0)
    async with sim.client() as client:
        devices = await client.post(commands_path(sim), json=body(devices=sim.device_ids))
        groups = await client.post(
            commands_path(sim), json=body(command_type="GROUP", groups=sim.group_ids)
        )
        ok = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:1000]))
    assert devices.status_code == 400
    assert "1000" in devices.json()["message"]
    assert groups.status_code == 400
    assert "500" in groups.json()["message"]
    assert ok.status_code == 201


@pytest.mark.anyio
async def test_every_problem_is_reported_at_once(sim: Simulator) -> None:
    """A body with several faults lists each of them, the first as the message."""
    payload = body(
        devices=["nope"],
        command="SET_STREAM_VOLUME",
        command_args={"stream": 9},
        device_type="sometimes",
    )
    async with sim.client() as client:
        response = await client.post(commands_path(sim), json=payload)
    errors = response.json()["errors"]
    assert response.status_code == 400
    for field in ("devices", "device_type", "command_args.stream", "command_args.volume_level"):
        assert any(e.startswith(field) for e in errors), errors


@pytest.mark.anyio
async def test_uuids_match_in_any_case_and_duplicates_collapse(sim: Simulator) -> None:
    """An upper-case device id is the same device; twice is once."""
    device = sim.device_ids[0]
    async with sim.client() as client:
        response = await client.post(
            commands_path(sim), json=body(devices=[device.upper(), device])
        )
    assert response.status_code == 201, response.text
    assert response.json()["devices"] == [device]


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000]
)
@pytest.mark.anyio
async def test_body_that_is_not_an_object_is_400(sim: Simulator, raw: bytes) -> None:
    """Malformed JSON, a JSON list or an empty body is a 400."""
    async with sim.client() as client:
        response = await client.post(
            commands_path(sim), content=raw, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["status"] == 400


VALID: list[tuple[str, dict[str, Any]]] = [
    ("SET_BRIGHTNESS_SCALE", {"brightness_value": 1}),
    ("SET_SCREEN_OFF_TIMEOUT", {"screen_off_timeout": -1}),
    ("SET_SCREEN_OFF_TIMEOUT", {"screen_off_timeout": 1800000}),
    ("SET_STREAM_VOLUME", {"stream": 3, "volume_level": 0}),
    ("SET_GPS_STATE", {"gps_state": 4}),
    ("SET_ROTATION_STATE", {"rotate_state": 0}),
    ("SET_BLUETOOTH_STATE", {"bluetooth_state": False}),
    ("SET_APP_PERMISSION", {"package_name": "a", "permission": "p", "grant_state": "PERMISSION_GRANT_STATE_GRANTED"}),
    ("SET_STATIC_IP", {"interface": "eth0", "dhcp_enabled": True}),
    ("SET_STATIC_IP", {"interface": "eth0", "dhcp_enabled": False, "static_ip": "10.0.0.9", "primary_dns": "dns.example", "subnet_mask": "255.0.0.0", "gateway": "gw"}),
    ("SET_WIFI_STATE", {"wifi_state": True, "wifi_revert_timeout": 1}),
    ("SET_TIMEZONE", {"timezone_string": "America/Argentina/Buenos_Aires"}),
    ("SET_DEVICE_LANGUAGE", {"locale": "zh_Hans_CN"}),
    ("ADD_WIFI_AP", {"wifi_access_points": {"ssid": "lobby"}}),
    ("SET_BRIGHTNESS_SCALE", {"brightness_value": 5, "brightnes_value": 5}),
    ("CAPTURE_SCREENSHOT", {}),
    ("NOTIFY_DEVICE", {"title": "t", "message": "m"}),
    ("CONVERGE", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "args"), VALID, ids=[f"{c}-{i}" for i, (c, _) in enumerate(VALID)]
)
@pytest.mark.anyio
async def test_boundary_values_are_accepted(
    sim: Simulator, command: str, args: dict[str, Any]
) -> None:
    """Values at the edges of each documented range are accepted."""
    async with sim.client() as client:
        response = await client.post(
            commands_path(sim), json=body(devices=_devices(sim), command=command, command_args=args)
        )
    assert response.status_code == 201, response.text


@pytest.mark.anyio
async def test_dynamic_accepts_devices_plus_groups_and_dedupes(sim: Simulator) -> None:
    """DYNAMIC takes devices and groups; rows are the de-duplicated union."""
    group = sim.group_ids[0]
    member = sim.group_members(group)[0]
    async with sim.client() as client:
        response = await client.post(
            commands_path(sim),
            json=body(command_type="DYNAMIC", devices=[member, member], groups=[group]),
        )
    assert response.status_code == 201
    assert response.json()["devices"] == [member]
    assert sum(s["total"] for s in response.json()["status"]) == len(sim.group_members(group))
