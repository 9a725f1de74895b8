"""The fan-out plan: validation, de-duplication, chunking and its fingerprint."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from esper_cmds import CommandSpec, ValidationError
from esper_cmds._converter import encode_create
from esper_cmds._fanout.plan import Chunk, Plan, build_plan
from esper_cmds._uuids import CANONICAL, all_canonical, texts_of_uuids
from esper_cmds._validation import parse_targets

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
    spec = CommandSpec(
        kwargs.pop("command"),
        **{k: kwargs.pop(k) for k in ("command_args", "command_type", "device_type", "schedule")},
        schedule_args=kwargs.pop("schedule_args"),
    )
    return build_plan(spec=spec, **kwargs)


def encoded(result: Plan, chunk: Chunk) -> tuple[dict[str, Any], bytes]:
    """The create body a chunk is sent with, as data and as bytes (the converter's one path)."""
    return encode_create(result.targeted_spec, result.command_type, chunk.devices, chunk.groups)


def payload(result: Plan, chunk: Chunk) -> dict[str, Any]:
    """The create body a chunk is sent with."""
    return encoded(result, chunk)[0]


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
    assert payload(result, result.chunks[2])["groups"] == list(result.chunks[2].groups)


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
    body = payload(result, result.chunks[3])
    assert body["command"] == "SET_BRIGHTNESS_SCALE"
    assert body["command_args"] == {"brightness_value": 40}
    assert body["devices"] == ids(10, start=31)
    assert "groups" not in body


@pytest.mark.parametrize(
    "overrides",
    [
        {"command": "SET_BRIGHTNESS_SCALE", "command_args": {"brightness_value": 40}},
        {"devices": [], "groups": ids(700), "command": "REBOOT"},
        {"command_type": "DYNAMIC", "device_type": "active"},
        {
            "command": "SET_KIOSK_APP",
            "command_args": {"package_name": 'com.exämple.\u2603"q"'},  # non-ASCII, quotes
            "schedule": "WINDOW",
            "schedule_args": {
                "name": "nightly \u00e9",
                "start_datetime": "2026-12-01T01:00:00+00:00",
                "end_datetime": "2026-12-01T05:00:00+00:00",
                "time_type": "device",
                "window_start_time": "01:00:00",
                "window_end_time": "05:00:00",
                "days": ["monday", "tuesday"],
            },
        },
    ],
)
def test_encoded_body_is_the_body_as_json(overrides: dict[str, Any]) -> None:
    """The pre-encoded body decodes to exactly `payload`, and is what httpx would have sent."""
    result = plan(**overrides)
    for chunk in result.chunks:
        body, content = encoded(result, chunk)
        assert json.loads(content) == body
        assert content == httpx.Request("POST", "http://x", json=body).content


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


def _one_by_one(values: list[Any]) -> bool:
    """The per-id test the bulk check must agree with."""
    return all(isinstance(v, str) and CANONICAL.fullmatch(v) for v in values)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t,  # canonical
        lambda t: t.upper(),  # upper case: valid, but not canonical
        lambda t: t.replace("-", ""),  # 32 characters
        lambda t: t[:8] + t[9:] + "0",  # a dash moved to the end, still 36 characters
        lambda t: t[:35] + "-",  # five dashes
        lambda t: t[:35] + "g",  # not hex
        lambda t: t[:35] + "\n",  # a newline
        lambda t: t[:35],  # 35 characters ...
        lambda t: t + "0",  # ... or 37
        lambda t: "{" + t[1:35] + "}",  # braces
        lambda t: uuid.UUID(t),  # not a str at all
    ],
)
def test_bulk_canonical_check_agrees_with_the_per_id_test(mangle: Any) -> None:
    """The bulk check says canonical exactly when every id matches the canonical pattern."""
    for position in (0, 1, 4):
        values: list[Any] = ids(5)
        values[position] = mangle(values[position])
        assert all_canonical(values) == _one_by_one(values)
    # A too-short id and a too-long one keep the total length right; still not canonical.
    values = ids(4)
    values[1], values[2] = values[1][:35], values[2] + "0"
    assert all_canonical(values) is False


def test_targets_parse_the_same_in_bulk_and_one_by_one() -> None:
    """Canonical ids (list, tuple or generator) come back deduplicated and in order."""
    canonical = ids(3000)
    repeated = [*canonical, *canonical[:10]]
    assert parse_targets(repeated, "devices") == canonical
    assert parse_targets(tuple(repeated), "devices") == canonical
    assert parse_targets((i for i in repeated), "devices") == canonical
    mixed: list[uuid.UUID | str] = [*canonical[:2], uuid.UUID(canonical[2]), canonical[3].upper()]
    assert parse_targets(mixed, "devices") == canonical[:4]
    with pytest.raises(ValidationError, match=r"devices\[2999\]"):
        parse_targets([*canonical[:2999], canonical[0][:35] + "g"], "devices")


def test_reprs_are_compact() -> None:
    """A chunk or plan repr names the sizes and the ends, not every id."""
    big = plan(devices=ids(2500))
    first = big.chunks[0]
    assert repr(first) == (
        f"Chunk(index=0, devices=<1000 ids: {first.devices[0]!r} … {first.devices[-1]!r}>)"
    )
    assert len(repr(big)) < 400
    assert "<3 chunks, 2500 targets>" in repr(big)
    assert big.fingerprint in repr(big)
    small = plan(devices=[], groups=ids(2), chunk_size=None)
    assert repr(small.chunks[0]) == f"Chunk(index=0, groups={tuple(ids(2))!r})"


def test_uuid_objects_become_the_same_texts_as_str_in_bulk() -> None:
    """UUID objects (as listings return them) give exactly ``str(u)``, de-duplicated in order."""
    edge = [uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1), uuid.UUID(int=1 << 64)]
    many = [
        uuid.UUID(int=(i * 0x9E3779B97F4A7C15F39CC0605CEDC835) % (1 << 128)) for i in range(5000)
    ]
    # Duplicates as equal but distinct objects, and again as the same object.
    values = [*edge, *many, uuid.UUID(str(many[7])), many[3], *edge]
    expected = list(dict.fromkeys(str(u) for u in values))
    assert parse_targets(values, "devices") == expected
    assert texts_of_uuids(values) == expected
    assert texts_of_uuids([]) == []
    assert all(CANONICAL.fullmatch(t) for t in expected)


def test_mixed_ids_take_the_one_by_one_path_with_the_same_result() -> None:
    """UUIDs mixed with strings (or a UUID subclass) are parsed one by one, to the same texts."""

    class Tagged(uuid.UUID):
        pass

    a, b, c = (uuid.UUID(int=n) for n in (11, 12, 13))
    assert parse_targets([a, str(b).upper(), c, str(a)], "devices") == [str(a), str(b), str(c)]
    assert parse_targets([Tagged(int=11), a], "devices") == [str(a)]
