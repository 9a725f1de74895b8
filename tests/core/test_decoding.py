"""`decode`: response bytes into models in C, equal to the reference reader, tolerant of odd items.

The rule under test (see ``esper_cmds._converter``): a value of the wrong type fails the response
where the library acts on it (ids, states, commands, targets, timestamps, totals, the envelope);
in a field it only carries it reads as None (or empty) and the item keeps the raw JSON in
``unparsed``. Nothing is coerced.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import gc
import json
import pickle
import random
import sys
import sysconfig
import threading
import time
import uuid
import weakref
from typing import Any

import attrs
import httpx
import msgspec
import pytest

from esper_cmds import (
    CommandArgs,
    CommandRequest,
    CommandState,
    CommandStatus,
    Device,
    DeviceGroup,
    MalformedResponseError,
    Page,
    ScheduleArgs,
    StateTotal,
    TimeType,
    _converter,
)
from esper_cmds._converter import (
    _PROMOTED_FROM,
    _TIERS,
    NotJSONError,
    converter,
    decode,
    structure,
    unstructure,
)

from .._support import (
    DEVICE_A,
    GROUP_A,
    REQUEST_ID,
    V0,
    V1,
    make_client,
    make_router,
    page_json,
    request_json,
    status_json,
)
from .test_models import DEVICE_JSON, GROUP_JSON

_KNOWN_VALUES, _OPEN_ENUMS, _IDS_AS_TEXT = _TIERS


def _c_path(cls: Any, body: bytes) -> Any:
    """What the first shadow set that takes `body` decodes (msgspec's error if none does)."""
    for tier in _TIERS[:-1]:
        reader = tier.reader(cls)
        assert reader is not None
        try:
            return reader(body)
        except msgspec.ValidationError:
            continue
    reader = _TIERS[-1].reader(cls)
    assert reader is not None
    return reader(body)


def _body(data: Any) -> bytes:
    return json.dumps(data).encode()


def _same(fast: Any, reference: Any) -> None:
    """Equal, of the same types all the way down, with the same repr."""
    assert fast == reference
    assert repr(fast) == repr(reference)
    assert _types(fast) == _types(reference)


def _types(value: Any) -> Any:
    if attrs.has(type(value)):
        return (type(value), [_types(getattr(value, a.name)) for a in attrs.fields(type(value))])
    if isinstance(value, tuple | list):
        return (type(value), [_types(v) for v in value])
    if isinstance(value, dict):
        return (type(value), {k: _types(v) for k, v in value.items()})
    if isinstance(value, dt.datetime):
        return (type(value), value.utcoffset())
    return type(value)


def _decodes_like_structure(data: Any, cls: Any) -> Any:
    """`decode` gives what `structure` gives, or fails as it does."""
    try:
        expected = structure(data, cls)
    except Exception as exc:  # the reference's refusal is the rule
        with pytest.raises(type(exc)):
            decode(_body(data), cls)
        return None
    got = decode(_body(data), cls)
    _same(got, expected)
    return got


# --- the C path: taken for what the API sends, equal to the reference ---------------------


_SHAPES: list[tuple[Any, Any]] = [
    (status_json(), CommandStatus),
    (request_json(), CommandRequest),
    (request_json(devices=[DEVICE_A], groups=None, status=None, command_args=None), CommandRequest),
    (request_json(schedule_args=None, schedule=None, command_type=None), CommandRequest),
    (request_json(command_args={"package_name": "a", "duration_ms": 5}), CommandRequest),
    ({"state": "Command Success", "total": 4}, StateTotal),
    (DEVICE_JSON, Device),
    ({"id": DEVICE_A, "groups": None, "tags": None}, Device),
    (GROUP_JSON, DeviceGroup),
    (page_json([status_json(0), status_json(1, state="Command Paused")]), Page[CommandStatus]),
    (page_json([request_json(), request_json(devices=[DEVICE_A])]), Page[CommandRequest]),
    (page_json([DEVICE_JSON, {"id": DEVICE_A}], next="https://x/api/?offset=2"), Page[Device]),
    (page_json([GROUP_JSON]), Page[DeviceGroup]),
    ({"count": 0, "next": None, "previous": None, "results": None}, Page[CommandStatus]),
]


@pytest.mark.parametrize(("data", "cls"), _SHAPES)
def test_the_c_path_reads_what_the_api_sends_as_the_reference_does(data: Any, cls: Any) -> None:
    """Well-formed bodies never leave msgspec, and give exactly the reference's models."""
    _same(_c_path(cls, _body(data)), structure(data, cls))


def test_known_values_are_read_without_python_and_new_ones_by_the_next_set() -> None:
    """A page of known states is read by the first shadow set (msgspec maps each to its member);
    one new state sends the page to the open-enum set, which keeps it as text."""
    known = _body(page_json([status_json(i, state="Command Success") for i in range(3)]))
    reader = _KNOWN_VALUES.reader(Page[CommandStatus])
    assert reader is not None
    assert [s.state for s in reader(known).results] == [CommandState.SUCCESS] * 3
    new = _body(page_json([status_json(0), status_json(1, state="Command Paused")]))
    with pytest.raises(msgspec.ValidationError):
        reader(new)
    opened = _OPEN_ENUMS.reader(Page[CommandStatus])
    assert opened is not None
    assert [s.state for s in opened(new).results] == [CommandState.FAILURE, "Command Paused"]


def test_decoded_models_are_plain_instances_of_the_model() -> None:
    """What msgspec decodes into is the model class itself: type, hash, pickle, copy, evolve,
    weak references and attrs all see an ordinary instance."""
    status = decode(_body(status_json(state="Command Success")), CommandStatus)
    reference = structure(status_json(state="Command Success"), CommandStatus)
    assert type(status) is CommandStatus
    assert type(status).__name__ == "CommandStatus"
    assert hash(status) == hash(reference)
    assert {status: 1}[reference] == 1
    assert pickle.loads(pickle.dumps(status)) == reference
    assert type(pickle.loads(pickle.dumps(status))) is CommandStatus
    assert copy.deepcopy(status) == reference
    assert attrs.evolve(status, reason="x") == attrs.evolve(reference, reason="x")
    assert weakref.ref(status)() is status
    assert status.state is CommandState.SUCCESS
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        status.state = CommandState.FAILURE  # type: ignore[misc]
    page = decode(_body(page_json([status_json()])), Page[CommandStatus])
    assert type(page) is Page
    assert type(page.results) is tuple
    assert type(page.results[0]) is CommandStatus


@pytest.mark.parametrize("tier", _TIERS, ids=["known-values", "open-enums", "ids-as-text"])
def test_every_decoded_item_is_the_model_with_a_mapping_of_its_own(tier: Any) -> None:
    """Items finished in bulk (no post-init of their own) and items finished one by one both come
    out as the model, each with its own empty ``unparsed`` dict: one shared mapping would let a
    change through one item show on every other."""
    body = _body(page_json([status_json(i, state="Command Success") for i in range(4)]))
    reader = tier.reader(Page[CommandStatus])
    assert reader is not None
    page = reader(body)
    assert [type(s) for s in page.results] == [CommandStatus] * 4
    assert [type(s.unparsed) for s in page.results] == [dict] * 4
    assert all(s.unparsed == {} for s in page.results)
    assert len({id(s.unparsed) for s in page.results}) == 4
    assert page.results == structure(json.loads(body), Page[CommandStatus]).results
    single = tier.reader(CommandStatus)
    assert single is not None
    alone = single(_body(status_json(state="Command Success")))
    assert type(alone) is CommandStatus
    assert type(alone.unparsed) is dict


def test_a_request_decodes_its_nested_models_and_enums() -> None:
    """Nested shadows (schedule, totals) become the models, open enums their members."""
    request = decode(_body(request_json()), CommandRequest)
    assert type(request.schedule_args) is ScheduleArgs
    assert request.schedule_args.time_type is TimeType.DEVICE
    assert type(request.status[0]) is StateTotal
    assert request.status[0].state is CommandState.SCHEDULED
    assert type(request.command_args) is CommandArgs
    assert request.devices == ()
    assert request.groups == (uuid.UUID(GROUP_A),)


def test_device_ids_sent_as_resource_urls_stay_off_the_reference_path() -> None:
    """A status whose device is a URL (as the OpenAPI types it) is read by the ids-as-text
    shadows, not by the slow reference, and reads as the URL's id."""
    link = f"https://acme-api.esper.cloud/api/enterprise/e/device/{DEVICE_A}/"
    body = _body(page_json([status_json(i, device=link) for i in range(3)]))
    for tier in (_KNOWN_VALUES, _OPEN_ENUMS):
        with pytest.raises(msgspec.ValidationError):
            tier.reader(Page[CommandStatus])(body)  # type: ignore[misc]
    reader = _IDS_AS_TEXT.reader(Page[CommandStatus])
    assert reader is not None
    page = reader(body)
    assert [s.device for s in page.results] == [uuid.UUID(DEVICE_A)] * 3
    _same(decode(body, Page[CommandStatus]), structure(json.loads(body), Page[CommandStatus]))


# --- the same answers as the reference, shape by shape ------------------------------------


_ODD_UUIDS = [
    DEVICE_A.upper(),
    DEVICE_A.replace("-", ""),
    "{" + DEVICE_A + "}",
    "urn:uuid:" + DEVICE_A,
    DEVICE_A[:-1] + "g",
    DEVICE_A + "0",
    "5b7c1e0a_0d4e-4a57-9a3c-0c1d2e3f4a5b",
    f"http://x/api/device/{DEVICE_A}",
    f"https://x/api/device/{DEVICE_A}/",
    "",
    7,
    None,
]


@pytest.mark.parametrize("value", _ODD_UUIDS)
@pytest.mark.parametrize("field", ["id", "request", "device"])
def test_ids_decode_as_the_reference_reads_them(field: str, value: Any) -> None:
    """Every spelling of an id is accepted or refused as `structure` does, to the same UUID."""
    _decodes_like_structure(status_json(**{field: value}), CommandStatus)
    _decodes_like_structure(
        page_json([status_json(), status_json(**{field: value})]), Page[CommandStatus]
    )


@pytest.mark.parametrize("value", _ODD_UUIDS)
def test_device_lists_decode_as_the_reference_reads_them(value: Any) -> None:
    """An odd id in a request's device list: same UUIDs, or the same refusal."""
    _decodes_like_structure(request_json(devices=[DEVICE_A, value]), CommandRequest)


_DATETIMES = [
    "2024-05-31T10:00:00Z",
    "2024-05-31T10:00:00z",
    "2024-05-31t10:00:00Z",
    "2024-05-31 10:00:00Z",
    "2024-05-31T10:00:00",
    "2024-05-31T10:00:00.5+02:00",
    "2024-05-31T10:00:00-00:00",
    "2024-05-31T10:00:00+0530",
    "2024-05-31T10:00:00.123456Z",
    "2024-05-31T10:00:00.1234564Z",
    "2024-05-31T10:00:00.1234565Z",
    "2024-05-31T10:00:00.9999995Z",
    "2024-12-31T23:59:59.99999951Z",
    "9999-12-31T23:59:59.9999995Z",
    "2024-05-31T10:00Z",
    "2024-05-31",
    "2024-05-31T10:00:60Z",
    "2024-05-31T24:00:00Z",
    "2024-05-31T10:00:00,5Z",
    "not a date",
    "",
    1717149600,
    None,
]


@pytest.mark.parametrize("value", _DATETIMES)
def test_timestamps_decode_as_the_reference_reads_them(value: Any) -> None:
    """Every timestamp spelling gives the same instant and offset, or the same refusal, and a
    fraction finer than microseconds rounds the same way on both paths."""
    _decodes_like_structure(status_json(updated_on=value), CommandStatus)
    _decodes_like_structure(request_json(created_on=value), CommandRequest)


def test_random_pages_decode_as_the_reference_reads_them() -> None:
    """Pages of statuses, requests and devices with values drawn from valid and odd ones
    (unknown states, nulls, missing keys, unknown keys, URLs, wrong types) decode alike."""
    rng = random.Random(7)
    values: dict[str, list[Any]] = {
        "state": ["Command Success", "Command New", "", None, 3, ["Command Success"]],
        "reason": ["ok", "", None, 5, {"why": 1}],
        "device": [DEVICE_A, DEVICE_A.upper(), f"https://x/device/{DEVICE_A}/", "x", 1],
        "updated_on": ["2024-05-31T10:00:00Z", "2024-05-31T10:00:00.1234567+01:00", None, 3],
        "command": ["REBOOT", "FLY", None, 1],
        "schedule_args": [None, "weekly", [], {"days": "Monday"}, {"time_type": "satellite"}],
        "command_args": [None, {}, {"brightness_value": "80"}, {"x": 1}, "x", []],
        "devices": [None, [], [DEVICE_A], [DEVICE_A, "x"], "x"],
        "status": [None, [], [{"state": "Command Success", "total": 1}], [{"total": "1"}]],
        "is_gms": [True, "false", None, 0],
        "api_level": [30, 30.9, "30", None, True],
        "groups": [None, [], ["/g/"], "g", [1]],
        "softwareInfo": [None, {"a": 1}, [], "x"],
        "surplus": [1, None, {"a": [1, 2]}],
    }

    def vary(base: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        item = dict(base)
        for key in keys:
            roll = rng.random()
            if roll < 0.3:
                item[key] = rng.choice(values[key])
            elif roll < 0.4:
                item.pop(key, None)
        return item

    kinds: list[tuple[Any, Any, list[str]]] = [
        (status_json, CommandStatus, ["state", "reason", "device", "updated_on", "surplus"]),
        (
            request_json,
            CommandRequest,
            ["command", "schedule_args", "command_args", "devices", "status", "surplus"],
        ),
        (lambda: DEVICE_JSON, Device, ["is_gms", "api_level", "groups", "softwareInfo"]),
    ]
    for _ in range(400):
        make, cls, keys = rng.choice(kinds)
        items = [vary(make(), keys) for _ in range(rng.randint(0, 4))]
        _decodes_like_structure(page_json(items), Page[cls])  # type: ignore[valid-type]


# --- one odd item does not fail its page ---------------------------------------------------


@pytest.mark.parametrize(
    "odd",
    [
        "weekly",
        42,
        ["Monday"],
        {"start_datetime": "tomorrow"},
        {"days": "Monday"},
        {"time_type": 2},
        {"start_datetime": 1717149600, "name": "x"},
    ],
)
def test_an_odd_schedule_args_keeps_the_page_and_its_raw_value(odd: Any) -> None:
    """A stored request whose schedule_args does not fit reads with schedule_args None and the
    raw JSON in `unparsed`; every other request on the page is untouched."""
    good = request_json()
    bad = request_json(id=str(uuid.UUID(int=9)), schedule_args=odd)
    page = decode(_body(page_json([good, bad, good])), Page[CommandRequest])
    assert page.results[0] == page.results[2] == structure(good, CommandRequest)
    assert page.results[0].unparsed == {}
    assert page.results[1].schedule_args is None
    assert page.results[1].unparsed == {"schedule_args": odd}
    assert page.results[1].command == structure(good, CommandRequest).command


def test_device_booleans_and_integers_are_not_coerced() -> None:
    """``is_gms: "false"`` is not True and ``api_level: 30.9`` is not 30: both read as None with
    the raw values kept, and the device's other fields are read."""
    odd = {**DEVICE_JSON, "is_gms": "false", "api_level": 30.9}
    for device in (decode(_body(odd), Device), structure(odd, Device)):
        assert device.is_gms is None
        assert device.api_level is None
        assert device.unparsed == {"is_gms": "false", "api_level": 30.9}
        assert device.device_name == DEVICE_JSON["device_name"]
        assert device.software_info == DEVICE_JSON["softwareInfo"]


@pytest.mark.parametrize(
    ("key", "raw", "field", "default"),
    [
        ("is_active", 1, "is_active", None),
        ("status", True, "status", None),
        ("device_name", 5, "device_name", None),
        ("groups", "g", "groups", ()),
        ("tags", [1, 2], "tags", ()),
        ("softwareInfo", ["a"], "software_info", None),
        ("created_on", "yesterday", "created_on", None),
    ],
)
def test_odd_device_fields_read_as_their_default(
    key: str, raw: Any, field: str, default: Any
) -> None:
    """Every carried device field tolerates a value of the wrong type, keyed by its JSON name."""
    device = decode(_body({**DEVICE_JSON, key: raw}), Device)
    assert getattr(device, field) == default
    assert device.unparsed == {key: raw}


def test_odd_group_and_status_fields_read_as_none() -> None:
    """A group's counts and a status's reason are carried, so tolerated."""
    group = decode(_body({**GROUP_JSON, "device_count": "12"}), DeviceGroup)
    assert (group.device_count, group.unparsed) == (None, {"device_count": "12"})
    status = decode(_body(status_json(reason=["x"])), CommandStatus)
    assert (status.reason, status.unparsed) == (None, {"reason": ["x"]})


def test_command_args_keep_values_that_do_not_fit_in_extra() -> None:
    """An argument of the wrong type is not converted: it stays in `extra`, as sent, and is
    written back unchanged; a command_args that is not an object reads as empty."""
    body = request_json(command_args={"brightness_value": "80", "package_name": "com.a"})
    request = decode(_body(body), CommandRequest)
    assert request.command_args.brightness_value is None
    assert request.command_args.package_name == "com.a"
    assert request.command_args.extra == {"brightness_value": "80"}
    assert unstructure(request.command_args) == {"brightness_value": "80", "package_name": "com.a"}
    odd = decode(_body(request_json(command_args=["x"])), CommandRequest)
    assert (odd.command_args, odd.unparsed) == (CommandArgs(), {"command_args": ["x"]})


def test_unparsed_values_are_written_back_and_read_again() -> None:
    """unstructure writes what did not fit back under its key, so a round trip is exact."""
    odd = {**DEVICE_JSON, "is_gms": "false"}
    device = decode(_body(odd), Device)
    assert unstructure(device)["is_gms"] == "false"
    assert "unparsed" not in unstructure(device)
    assert structure(unstructure(device), Device) == device


def test_a_key_named_unparsed_in_the_json_is_not_the_field() -> None:
    """Only odd values fill `unparsed`; the server cannot, on either path."""
    status = decode(_body(status_json(unparsed={"state": "x"})), CommandStatus)
    assert status.unparsed == {}
    assert status == structure(status_json(), CommandStatus)


def test_the_unparsed_field_leaves_hash_and_repr_as_they_were() -> None:
    """`unparsed` is compared, but neither hashed (it is a dict) nor shown."""
    status = decode(_body(status_json(reason=5)), CommandStatus)
    assert "unparsed" not in repr(status)
    assert hash(status) == hash(attrs.evolve(status, unparsed={}))
    assert status != attrs.evolve(status, unparsed={})


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        (status_json(state=7), CommandStatus),
        (status_json(id="x"), CommandStatus),
        (status_json(created_on=5), CommandStatus),
        ({k: v for k, v in status_json().items() if k != "state"}, CommandStatus),
        (request_json(devices="x"), CommandRequest),
        (request_json(device_type=1), CommandRequest),
        (request_json(status=[{"state": "Command Success", "total": "3"}]), CommandRequest),
        (request_json(status=[{"state": "Command Success", "total": 3.0}]), CommandRequest),
        (request_json(status=[{"state": "Command Success", "total": True}]), CommandRequest),
        ({**GROUP_JSON, "name": 5}, DeviceGroup),
        ({**page_json([status_json()]), "count": "1"}, Page[CommandStatus]),
        ({**page_json([status_json()]), "next": 5}, Page[CommandStatus]),
        ({"count": 1, "next": None, "results": "x"}, Page[CommandStatus]),
        ([status_json()], Page[CommandStatus]),
    ],
)
def test_what_the_library_acts_on_fails_the_response(data: Any, cls: Any) -> None:
    """Ids, states, targets, timestamps, totals and the envelope are never guessed."""
    with pytest.raises((TypeError, ValueError, KeyError)):
        structure(data, cls)
    with pytest.raises((TypeError, ValueError, KeyError)):
        decode(_body(data), cls)


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>", b"{", b'{"count": 1} x', b"\xff", b"[" * 100_000 + b"]" * 100_000],
)
def test_a_body_that_is_not_json_raises_not_json(body: bytes) -> None:
    """Broken, truncated, non-UTF-8 and absurdly nested bodies are one typed error."""
    with pytest.raises(NotJSONError):
        decode(body, Page[CommandStatus])


