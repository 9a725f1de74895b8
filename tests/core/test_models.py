"""The models: every field of the four endpoints (and the listings) survives a round trip."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from esper_cmds import (
    Command,
    CommandArgs,
    CommandRequest,
    CommandState,
    CommandStatus,
    CommandType,
    Device,
    DeviceGroup,
    DeviceType,
    Page,
    Schedule,
    ScheduleArgs,
    StateTotal,
    TimeType,
    is_terminal,
)
from esper_cmds._converter import structure, unstructure

from .._support import DEVICE_A, ENTERPRISE_ID, GROUP_A, REQUEST_ID, request_json, status_json

DEVICE_JSON: dict[str, Any] = {
    "id": DEVICE_A,
    "url": f"https://acme-api.esper.cloud/api/enterprise/{ENTERPRISE_ID}/device/{DEVICE_A}/",
    "device_name": "ACME-0001",
    "alias_name": "front desk",
    "policy_name": "kiosk",
    "status": 1,
    "state": 20,
    "current_command": "c0ffee00-0000-4000-8000-000000000001",
    "suid": "suid-1",
    "fcm_id": "fcm-1",
    "enterprise": f"https://acme-api.esper.cloud/api/enterprise/{ENTERPRISE_ID}/",
    "policy": "https://acme-api.esper.cloud/api/policy/7/",
    "user": "https://acme-api.esper.cloud/api/user/3/",
    "groups": [
        f"https://acme-api.esper.cloud/api/enterprise/{ENTERPRISE_ID}/devicegroup/{GROUP_A}/"
    ],
    "tags": ["lobby", "berlin"],
    "api_level": 30,
    "template_name": "default",
    "mqtt_id": "mqtt-1",
    "softwareInfo": {"androidVersion": "11"},
    "hardwareInfo": {"manufacturer": "Acme"},
    "displays": {"count": 1},
    "networkInfo": {"wifiMacAddress": "00:11:22:33:44:55"},
    "memoryInfo": {"totalRam": 4096},
    "audioConstraints": {"maxVolume": 15},
    "provisioned_on": "2024-01-02T03:04:05Z",
    "created_on": "2024-01-02T03:04:05Z",
    "updated_on": "2024-02-03T04:05:06.123456Z",
    "emm_device": {"google_id": "g-1"},
    "is_gms": True,
    "is_active": False,
}

GROUP_JSON: dict[str, Any] = {
    "id": GROUP_A,
    "name": "Berlin",
    "created_on": "2024-01-02T03:04:05Z",
    "enterprise": f"https://acme-api.esper.cloud/api/enterprise/{ENTERPRISE_ID}/",
    "parent": None,
    "device_count": 12,
    "path": "/stores/berlin",
    "children_count": 2,
}


def test_command_request_reads_every_field() -> None:
    """Every field of Esper's command request is decoded into its typed attribute."""
    request = structure(request_json(), CommandRequest)
    assert request.id == uuid.UUID(REQUEST_ID)
    assert request.enterprise == ENTERPRISE_ID
    assert request.command_type is CommandType.GROUP
    assert request.devices == ()
    assert request.groups == (uuid.UUID(GROUP_A),)
    assert request.device_type is DeviceType.ALL
    assert request.command is Command.SET_APP_STATE
    assert request.command_args == CommandArgs(package_name="com.example.app", app_state="HIDE")
    assert request.schedule is Schedule.WINDOW
    assert request.schedule_args == ScheduleArgs(
        name="after-hours",
        start_datetime=dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
        end_datetime=dt.datetime(2024, 6, 30, tzinfo=dt.UTC),
        time_type=TimeType.DEVICE,
        window_start_time="22:00:00",
        window_end_time="23:59:00",
        days=("Monday", "Tuesday"),
    )
    assert request.issued_by == "1234"
    assert request.created_on == dt.datetime(2024, 5, 31, 10, tzinfo=dt.UTC)
    assert request.status == (StateTotal(state=CommandState.SCHEDULED, total=3),)
    assert request.totals() == {CommandState.SCHEDULED: 3}


def test_command_status_reads_every_field() -> None:
    """Every field of a per-device status is decoded, offsets included."""
    status = structure(status_json(), CommandStatus)
    assert status.id == uuid.UUID(int=1)
    assert status.request == uuid.UUID(REQUEST_ID)
    assert status.device == uuid.UUID(DEVICE_A)
    assert status.state is CommandState.FAILURE
    assert status.reason == "Package not installed"
    assert status.created_on == dt.datetime(2024, 5, 31, 10, tzinfo=dt.UTC)
    assert status.updated_on == dt.datetime(
        2024, 5, 31, 22, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )


