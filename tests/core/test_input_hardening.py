"""Input that used to pass validation and then fail untyped is refused up front.

Each case here failed on the main of 2026-11-28 (issue 10): NaN, infinity or bytes in
``command_args``, a lone surrogate in a string, ``devices=5``, keys of mixed types (the journal's
fingerprint raised ``TypeError``), ``watch(deadline=nan)`` (anyio's own error). Every refusal is
a `ValidationError` raised before any request is sent.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import httpx
import pytest

from esper_cmds import ChunkRetry, EsperClient, RateLimit, RetryPolicy, ValidationError

from .._support import DEVICE_A as DEVICE
from .._support import make_client, make_router

SELF: dict[str, Any] = {}
SELF["me"] = SELF

BAD_ARGS = [
    ({"brightness_value": 50, "note": math.nan}, "command_args.note", "finite"),
    ({"brightness_value": 50, "note": math.inf}, "command_args.note", "finite"),
    ({"brightness_value": 50, "note": b"bytes"}, "command_args.note", "JSON data"),
    ({"brightness_value": 50, "note": "a\ud800b"}, "command_args.note", "surrogate"),
    ({"brightness_value": 50, "note": {"x": {1: "a", "b": 2}}}, "command_args.note.x", "keys"),
    ({"brightness_value": 50, "note": [{"deep": [set()]}]}, "command_args.note[0].deep[0]", "JSON"),
    ({"brightness_value": 50, "note": SELF}, "command_args.note", "levels deep"),
    ({"brightness_value": 50, "\udcff": 1}, "command_args key", "surrogate"),
]


@pytest.mark.parametrize(("args", "field", "rule"), BAD_ARGS)
@pytest.mark.anyio
async def test_command_args_must_be_plain_json(args: dict[str, Any], field: str, rule: str) -> None:
    """Each bad value is named by its path in the arguments, and nothing is sent."""
    router = make_router()
    route = router.route().mock(return_value=httpx.Response(500))
    async with make_client(router) as client:
        with pytest.raises(ValidationError, match=rule) as caught:
            await client.commands.create(
                command="SET_BRIGHTNESS_SCALE", devices=[DEVICE], command_args=args
            )
    assert caught.value.field.startswith(field)
    assert route.call_count == 0


@pytest.mark.parametrize(
    "targets",
    [5, 5.0, {DEVICE: 1}, True, object()],
    ids=["int", "float", "mapping", "bool", "object"],
)
@pytest.mark.anyio
async def test_targets_must_be_a_list_of_ids(targets: Any) -> None:
    """``devices=5`` (and friends) is refused, for one create and for a fan-out."""
    router = make_router()
    route = router.route().mock(return_value=httpx.Response(500))
    async with make_client(router) as client:
        with pytest.raises(ValidationError, match="list of UUIDs"):
            await client.commands.create(command="REBOOT", devices=targets)
        with pytest.raises(ValidationError, match="list of UUIDs"):
            await client.fan_out(command="REBOOT", devices=targets)
        with pytest.raises(ValidationError, match="list of UUIDs"):
            await client.fan_out(command="REBOOT", groups=targets)
        with pytest.raises(ValidationError, match="list of UUIDs"):
            client.commands.list(devices=targets)
    assert route.call_count == 0


@pytest.mark.anyio
async def test_fan_out_refuses_mixed_key_types_before_fingerprinting(tmp_path: Any) -> None:
    """Keys of mixed types used to reach the journal's fingerprint (``sort_keys`` raised)."""
    router = make_router()
    route = router.route().mock(return_value=httpx.Response(500))
    journal = tmp_path / "j.jsonl"
    async with make_client(router) as client:
        with pytest.raises(ValidationError, match="keys must be strings"):
            await client.fan_out(
                command="SET_BRIGHTNESS_SCALE",
                command_args={"brightness_value": 5, "cfg": {"a": 1, 2: "b"}},
                devices=[DEVICE],
                journal=journal,
            )
    assert route.call_count == 0
    assert not journal.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"deadline": math.nan}, "deadline"),
        ({"deadline": "soon"}, "deadline"),
        ({"timeout": "10"}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": 5, "interval": "2"}, "interval"),
        ({"timeout": 5, "jitter": math.nan}, "jitter"),
    ],
    ids=["deadline-nan", "deadline-str", "timeout-str", "timeout-nan", "interval-str", "jitter"],
)
@pytest.mark.anyio
async def test_watch_arguments_are_checked(kwargs: dict[str, Any], field: str) -> None:
    """Bad watch arguments are a `ValidationError` naming the argument, before any call."""
    router = make_router()
    route = router.route().mock(return_value=httpx.Response(500))
    async with make_client(router) as client:
        with pytest.raises(ValidationError) as caught:
            async with client.watch([DEVICE], **kwargs):
                pass
    assert caught.value.field == field
    assert route.call_count == 0


