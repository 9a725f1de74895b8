"""The converter: the one place that knows the JSON, and how it tolerates a newer server."""

from __future__ import annotations

import datetime as dt
import pickle
import re
import uuid
from typing import Any

import pytest

from esper_cmds import (
    Command,
    CommandArgs,
    CommandRequest,
    CommandState,
    CommandStatus,
    DeviceType,
    Page,
    ScheduleArgs,
    StateTotal,
    TimeType,
    is_terminal,
)
from esper_cmds._converter import structure, unstructure
from esper_cmds._uuids import uuid_from_text, uuids_from_texts

from .._support import DEVICE_A, REQUEST_ID, request_json, status_json


def test_unknown_state_is_kept_as_its_string_and_is_not_terminal() -> None:
    """An unknown state survives decoding as a plain str and counts as in flight."""
    status = structure(status_json(state="Command Paused"), CommandStatus)
    assert status.state == "Command Paused"
    assert not isinstance(status.state, CommandState)
    assert is_terminal(status.state) is False


def test_unknown_command_and_enums_are_kept_in_a_request() -> None:
    """A new command, command type, device type, schedule and total state do not fail the page."""
    body = request_json(
        command="FLY_TO_MOON",
        command_type="FLEET",
        device_type="sleepy",
        schedule="HOURLY",
        status=[{"state": "Command Paused", "total": 2}],
        schedule_args={"time_type": "satellite"},
    )
    request = structure(body, CommandRequest)
    assert request.command == "FLY_TO_MOON"
    assert not isinstance(request.command, Command)
    assert (request.command_type, request.device_type, request.schedule) == (
        "FLEET",
        "sleepy",
        "HOURLY",
    )
    assert request.status == (StateTotal(state="Command Paused", total=2),)
    assert request.schedule_args is not None
    assert request.schedule_args.time_type == "satellite"


def test_known_values_become_enum_members() -> None:
    """Known strings decode to the enum members themselves."""
    request = structure(request_json(), CommandRequest)
    assert isinstance(request.command, Command)
    assert isinstance(request.device_type, DeviceType)
    assert request.schedule_args is not None
    assert request.schedule_args.time_type is TimeType.DEVICE


def test_non_string_enum_value_is_refused() -> None:
    """A number where an enum string belongs is a shape error, not silently kept."""
    with pytest.raises(TypeError, match="expected a string for CommandState"):
        structure(status_json(state=7), CommandStatus)


def test_unknown_fields_are_ignored() -> None:
    """Fields the server adds later are ignored, at the top level and nested."""
    body = request_json(priority="high", status=[{"state": "Command Success", "total": 1, "x": 0}])
    body["schedule_args"]["jitter"] = 5
    request = structure(body, CommandRequest)
    assert request.status == (StateTotal(state=CommandState.SUCCESS, total=1),)
    assert "priority" not in unstructure(request)


def test_unknown_command_args_are_kept_in_extra_and_sent_back() -> None:
    """Command arguments without a field go to `extra` and are written back unchanged."""
    body = request_json(command_args={"package_name": "com.a", "duration_ms": 500})
    request = structure(body, CommandRequest)
    assert request.command_args.package_name == "com.a"
    assert request.command_args.extra == {"duration_ms": 500}
    assert unstructure(request.command_args) == {"package_name": "com.a", "duration_ms": 500}


def test_null_lists_and_null_command_args_read_as_empty() -> None:
    """``null`` for a list or for command_args reads as empty rather than failing the page."""
    body = request_json(devices=None, groups=None, status=None, command_args=None)
    request = structure(body, CommandRequest)
    assert (request.devices, request.groups, request.status) == ((), (), ())
    assert request.command_args == CommandArgs()


def test_a_string_where_a_list_belongs_is_refused() -> None:
    """A bare string for a list field is an error, not a tuple of its characters."""
    with pytest.raises(TypeError, match="expected a list"):
        structure(request_json(devices=DEVICE_A), CommandRequest)


def test_none_fields_are_left_out_when_sending() -> None:
    """Unset (None) fields are omitted from what is sent, at every level."""
    args = CommandArgs(brightness_value=50)
    assert unstructure(args) == {"brightness_value": 50}
    schedule = ScheduleArgs(name="n", time_type=TimeType.CONSOLE)
    assert unstructure(schedule) == {"name": "n", "time_type": "console"}
    request = CommandRequest(id=uuid.UUID(REQUEST_ID), command=Command.REBOOT)
    assert unstructure(request) == {"id": REQUEST_ID, "command": "REBOOT"}


