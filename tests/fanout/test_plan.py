"""The fan-out plan: validation, de-duplication, chunking and its fingerprint."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from esper_cmds import ValidationError
from esper_cmds._fanout.plan import Plan, build_plan, parse_targets

ENTERPRISE = uuid.UUID(int=7)


def ids(n: int, *, start: int = 1) -> list[str]:
    """`n` distinct UUID strings."""
    return [str(uuid.UUID(int=i)) for i in range(start, start + n)]


def plan(**overrides: Any) -> Plan:
    """A REBOOT plan over 2500 devices unless overridden."""
    kwargs: dict[str, Any] = {
        "enterprise_id": ENTERPRISE,
        "command": "REBOOT",
        "devices": ids(2500),
        "groups": [],
        "command_type": None,
        "device_type": "all",
        "command_args": None,
        "schedule": "IMMEDIATE",
        "schedule_args": None,
        "chunk_size": None,
    }
    kwargs.update(overrides)
    return build_plan(**kwargs)


def test_devices_are_cut_into_api_sized_chunks_in_order() -> None:
    """2500 devices make chunks of 1000, 1000 and 500, keeping the input order."""
    devices = ids(2500)
    result = plan(devices=devices)
    assert [len(c.devices) for c in result.chunks] == [1000, 1000, 500]
    assert [c.index for c in result.chunks] == [0, 1, 2]
    assert [d for c in result.chunks for d in c.devices] == devices
    assert result.command_type == "DEVICE"


def test_groups_are_cut_by_500() -> None:
    """A GROUP fan-out chunks groups by the API's 500."""
    result = plan(devices=[], groups=ids(1200))
    assert [len(c.groups) for c in result.chunks] == [500, 500, 200]
    assert result.command_type == "GROUP"
    assert result.payload(result.chunks[2])["groups"] == list(result.chunks[2].groups)


def test_same_inputs_same_plan_and_fingerprint() -> None:
    """The plan is a pure function of its inputs."""
    assert plan() == plan()


@pytest.mark.parametrize(
    "change",
    [
        {"command": "LOCK"},
        {"devices": ids(2500, start=2)},
        {"chunk_size": 500},
        {"device_type": "active"},
        {"enterprise_id": uuid.UUID(int=8)},
        {"command_type": "DYNAMIC"},
    ],
)
def test_fingerprint_changes_with_any_input(change: dict[str, Any]) -> None:
    """Any change to the command, targets, chunking or enterprise changes the fingerprint."""
    assert plan(**change).fingerprint != plan().fingerprint


def test_payload_is_the_validated_body_with_the_chunks_targets() -> None:
    """Each chunk's body is the shared validated body plus its own devices."""
    result = plan(
        command="SET_BRIGHTNESS_SCALE", command_args={"brightness_value": 40}, chunk_size=10
    )
    body = result.payload(result.chunks[3])
    assert body["command"] == "SET_BRIGHTNESS_SCALE"
    assert body["command_args"] == {"brightness_value": 40}
    assert body["devices"] == ids(10, start=31)
    assert "groups" not in body


def test_targets_are_deduplicated_keeping_the_first() -> None:
    """Repeats (in any spelling) are dropped; order of first appearance is kept."""
    a, b = ids(2)
    assert parse_targets([a, b, a.upper(), uuid.UUID(b)], "devices") == [a, b]


def test_malformed_id_is_named_by_index() -> None:
    """A bad id is refused with its position, before any plan exists."""
    with pytest.raises(ValidationError, match=r"devices\[2\]"):
        parse_targets([*ids(2), "not-a-uuid"], "devices")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"devices": []}, "devices"),
        ({"devices": ids(3), "groups": ids(2, start=9)}, "groups"),
        ({"chunk_size": 1001}, "chunk_size"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"devices": [], "groups": ids(2), "chunk_size": 501}, "chunk_size"),
        ({"command_type": "GROUP"}, "groups"),
        ({"devices": [], "groups": ids(2), "command_type": "DYNAMIC"}, "devices"),
        (
            {"command": "SET_BRIGHTNESS_SCALE", "command_args": {"brightness_value": 0}},
            "command_args.brightness_value",
        ),
    ],
)
def test_bad_inputs_are_refused_with_the_field(overrides: dict[str, Any], field: str) -> None:
    """Empty input, mixed targets, bad chunk sizes and bad args each name their field."""
    with pytest.raises(ValidationError) as caught:
        plan(**overrides)
    assert caught.value.field == field