def test_json_only_python_reads_goes_to_the_reference() -> None:
    """NaN (which json.loads takes and msgspec does not) in a carried field is tolerated."""
    body = _body(page_json([status_json()])).replace(b'"Package not installed"', b"NaN")
    page = decode(body, Page[CommandStatus])
    assert page.results[0].reason is None
    assert list(page.results[0].unparsed) == ["reason"]


# --- the garbage collector -------------------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize(
    "body",
    [
        _body(page_json([status_json()])),
        _body(page_json([status_json(i) for i in range(400)])),  # placed in the oldest
        _body([status_json(i) for i in range(400)]),  # large, and not a page
        b"{",
        _body([1]),
    ],
    ids=["small", "large", "large-wrong-shape", "not-json", "wrong-shape"],
)
def test_the_collector_is_left_as_it_was(enabled: bool, body: bytes) -> None:
    """Decoding pauses the cyclic collector and restores it, whether it succeeds or raises,
    and never turns on a collector the application turned off."""
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        with contextlib.suppress(TypeError, ValueError):
            decode(body, Page[CommandStatus])
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


def _young() -> list[Any]:
    return gc.get_objects(generation=0) + gc.get_objects(generation=1)


_GENERATIONAL_GC = pytest.mark.skipif(
    sys.version_info >= (3, 14) or bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    reason="3.14's collector (and a free-threaded build's) has no young generations to leave",
)