def test_enum_members_are_sent_as_plain_strings() -> None:
    """Enum members unstructure to their exact string values (type str, not the enum)."""
    out = unstructure(StateTotal(state=CommandState.TIMEOUT, total=1))
    assert out == {"state": "Command TimeOut", "total": 1}
    assert type(out["state"]) is str


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-31T10:00:00Z", dt.datetime(2024, 5, 31, 10, tzinfo=dt.UTC)),
        ("2024-05-31T10:00:00.5+00:00", dt.datetime(2024, 5, 31, 10, 0, 0, 500000, tzinfo=dt.UTC)),
        (
            "2024-05-31T12:00:00+02:00",
            dt.datetime(2024, 5, 31, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ),
    ],
)
def test_datetimes_are_read_from_iso_8601(text: str, expected: dt.datetime) -> None:
    """ISO-8601 with ``Z``, fractions and offsets is read as an aware datetime."""
    status = structure(status_json(created_on=text), CommandStatus)
    assert status.created_on == expected
    assert status.created_on is not None
    assert status.created_on.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.datetime(2024, 6, 1, tzinfo=dt.UTC), "2024-06-01T00:00:00Z"),
        (
            dt.datetime(2024, 6, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "2024-06-01T09:30:00-05:00",
        ),
    ],
)
def test_datetimes_are_written_with_their_offset(value: dt.datetime, text: str) -> None:
    """Aware datetimes are written as ISO-8601, UTC as ``Z``."""
    assert unstructure(ScheduleArgs(start_datetime=value)) == {"start_datetime": text}


def test_datetime_that_is_not_text_is_refused() -> None:
    """A number where a timestamp belongs is a shape error."""
    with pytest.raises(TypeError, match="ISO-8601"):
        structure(status_json(created_on=1717149600), CommandStatus)


def test_uuids_are_read_from_text_and_from_resource_urls() -> None:
    """A UUID field accepts the bare id and a hyperlinked resource URL (the OpenAPI's ``url``)."""
    link = f"https://acme-api.esper.cloud/api/enterprise/e/device/{DEVICE_A}/"
    status = structure(status_json(device=link), CommandStatus)
    assert status.device == uuid.UUID(DEVICE_A)
    assert unstructure(status)["device"] == DEVICE_A


@pytest.mark.parametrize("bad", ["not-a-uuid", 12, None])
def test_malformed_uuid_is_refused(bad: Any) -> None:
    """A malformed or missing id fails decoding instead of producing a wrong object."""
    with pytest.raises((ValueError, TypeError)):
        structure(status_json(request=bad), CommandStatus)


def test_page_of_unknown_states_decodes_whole() -> None:
    """One item with a new state does not fail the rest of its page."""
    body = {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [status_json(0, state="Command Success"), status_json(1, state="Command New")],
    }
    page = structure(body, Page[CommandStatus])
    assert [s.state for s in page.results] == [CommandState.SUCCESS, "Command New"]


# The fast path for 36-character ids must be indistinguishable from uuid.UUID(text).
_UUID_TEXTS = [
    "5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b",
    "5B7C1E0A-0D4E-4A57-9A3C-0C1D2E3F4A5B",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8",  # version 1
    "5b7c1e0a0d4e4a579a3c0c1d2e3f4a5b----",  # dashes anywhere: uuid.UUID drops them all
    "5b7c1e0a_0d4e-4a57-9a3c-0c1d2e3f4a5b",  # int() accepts the underscore; so does uuid.UUID
    "{5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a}",  # 36 characters with braces: uuid.UUID's own path
    "urn:uuid:5b7c1e0a0d4e4a579a3c0c1d2e3",  # 36 characters with a URN prefix
    "5b7c1e0a0d4e4a579a3c0c1d2e3f4a5b",  # 32 characters: not the fast path
]


@pytest.mark.parametrize("text", _UUID_TEXTS)
def test_fast_uuid_equals_uuid_constructor(text: str) -> None:
    """A decoded id is equal to uuid.UUID(text) in value, hash, text, repr, pickle and safety."""
    try:
        expected = uuid.UUID(text)
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            uuid_from_text(text)
        return
    got = uuid_from_text(text)
    assert type(got) is uuid.UUID
    assert got == expected
    assert hash(got) == hash(expected)
    assert (str(got), repr(got), got.int, got.hex, got.bytes) == (
        str(expected),
        repr(expected),
        expected.int,
        expected.hex,
        expected.bytes,
    )
    assert (got.version, got.variant, got.is_safe) == (
        expected.version,
        expected.variant,
        expected.is_safe,
    )
    assert pickle.dumps(got) == pickle.dumps(expected)
    assert pickle.loads(pickle.dumps(got)) == expected
    assert {got: 1}[expected] == 1