def test_client_options_are_checked() -> None:
    """A size limit that is not a positive integer is refused."""
    bad: Any
    for bad in (0, -1, 1.5, True, "big"):
        with pytest.raises(ValidationError, match="max_response_bytes"):
            EsperClient(
                base_url="http://127.0.0.1:1/api",
                api_key="k",
                enterprise_id=DEVICE,
                env={},
                max_response_bytes=bad,
            )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("retry", "fast"),
        ("retry", 3),
        ("rate_limit", 4000),
        ("limits", None),
        ("limits", 10),
        ("transport", "sim"),
        ("timeout", "fast"),
        ("timeout", math.nan),
        ("timeout", math.inf),
        ("timeout", 0),
        ("env", ["ESPER_API_KEY"]),
        ("on_event", 5),
        ("sleep", 5),
        ("clock", object()),
    ],
)
def test_client_options_of_the_wrong_kind_are_refused_at_once(option: str, value: Any) -> None:
    """Not on every call later (``retry="fast"`` used to fail each call with AttributeError,
    ``timeout="fast"`` made every create an `AmbiguousCreateError` that never left)."""
    settings: dict[str, Any] = {
        "base_url": "http://127.0.0.1:1/api",
        "api_key": "k",
        "enterprise_id": DEVICE,
        "env": {},
        option: value,
    }
    with pytest.raises(ValidationError) as caught:
        EsperClient(**settings)
    assert caught.value.field == option


@pytest.mark.anyio
async def test_a_view_needs_a_retry_policy() -> None:
    """``with_options(retry=...)`` takes a `RetryPolicy` only."""
    async with make_client(make_router()) as client:
        for bad in (None, {"max_attempts": 1}):
            with pytest.raises(ValidationError, match="RetryPolicy"):
                client.with_options(retry=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"journal": 5}, "journal"),
        ({"journal": b"run.jsonl"}, "journal"),
        ({"on_progress": 5}, "on_progress"),
        ({"retry": 3}, "retry"),
    ],
)
@pytest.mark.anyio
async def test_fan_out_options_are_checked_before_anything(
    kwargs: dict[str, Any], field: str
) -> None:
    """A callback that is not callable used to fail after the first create was sent."""
    router = make_router()
    route = router.route().mock(return_value=httpx.Response(500))
    async with make_client(router) as client:
        with pytest.raises(ValidationError) as caught:
            await client.fan_out(command="REBOOT", devices=[DEVICE], **kwargs)
    assert caught.value.field == field
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((5,), {"timeout": 1}, "request_ids"),
        ((DEVICE,), {"timeout": 1}, "request_ids"),
        (([DEVICE],), {"timeout": 1, "jitter": 1}, "jitter"),
        (([DEVICE],), {"timeout": 1, "concurrency": 0}, "concurrency"),
    ],
)
@pytest.mark.anyio
async def test_watch_inputs_are_checked_before_any_call(
    args: tuple[Any, ...], kwargs: dict[str, Any], field: str
) -> None:
    """``watch(5)`` used to raise TypeError; bad tuning is refused before the first read."""
    router = make_router()
    route = router.route().mock(return_value=httpx.Response(500))
    async with make_client(router) as client:
        with pytest.raises(ValidationError) as caught:
            async with client.watch(*args, **kwargs):
                pass
    assert caught.value.field == field
    assert route.call_count == 0


