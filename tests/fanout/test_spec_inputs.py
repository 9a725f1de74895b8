"""Inputs that looked fine but were not: unordered targets, values JSON cannot hold, a caller's
objects changed after a command was built, misspelt keywords. Each was a defect found by
attacking `CommandSpec` and the fan-out; each test fails on the code before its fix."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from esper_cmds import (
    CommandSpec,
    Created,
    RedisBackend,
    RedisJournal,
    RetryPolicy,
    ValidationError,
)
from esper_cmds._fanout import fan_out
from esper_cmds.simulator import Simulator

from .conftest import client_for

ROOT = Path(__file__).resolve().parents[2]

_FINGERPRINT = """
import json, sys, uuid
from esper_cmds import CommandSpec
from esper_cmds._fanout.plan import build_plan
from esper_cmds._validation import parse_targets
ids = {str(uuid.UUID(int=i)) for i in range(1, 40)}
spec = CommandSpec(
    "REBOOT",
    schedule="WINDOW",
    schedule_args={
        "start_datetime": "2026-12-01T00:00:00Z",
        "end_datetime": "2026-12-08T00:00:00Z",
        "window_start_time": "01:00",
        "window_end_time": "02:00",
        "days": {"monday", "friday", "sunday", "tuesday"},
    },
)
plan = build_plan(
    enterprise_id=uuid.UUID(int=7), spec=spec,
    devices=parse_targets(ids, "devices"), groups=[], chunk_size=5,
)
print(json.dumps([plan.fingerprint, list(plan.targeted_spec.schedule_args.days)]))
"""


def _plan_in_a_process(seed: str) -> list[object]:
    ran = subprocess.run(
        [sys.executable, "-c", _FINGERPRINT],
        env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: list[object] = json.loads(ran.stdout)
    return result


def test_a_set_of_targets_or_days_makes_the_same_plan_in_every_process() -> None:
    """A set's order changes with the process's hash seed. Taken as it came, the same set gave
    another plan and journal fingerprint in a retried job or on another host: a file journal
    refused the resume, and a Redis journal (keyed by the fingerprint) let every chunk be sent
    again. Sets are put in a fixed order (ids sorted, days in the week's order)."""
    first, second, third = (_plan_in_a_process(seed) for seed in ("1", "2", "3"))
    assert first == second == third
    assert first[1] == ["monday", "tuesday", "friday", "sunday"]


@pytest.mark.anyio
async def test_a_resume_that_spells_out_the_inferred_command_type_sends_nothing(
    tmp_path: Path,
) -> None:
    """``command_type="DEVICE"`` says what the targets implied: the same fan-out, so its
    resume is accepted (it was refused as another fan-out, described identically)."""
    sim = Simulator(devices=6, groups=0, seed=3)
    journal = tmp_path / "run.jsonl"
    async with client_for(sim) as client:
        first = await fan_out(
            client, command="REBOOT", devices=sim.device_ids, chunk_size=2, journal=journal
        )
        again = await fan_out(
            client,
            spec=CommandSpec("REBOOT", command_type="DEVICE"),
            devices=sim.device_ids,
            chunk_size=2,
            journal=journal,
        )
    assert first.totals.created == 3
    assert (again.totals.created, again.totals.resumed) == (0, 3)
    assert sim.stats.requests_created == 3


def test_an_integer_json_parsers_disagree_on_is_refused_naming_it() -> None:
    """A 5,000-digit integer passed the JSON check, then failed to encode (and even to be
    shown in an error): refused now, naming the field, with a readable message."""
    with pytest.raises(ValidationError) as caught:
        CommandSpec("REBOOT", command_args={"a": 10**5000})
    assert caught.value.field == "command_args.a"
    assert "64 bits" in str(caught.value)
    assert len(str(caught.value)) < 300
    assert CommandSpec("REBOOT", command_args={"a": 2**63 - 1}).command_args.extra["a"] > 0


@pytest.mark.anyio
async def test_a_read_only_mapping_is_taken_as_json_and_sent() -> None:
    """Any mapping is JSON's object: a `MappingProxyType` passed the check and then failed to
    encode, so every chunk of a fan-out failed after validation."""
    sim = Simulator(devices=4, groups=0, seed=4)
    frozen = types.MappingProxyType({"x": 1})
    async with client_for(sim) as client:
        result = await fan_out(
            client, command="REBOOT", command_args={"a": frozen}, devices=sim.device_ids
        )
    assert result.ok
    outcome = result.outcomes[0]
    assert isinstance(outcome, Created)
    assert outcome.request.command_args.extra == {"a": {"x": 1}}


@pytest.mark.anyio
async def test_changing_the_callers_objects_after_building_changes_nothing_sent() -> None:
    """A spec keeps copies of the mappings and lists it checked: clearing the caller's list
    afterwards used to send the empty list validation would have refused."""
    sim = Simulator(devices=3, groups=0, seed=5)
    access_points = [
        {"wifi_ssid": "office", "wifi_password": "secret-1", "wifi_security_type": "WPA"}
    ]
    wifi = CommandSpec("ADD_WIFI_AP", command_args={"wifi_access_points": access_points})
    extra = {"k": "old"}
    reboot = CommandSpec("REBOOT", command_args={"k2": extra})
    access_points.clear()
    extra["k"] = "new"
    async with client_for(sim) as client:
        added = await client.commands.create(spec=wifi, devices=sim.device_ids[:1])
        rebooted = await client.commands.create(spec=reboot, devices=sim.device_ids[:1])
    assert added.command_args.wifi_access_points is not None
    assert len(added.command_args.wifi_access_points) == 1
    assert rebooted.command_args.extra["k2"] == {"k": "old"}


@pytest.mark.anyio
@pytest.mark.parametrize("typo", ["shedule", "comand", "concurency"])
async def test_a_misspelt_keyword_is_a_validation_error_naming_it(typo: str) -> None:
    """A keyword no command has was a TypeError from deep inside (or, for ``comand``,
    "command: is required", never naming the typo); nothing is sent."""
    sim = Simulator(devices=3, groups=0, seed=6)
    async with client_for(sim) as client:
        fields = {"command": "REBOOT", typo: "WINDOW"}
        with pytest.raises(ValidationError) as created:
            await client.commands.create(devices=sim.device_ids, **fields)  # type: ignore[arg-type]
        with pytest.raises(ValidationError) as fanned:
            await client.fan_out(devices=sim.device_ids, **fields)  # type: ignore[arg-type]
    for caught in (created, fanned):
        assert caught.value.field == typo
        assert "did you mean" in caught.value.rule or typo == "concurency"
    assert sim.stats.requests_created == 0


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: RedisJournal("redis://127.0.0.1:1", claim_ttl=math.inf), "claim_ttl"),
        (lambda: RedisJournal("redis://127.0.0.1:1", keep=math.inf), "keep"),
        (lambda: RetryPolicy(max_retry_after=math.inf), "max_retry_after"),
        (lambda: RetryPolicy(max_delay=math.inf), "max_delay"),
    ],
)
def test_infinity_is_refused_where_the_rule_says_finite(build: object, field: str) -> None:
    """The validator said "must be a finite number" and let infinity through, which then
    overflowed far from the call that set it."""
    with pytest.raises(ValidationError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
    assert "finite" in caught.value.rule


def test_a_value_that_cannot_be_shown_does_not_break_its_error() -> None:
    """The error's message shows the value cut short, or by its type when even repr fails."""

    class Unshowable:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "(got <Unshowable>)" in str(ValidationError("x", "must be y", Unshowable()))
    long = str(ValidationError("x", "must be y", "z" * 10_000))
    assert len(long) < 300


def test_a_spec_hashes_by_value_as_it_compares() -> None:
    """`CommandSpec` generated a hash over its dicts and could never be hashed."""
    first = CommandSpec("REBOOT", command_args={"x": {"b": 1, "a": 2}})
    same = CommandSpec("reboot", command_args={"x": {"a": 2, "b": 1}})
    other = CommandSpec("REBOOT", command_args={"x": {"b": 1, "a": 2}}, device_type="all")
    assert first == same
    assert hash(first) == hash(same)
    assert {first, same, other} == {first, other}
    assert len({first, same, other}) == 2


@pytest.mark.anyio
async def test_resolve_groups_must_be_a_bool() -> None:
    """``resolve_groups="no"`` read as true and resolved the groups."""
    sim = Simulator(devices=6, groups=2, seed=8)
    async with client_for(sim) as client:
        with pytest.raises(ValidationError) as caught:
            await client.fan_out(
                command="REBOOT",
                groups=sim.group_ids,
                resolve_groups="no",  # type: ignore[arg-type]
            )
    assert caught.value.field == "resolve_groups"
    assert sim.stats.requests_created == 0


@pytest.mark.parametrize("prefix", [5, "", "has space", "tab\there"])
def test_a_redis_key_prefix_is_checked(prefix: object) -> None:
    """A prefix that is not printable text without spaces is refused when the backend is
    made, not when the first key is built from it."""
    for make in (RedisJournal, RedisBackend):
        with pytest.raises(ValidationError) as caught:
            make("redis://127.0.0.1:1", prefix=prefix)  # type: ignore[arg-type]
        assert caught.value.field == "prefix"