@pytest.mark.parametrize(
    "text",
    [
        "5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5g",  # not hex
        "5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5",  # too short
        "5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b0",  # too long
        "5b7c1e0a--d4e-4a57-9a3c-0c1d2e3f4a5b",  # 36 characters, 31 digits
        "+b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b",  # a sign int() would take; so does uuid.UUID
        " b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b",  # likewise a space
        "٥b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b",  # likewise a non-ASCII digit
    ],
)
def test_fast_uuid_accepts_and_refuses_what_uuid_does(text: str) -> None:
    """Odd 36-character text decodes exactly when uuid.UUID(text) does, to the same value."""
    try:
        expected = uuid.UUID(text)
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            uuid_from_text(text)
        return
    assert uuid_from_text(text) == expected
    assert str(uuid_from_text(text)) == str(expected)


def test_request_devices_decode_to_real_uuids() -> None:
    """A create answer's 1000 device ids decode to uuid.UUID objects equal to the text's."""
    devices = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(1000)]
    request = structure(request_json(devices=devices), CommandRequest)
    assert request.devices == tuple(uuid.UUID(d) for d in devices)
    assert all(type(d) is uuid.UUID and d.is_safe is uuid.SafeUUID.unknown for d in request.devices)


def _devices_one_by_one(texts: list[Any]) -> tuple[uuid.UUID, ...]:
    return tuple(structure(request_json(devices=[t]), CommandRequest).devices[0] for t in texts)


@pytest.mark.parametrize("text", _UUID_TEXTS)
def test_bulk_device_list_decodes_as_each_id_alone(text: str) -> None:
    """A device list decodes to what its ids decode to one by one: same values, same errors.

    Canonical lists take the bulk path; every other list (here: one odd id among canonical
    ones, at the start, middle and end) falls back to the per-id path, so an odd spelling is
    accepted or refused exactly as when it is alone.
    """
    canonical = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(5)]
    for texts in ([text], [text, *canonical], [*canonical[:2], text, *canonical[2:]]):
        try:
            expected = _devices_one_by_one(texts)
        except (ValueError, TypeError) as exc:
            with pytest.raises(type(exc), match=re.escape(str(exc))):
                structure(request_json(devices=texts), CommandRequest)
            continue
        got = structure(request_json(devices=texts), CommandRequest).devices
        assert got == expected
        assert [str(u) for u in got] == [str(u) for u in expected]
        assert all(type(u) is uuid.UUID and u.is_safe is uuid.SafeUUID.unknown for u in got)


def test_bulk_path_takes_only_canonical_lists() -> None:
    """The bulk decoder answers for canonical lists and declines (None) everything else."""
    ids = [uuid.UUID(int=i * 104729 + 3) for i in range(1000)]
    texts = [str(u) for u in ids]
    assert uuids_from_texts(texts) == tuple(ids)
    assert uuids_from_texts([t.upper() for t in texts]) == tuple(ids)  # uuid.UUID takes both
    assert uuids_from_texts([]) == ()
    declined: list[list[Any]] = [
        [*texts[:3], 7],  # not all strings
        [*texts[:3], texts[3][:35]],  # a short id
        [texts[0][:35], texts[1] + "0"],  # lengths that add up but do not match one by one
        [*texts[:3], texts[3].replace("-", "")[:32] + "----"],  # dashes elsewhere
        [*texts[:3], "g" + texts[3][1:]],  # not hex
        [f"https://x.esper.cloud/api/device/{texts[0][:-2]}/"],  # a resource URL
    ]
    for values in declined:
        assert uuids_from_texts(values) is None, values


@pytest.mark.parametrize("bad", [[7], ["not-a-uuid"], [DEVICE_A, "x" * 36], [DEVICE_A, None]])
def test_bad_id_in_a_device_list_is_refused(bad: list[Any]) -> None:
    """A bad id anywhere in a device list fails the decoding, bulk path or not."""
    with pytest.raises((ValueError, TypeError)):
        structure(request_json(devices=bad), CommandRequest)