def test_device_reads_every_field_including_camel_case_keys() -> None:
    """The device listing's camelCase objects land in snake_case attributes and nothing is lost."""
    device = structure(DEVICE_JSON, Device)
    assert device.software_info == {"androidVersion": "11"}
    assert device.hardware_info == {"manufacturer": "Acme"}
    assert device.network_info == {"wifiMacAddress": "00:11:22:33:44:55"}
    assert device.memory_info == {"totalRam": 4096}
    assert device.audio_constraints == {"maxVolume": 15}
    assert device.group_ids == (uuid.UUID(GROUP_A),)
    assert device.is_active is False
    assert device.updated_on == dt.datetime(2024, 2, 3, 4, 5, 6, 123456, tzinfo=dt.UTC)
    # Every attribute was filled from the JSON: none is left at its default.
    unset = [a.name for a in attrs.fields(Device) if getattr(device, a.name) == a.default]
    assert unset == []


def test_device_group_ids_skip_links_without_an_id() -> None:
    """`Device.group_ids` takes the id from each group URL and skips one without an id."""
    device = Device(id=uuid.UUID(DEVICE_A), groups=(f"/devicegroup/{GROUP_A}/", "/devicegroup/x/"))
    assert device.group_ids == (uuid.UUID(GROUP_A),)


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        (request_json(), CommandRequest),
        (request_json(command_type="DEVICE", devices=[DEVICE_A], groups=[]), CommandRequest),
        (status_json(), CommandStatus),
        (DEVICE_JSON, Device),
        (GROUP_JSON, DeviceGroup),
        ({"state": "Command Success", "total": 4}, StateTotal),
    ],
    ids=["request", "device-request", "status", "device", "group", "state-total"],
)
def test_round_trip_structure_unstructure_structure(data: dict[str, Any], cls: type[Any]) -> None:
    """structure → unstructure → structure gives back an equal model."""
    model = structure(data, cls)
    again = structure(unstructure(model), cls)
    assert again == model


def test_page_round_trip_and_shape() -> None:
    """A page of statuses decodes count, links and results, and round-trips."""
    body = {
        "count": 41,
        "next": "https://x/api/v0/?limit=2&offset=2",
        "previous": None,
        "results": [status_json(0), status_json(1)],
    }
    page = structure(body, Page[CommandStatus])
    assert page.count == 41
    assert page.next == body["next"]
    assert page.previous is None
    assert [s.id for s in page.results] == [uuid.UUID(int=1), uuid.UUID(int=2)]
    assert structure(unstructure(page), Page[CommandStatus]) == page


def test_models_are_frozen() -> None:
    """Models cannot be changed in place (use attrs.evolve)."""
    status = structure(status_json(), CommandStatus)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        status.state = CommandState.SUCCESS  # type: ignore[misc]
    assert attrs.evolve(status, state=CommandState.SUCCESS).state is CommandState.SUCCESS


def test_command_args_repr_shows_set_fields_and_hides_password() -> None:
    """The args repr lists only the set fields and never the new lockscreen password."""
    args = CommandArgs(brightness_value=40, new_lockscreen_password="hunter2", extra={"k": 1})
    text = repr(args)
    assert "brightness_value=40" in text
    assert "extra={'k': 1}" in text
    assert "hunter2" not in text
    assert "package_name" not in text


@pytest.mark.parametrize("state", list(CommandState))
def test_is_terminal_for_every_known_state(state: CommandState) -> None:
    """Exactly Success, Failure, TimeOut and Cancelled are terminal, by property and function."""
    expected = state.value in {
        "Command Success",
        "Command Failure",
        "Command TimeOut",
        "Command Cancelled",
    }
    assert state.is_terminal is expected
    assert is_terminal(state) is expected
    assert is_terminal(state.value) is expected


def test_enums_hold_the_documented_values() -> None:
    """The enums carry Esper's exact strings: 37 commands, 9 states, 3 of each small enum."""
    assert len(Command) == 37
    assert {s.value for s in CommandState} == {
        "Command Queued",
        "Command Initiated",
        "Command Acknowledged",
        "Command In Progress",
        "Command TimeOut",
        "Command Success",
        "Command Failure",
        "Command Scheduled",
        "Command Cancelled",
    }
    assert [t.value for t in CommandType] == ["DEVICE", "GROUP", "DYNAMIC"]
    assert [t.value for t in DeviceType] == ["active", "inactive", "all"]
    assert [s.value for s in Schedule] == ["IMMEDIATE", "WINDOW", "RECURRING"]
    assert [t.value for t in TimeType] == ["console", "device"]