def _large_status_page() -> tuple[bytes, str]:
    request_id = str(uuid.uuid4())  # no status other tests left alive is of this request
    body = _body(page_json([status_json(i, request=request_id) for i in range(400)]))
    assert len(body) >= _PROMOTED_FROM
    return body, request_id


def _statuses_of(objects: list[Any], request_id: str) -> int:
    return sum(1 for o in objects if type(o) is CommandStatus and str(o.request) == request_id)


@_GENERATIONAL_GC
def test_a_large_page_is_placed_in_the_oldest_generation_and_young_garbage_collected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large body's objects go straight to the oldest generation: no collection of the
    young generations (or a full one they would set off) walks them. The young generations
    are collected first, so garbage made before the decode (a cycle, which only the collector
    frees) is collected, not carried into the oldest. (No other thread runs meanwhile; that
    the decode can tell when one did is tested below, apart from the OS's scheduling noise.)"""
    monkeypatch.setattr(_converter, "_alone", lambda *clocks: True)
    body, request_id = _large_status_page()

    class Cycle:
        pass

    cycle = Cycle()
    cycle.self = cycle  # type: ignore[attr-defined]
    garbage = weakref.ref(cycle)
    del cycle
    walked: list[int] = []  # per collection, the page's statuses in the generations it walks

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collected = range(info["generation"] + 1)
            objects = [o for g in collected for o in gc.get_objects(generation=g)]
            walked.append(_statuses_of(objects, request_id))

    gc.callbacks.append(watch)
    try:
        page = decode(body, Page[CommandStatus])
        gc.collect(0)  # what the decoded objects' count would have set off by now
    finally:
        gc.callbacks.remove(watch)
    assert garbage() is None
    assert walked
    assert max(walked) == 0
    assert _statuses_of(gc.get_objects(generation=2), request_id) == 400
    assert gc.isenabled()
    del page


@_GENERATIONAL_GC
def test_a_small_body_stays_young() -> None:
    """Below the threshold a body is only decoded with the collector paused: no collection is
    spent on it, and its objects are young as any others."""
    request_id = str(uuid.uuid4())
    body = _body(page_json([status_json(i, request=request_id) for i in range(3)]))
    assert len(body) < _PROMOTED_FROM
    page = decode(body, Page[CommandStatus])
    assert _statuses_of(_young(), request_id) == 3
    del page


@_GENERATIONAL_GC
def test_objects_the_application_froze_stay_frozen() -> None:
    """An application that froze its objects (before a fork) keeps them frozen: unfreezing
    them would undo its work, so a large page is then decoded as a small one is."""
    body, request_id = _large_status_page()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        page = decode(body, Page[CommandStatus])
        assert gc.get_freeze_count() == frozen
        assert _statuses_of(_young(), request_id) == 400
        del page
    finally:
        gc.unfreeze()


def test_a_wait_for_another_thread_shows_and_work_alone_does_not() -> None:
    """`_alone` is False once this thread has waited while another held the GIL, and
    True after work of its own (tried a few times: the OS may preempt the process, which only
    costs a page its move)."""

    def busy() -> None:
        until = time.perf_counter() + 0.002
        while time.perf_counter() < until:
            pass

    began, began_cpu = time.perf_counter(), time.thread_time()
    other = threading.Thread(target=busy)
    other.start()
    other.join()
    assert not _converter._alone(began, began_cpu, time.perf_counter(), time.thread_time())
    alone = []
    for _ in range(20):
        began, began_cpu = time.perf_counter(), time.thread_time()
        sum(range(20_000))
        alone.append(_converter._alone(began, began_cpu, time.perf_counter(), time.thread_time()))
    assert any(alone)


@_GENERATIONAL_GC
@pytest.mark.parametrize("threads", [1, 2])
def test_a_thread_slipping_in_during_the_move_costs_a_full_collection(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """Alone when checked, not when the move is done: with another thread that may have
    slipped in, whatever it left young was moved too, so a full collection clears it; with
    no other thread, that was the OS's noise, and no full collection is spent on it."""
    answers = iter([True, False])
    monkeypatch.setattr(_converter, "_alone", lambda *clocks: next(answers))
    full: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    monkeypatch.setattr(threading, "active_count", lambda: threads)
    body, _ = _large_status_page()
    gc.callbacks.append(watch)
    try:
        decode(body, Page[CommandStatus])
    finally:
        gc.callbacks.remove(watch)
    assert full == [1] * (threads - 1)
    assert next(answers, None) is None  # both checks were made


@_GENERATIONAL_GC
def test_garbage_another_thread_makes_during_decodes_stays_collectable() -> None:
    """The collector's pause is the whole process's: a thread making garbage cycles while large
    pages are decoded must not have them moved to the oldest generation with a page, where
    nothing would ever count them towards a full collection (they piled up by the million)."""

    class Junk:
        pass

    body, _ = _large_status_page()
    # An application's heap: a full collection comes only once a quarter as many objects as
    # it holds have been promoted through the middle generation, which nothing moved counts.
    heap = [[i] for i in range(300_000)]
    gc.collect()
    stop = threading.Event()

    def make_garbage() -> None:
        while not stop.is_set():
            junk = Junk()
            junk.self = junk  # type: ignore[attr-defined]
            del junk

    thread = threading.Thread(target=make_garbage)
    thread.start()
    try:
        for _ in range(150):
            decode(body, Page[CommandStatus])
    finally:
        stop.set()
        thread.join()
    # A cycle alive at a collection may survive it; only a handful ever reach the oldest.
    assert sum(1 for o in gc.get_objects(generation=2) if type(o) is Junk) < 50
    del heap


@_GENERATIONAL_GC
def test_an_application_freezing_objects_during_a_decode_keeps_them_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pre-fork server may freeze its heap from another thread while a large page decodes:
    the decode must not unfreeze it on its way out."""
    body = _body(page_json([request_json(id=str(uuid.uuid4())) for _ in range(200)]))
    assert len(body) >= _PROMOTED_FROM
    in_decode, frozen = threading.Event(), threading.Event()

    class Pausing:
        """The converter, pausing in the decode's first call into Python (a GIL switch)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(converter, name)

        def structure(self, value: Any, cls: Any) -> Any:
            if not in_decode.is_set():
                in_decode.set()
                frozen.wait(10)
            return converter.structure(value, cls)

    monkeypatch.setattr(_converter, "converter", Pausing())
    thread = threading.Thread(target=decode, args=(body, Page[CommandRequest]))
    thread.start()
    try:
        assert in_decode.wait(10)
        gc.freeze()
        frozen.set()
        thread.join()
        assert gc.get_freeze_count() > 0
    finally:
        frozen.set()
        thread.join()
        gc.unfreeze()


# --- through the client, on asyncio and trio ------------------------------------------------


@pytest.mark.anyio
async def test_a_listing_with_one_odd_request_is_read_whole() -> None:
    """``commands.list()`` reads a page holding a stored request with an odd schedule."""
    router = make_router()
    odd = request_json(id=str(uuid.UUID(int=5)), schedule_args="weekly")
    router.get(f"{V0}/command/").mock(
        return_value=httpx.Response(200, json=page_json([request_json(), odd]))
    )
    async with make_client(router) as client:
        requests = await client.commands.list().to_list(max_items=10)
    assert [r.id for r in requests] == [uuid.UUID(REQUEST_ID), uuid.UUID(int=5)]
    assert requests[1].unparsed == {"schedule_args": "weekly"}


@pytest.mark.anyio
async def test_a_device_listing_with_wrongly_typed_fields_is_read_whole() -> None:
    """``devices.list()`` reads devices with ``is_gms: "false"`` and ``api_level: 30.9``."""
    router = make_router()
    odd = {**DEVICE_JSON, "id": str(uuid.UUID(int=3)), "is_gms": "false", "api_level": 30.9}
    router.get(f"{V1}/device/").mock(
        return_value=httpx.Response(200, json=page_json([DEVICE_JSON, odd]))
    )
    async with make_client(router) as client:
        devices = await client.devices.list().to_list(max_items=10)
    assert devices[0].is_gms is True
    assert (devices[1].is_gms, devices[1].api_level) == (None, None)
    assert devices[1].unparsed == {"is_gms": "false", "api_level": 30.9}


@pytest.mark.anyio
async def test_a_status_page_with_an_unusable_state_is_a_malformed_response() -> None:
    """A state that is not a string fails the page with MalformedResponseError naming it."""
    router = make_router()
    router.get(f"{V0}/command/{REQUEST_ID}/status/").mock(
        return_value=httpx.Response(200, json=page_json([status_json(), status_json(1, state=7)]))
    )
    async with make_client(router) as client:
        with pytest.raises(MalformedResponseError, match="CommandState"):
            await client.commands.statuses(REQUEST_ID).to_list(max_items=10)


@pytest.mark.anyio
async def test_a_body_that_is_not_json_is_a_malformed_response() -> None:
    """An HTML error page on a 200 is MalformedResponseError ("not JSON")."""
    router = make_router()
    router.get(f"{V0}/command/{REQUEST_ID}/status/").mock(
        return_value=httpx.Response(200, text="<html>busy</html>")
    )
    async with make_client(router) as client:
        with pytest.raises(MalformedResponseError, match="not JSON"):
            await client.commands.statuses(REQUEST_ID).first_page()