def test_policy_values_are_validation_errors() -> None:
    """`RetryPolicy`, `RateLimit` and `ChunkRetry` refuse bad values with `ValidationError`
    naming the field (NaN and infinity included where they would hang or spin)."""
    cases: list[tuple[Any, str]] = [
        (lambda: RetryPolicy(max_attempts=0), "max_attempts"),
        (lambda: RetryPolicy(budget=math.nan), "budget"),
        (lambda: RetryPolicy(read_rules={"nope": "retry"}), "rules"),
        (lambda: RateLimit(calls=10, burst=20), "burst"),
        (lambda: RateLimit(per_seconds=0), "per_seconds"),
        (lambda: ChunkRetry(max_attempts=-1), "max_attempts"),
        (lambda: ChunkRetry(backoff=math.nan), "backoff"),
        (lambda: ChunkRetry(settle=math.inf), "settle"),
    ]
    for build, field in cases:
        with pytest.raises(ValidationError) as caught:
            build()
        assert caught.value.field == field


@pytest.mark.anyio
async def test_a_million_ids_for_one_create_are_refused_at_once() -> None:
    """The limit is checked before a million ids are parsed one by one (which took seconds):
    the malformed last id is never reached."""
    many = [str(uuid.UUID(int=i)) for i in range(1_000_000)]
    many[-1] = "not-an-id"
    async with make_client(make_router()) as client:
        with pytest.raises(ValidationError, match="at most 1000") as caught:
            await client.commands.create(command="REBOOT", devices=many)
    assert caught.value.field == "devices"


def test_retry_rules_must_be_a_mapping() -> None:
    """Rules that are not a mapping at all are refused naming ``rules``."""
    with pytest.raises(ValidationError, match="must map failure classes") as caught:
        RetryPolicy(create_rules=5)  # type: ignore[arg-type]
    assert caught.value.field == "rules"
    assert caught.value.value == 5


def test_a_time_without_an_offset_is_read_as_utc_by_both_readers() -> None:
    """Naive and aware datetimes cannot be compared (reconciliation and watch compare them):
    a server time without an offset is UTC, whether msgspec or cattrs reads the page."""
    import datetime as dt
    import json

    from esper_cmds._converter import decode, structure
    from esper_cmds.models import CommandStatus, Page

    row = {
        "id": DEVICE,
        "request": DEVICE,
        "device": DEVICE,
        "state": "Command Success",
        "created_on": "2026-01-01T10:00:00",
        "updated_on": "2026-01-01T10:00:00.1234567",
    }
    body = {"count": 1, "next": None, "previous": None, "results": [row]}
    for page in (
        decode(json.dumps(body).encode(), Page[CommandStatus]),
        structure(body, Page[CommandStatus]),
    ):
        status = page.results[0]
        assert status.created_on == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
        assert status.updated_on is not None
        assert status.updated_on.utcoffset() == dt.timedelta(0)


@pytest.mark.anyio
async def test_a_query_httpx_cannot_encode_is_a_validation_error() -> None:
    """A filter value that is not valid Unicode text cannot be put in a URL: refused typed and
    named, before anything is sent (it escaped as UnicodeEncodeError)."""
    router = make_router()
    route = router.route().mock(return_value=httpx.Response(500))
    async with make_client(router) as client:
        with pytest.raises(ValidationError) as caught:
            await client.commands.list(issued_by="a\ud800b").first_page()
    assert caught.value.field == "issued_by"
    assert route.call_count == 0
