"""Property: whatever a caller passes to ``create`` or ``fan_out``, a refusal is a
`ValidationError` raised before any request is sent and before a journal is touched.

Inputs are drawn from every command and schedule, right and wrong: valid and malformed ids, ids
of the wrong type, arguments holding NaN, bytes, lone surrogates, sets, keys of mixed types and
deep nesting. Each call goes to the simulator in-process, whose accounting shows what was sent.
The only outcomes allowed are: created, `ValidationError` with nothing sent, or Esper's own 400
for what the client let through (the client and simulator cross-check is another test's job).
"""

from __future__ import annotations

import math
import tempfile
import uuid
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from esper_cmds import BadRequestError, Command, EsperClient, ValidationError
from esper_cmds.simulator import Simulator

SIM = Simulator(devices=30, groups=3, seed=11)
KNOWN_ARGS = [
    "package_name", "app_version", "brightness_value", "wifi_state", "wifi_revert_timeout",
    "title", "message", "url", "locale", "timezone_string", "state", "stream", "volume_level",
    "gps_state", "rotate_state", "screen_off_timeout", "wifi_access_points", "interface",
    "dhcp_enabled", "static_ip", "primary_dns", "subnet_mask", "gateway", "policy_url",
    "new_lockscreen_password", "bluetooth_state", "use_only_saved_ap", "grant_state",
    "permission", "app_state", "app_notifications_state", "tag",
]  # fmt: skip

texts = st.text(max_size=12)
odd_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.binary(max_size=4),
    st.just("a\ud800b"),
    st.just(frozenset({1})),
)
json_ish = st.recursive(
    odd_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(texts, st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=8,
)
arg_values = st.one_of(
    st.integers(min_value=-10, max_value=2_000_000),
    st.sampled_from(["en_US", "Europe/Berlin", "10.0.0.1", "com.example", "SHOW", "LOCKED"]),
    json_ish,
)
command_args = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(st.sampled_from(KNOWN_ARGS), texts), arg_values, max_size=6),
    odd_scalars,
)
ids = st.one_of(
    st.sampled_from(SIM.device_ids + SIM.group_ids),
    st.uuids(),
    st.builds(lambda u: str(u).upper(), st.uuids()),
    texts,
    st.integers(),
    st.none(),
)
targets = st.one_of(
    st.none(),
    st.lists(ids, max_size=4),
    st.lists(st.sampled_from(SIM.device_ids), min_size=1, max_size=5),
    odd_scalars,
)
enum_text = st.one_of(st.none(), texts, st.integers(), st.sampled_from(["device", "ACTIVE"]))
schedule_args = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(texts, st.integers()),
            "start_datetime": st.one_of(
                st.just("2030-01-01T00:00:00+00:00"), st.just("2030-01-01T00:00:00"), texts
            ),
            "end_datetime": st.one_of(st.just("2030-01-02T00:00:00+00:00"), texts),
            "time_type": st.one_of(st.sampled_from(["console", "device"]), texts),
            "window_start_time": st.one_of(st.just("09:00:00"), texts),
            "window_end_time": st.one_of(st.just("17:00:00"), texts),
            "days": st.one_of(st.lists(st.sampled_from(["Monday", "Friday"])), texts, json_ish),
        },
    ),
    st.dictionaries(st.one_of(texts, st.integers(0, 2)), json_ish, max_size=2),
    odd_scalars,
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "command": st.one_of(st.sampled_from(list(Command)), texts, st.integers(), st.none()),
    "command_args": command_args,
    "devices": targets,
    "groups": st.one_of(st.none(), targets),
    "command_type": st.one_of(st.none(), st.sampled_from(["DEVICE", "GROUP", "DYNAMIC"]),
                              enum_text),
    "device_type": st.one_of(st.sampled_from(["active", "inactive", "all"]), enum_text),
    "schedule": st.one_of(st.sampled_from(["IMMEDIATE", "WINDOW", "RECURRING"]), enum_text),
    "schedule_args": schedule_args,
}  # fmt: skip
"""Every argument of a create, each drawn right or wrong."""
random_inputs = st.fixed_dictionaries(FIELDS)

valid_inputs = st.one_of(
    st.fixed_dictionaries(
        {"command": st.sampled_from(["REBOOT", "LOCK", Command.UPDATE_HEARTBEAT])}
    ),
    st.fixed_dictionaries(
        {
            "command": st.just("SET_BRIGHTNESS_SCALE"),
            "command_args": st.fixed_dictionaries({"brightness_value": st.integers(1, 100)}),
        }
    ),
    st.fixed_dictionaries(
        {
            "command": st.just(Command.NOTIFY_DEVICE),
            "command_args": st.fixed_dictionaries(
                {"title": st.text(min_size=1, max_size=5).filter(str.strip),
                 "message": st.text(min_size=1, max_size=5).filter(str.strip)}
            ),
        }
    ),
).flatmap(
    lambda base: st.fixed_dictionaries(
        {
            **{k: st.just(v) for k, v in base.items()},
            "devices": st.lists(st.sampled_from(SIM.device_ids), min_size=1, max_size=5),
            "device_type": st.sampled_from(["active", "inactive", "all"]),
        }
    )
)  # fmt: skip
"""Inputs the simulator accepts: most of the random ones below are refused early, and a
property about refusals means little without the ones that get through."""


def _one_field_wrong(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sorted(FIELDS)).flatmap(
        lambda name: FIELDS[name].map(lambda value: {**base, name: value})
    )


create_inputs = st.one_of(valid_inputs, valid_inputs.flatmap(_one_field_wrong), random_inputs)


def client() -> EsperClient:
    """A client on the shared in-process simulator, without pacing."""
    return EsperClient(
        base_url=SIM.base_url,
        api_key=SIM.api_key,
        enterprise_id=SIM.enterprise_id,
        transport=SIM.transport,
        rate_limit=None,
        env={},
    )


def event(what: str) -> None:
    """Count an outcome in hypothesis's statistics (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        hypothesis_event(what)


def calls() -> int:
    """Calls the simulator has answered so far."""
    return SIM.stats.calls.total()


async def try_create(kwargs: dict[str, Any]) -> None:
    before = calls()
    async with client() as c:
        try:
            await c.commands.create(**kwargs)
        except ValidationError:
            assert calls() == before, "refused, but something was sent"
            event("create: refused by validation")
            return
        except BadRequestError:
            event("create: refused by the server (400)")
            return  # let through, refused by the server: allowed here
    assert calls() == before + 1
    event("create: created")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(create_inputs)
def test_create_refuses_only_with_validation_error_before_sending(kwargs: dict[str, Any]) -> None:
    """Any input: created, or `ValidationError` with nothing sent, or Esper's 400."""
    anyio.run(try_create, kwargs)


async def try_fan_out(kwargs: dict[str, Any], journal: Path) -> bool:
    """Run one fan-out; whether it was refused by validation."""
    before = calls()
    async with client() as c:
        try:
            result = await c.fan_out(**kwargs, journal=journal)
        except ValidationError:
            assert calls() == before, "refused, but something was sent"
            event("fan_out: refused by validation")
            return True
    for failed in result.failed:
        assert isinstance(failed.error, BadRequestError)  # the only refusal after validation
    event(f"fan_out: ran, ok={result.ok}")
    return False


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(create_inputs, st.integers(min_value=1, max_value=3) | st.none())
def test_fan_out_refuses_only_with_validation_error_before_anything(
    kwargs: dict[str, Any], chunk_size: int | None
) -> None:
    """Any input: a result (failures only as Esper's 400), or `ValidationError` before the
    fence read and before the journal exists."""
    with tempfile.TemporaryDirectory() as folder:
        journal = Path(folder) / f"{uuid.uuid4()}.jsonl"
        refused = anyio.run(try_fan_out, {**kwargs, "chunk_size": chunk_size}, journal)
        assert journal.exists() is not refused, "the journal must exist exactly when it ran"


def test_the_strategies_reach_both_outcomes() -> None:
    """A guard on the guard: the inputs above include ones that are sent and ones refused
    (checked on two fixed examples of the same shapes)."""
    good = {"command": "REBOOT", "devices": SIM.device_ids[:2], "device_type": "all"}
    bad = {**good, "command_args": {"x": math.nan}}
    before = calls()
    anyio.run(try_create, good)
    anyio.run(try_create, bad)
    assert calls() == before + 1
