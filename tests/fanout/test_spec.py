"""`CommandSpec`: one validated command value taken by create, fan_out and fan_out_iter; the
helpers' signatures as help() shows them; the fan-out's time from the client."""

from __future__ import annotations

import datetime as dt
import inspect
import pydoc
import uuid
import warnings
from typing import Any

import anyio.lowlevel
import attrs
import pytest

import esper_cmds.models._spec as spec_module
from esper_cmds import (
    ChunkRetry,
    Command,
    CommandArgs,
    CommandSpec,
    CommandType,
    Created,
    DeviceType,
    EsperClient,
    RetryPolicy,
    Schedule,
    ValidationError,
)
from esper_cmds._fanout import fan_out
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, Simulator
from esper_cmds.testing import FakeClock

from .conftest import client_for

START = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)


def test_a_spec_is_typed_and_validated_when_built() -> None:
    """Names in any case become members; args become a CommandArgs; bad input names its field."""
    spec = CommandSpec(
        "set_brightness_scale", command_args={"brightness_value": 40}, device_type="ALL"
    )
    assert spec.command is Command.SET_BRIGHTNESS_SCALE
    assert spec.command_args == CommandArgs(brightness_value=40)
    assert spec.device_type is DeviceType.ALL
    assert spec.schedule is Schedule.IMMEDIATE
    assert spec.command_type is None
    assert spec == CommandSpec(
        Command.SET_BRIGHTNESS_SCALE,
        command_args=CommandArgs(brightness_value=40),
        device_type=DeviceType.ALL,
    )
    with pytest.raises(ValidationError) as caught:
        CommandSpec("SET_BRIGHTNESS_SCALE", command_args={"brightness_value": 400})
    assert caught.value.field == "command_args.brightness_value"
    with pytest.raises(ValidationError) as caught:
        CommandSpec("REBOOT", schedule="WINDOW")
    assert caught.value.field == "schedule_args"
    with pytest.raises(ValidationError) as caught:
        CommandSpec("REBOOT", command_type="DEVCE")
    assert caught.value.field == "command_type"


def test_unknown_schedule_keys_are_kept_and_a_spec_is_frozen() -> None:
    """Keys the docs do not name ride along; the value cannot be changed after validation."""
    spec = CommandSpec(
        "REBOOT",
        schedule="WINDOW",
        schedule_args={
            "start_datetime": START,
            "end_datetime": START + dt.timedelta(hours=1),
            "x_new": 1,
        },
    )
    assert spec.schedule_extra == {"x_new": 1}
    assert spec.schedule_args is not None
    assert spec.schedule_args.start_datetime == START
    with pytest.raises(AttributeError):
        spec.command = Command.LOCK  # type: ignore[misc]
    assert spec.with_command_type("dynamic").command_type is CommandType.DYNAMIC


@pytest.mark.anyio
async def test_create_takes_a_spec_or_its_fields_but_not_both() -> None:
    """``spec=`` and the keyword form send the same body; both at once, or neither, is refused
    before anything is sent."""
    sim = Simulator(devices=4, groups=0, seed=2)
    spec = CommandSpec("SET_GPS_STATE", command_args={"gps_state": 3}, device_type="all")
    async with client_for(sim) as client:
        a = await client.commands.create(spec=spec, devices=sim.device_ids[:2])
        b = await client.commands.create(
            command="SET_GPS_STATE",
            command_args={"gps_state": 3},
            device_type="all",
            devices=sim.device_ids[:2],
        )
        with pytest.raises(ValidationError) as both:
            await client.commands.create(spec=spec, command="LOCK", devices=sim.device_ids)
        with pytest.raises(ValidationError) as neither:
            await client.commands.create(devices=sim.device_ids)
        with pytest.raises(ValidationError) as wrong:
            await client.commands.create(spec="REBOOT", devices=sim.device_ids)  # type: ignore[arg-type]
    assert (a.command, a.command_args, a.device_type) == (b.command, b.command_args, b.device_type)
    assert a.command_args == CommandArgs(gps_state=3)
    assert (both.value.field, neither.value.field, wrong.value.field) == (
        "spec",
        "command",
        "spec",
    )
    assert sim.stats.requests_created == 2


@pytest.mark.anyio
async def test_fan_out_takes_a_spec_and_validates_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fan-out over many chunks (and through resolve_groups) checks the command once."""
    calls: list[Any] = []
    check = spec_module.check_command_args  # type: ignore[attr-defined]

    def counting(command: Command, args: Any) -> CommandArgs:
        calls.append(command)
        return check(command, args)

    monkeypatch.setattr(spec_module, "check_command_args", counting)
    sim = Simulator(devices=120, groups=3, seed=4)
    async with client_for(sim) as client:
        by_keywords = await client.fan_out(
            command="REBOOT", groups=sim.group_ids, resolve_groups=True, chunk_size=10
        )
        assert len(calls) == 1
        spec = CommandSpec("LOCK", device_type="all")
        assert len(calls) == 2
        by_spec = await client.fan_out(spec=spec, devices=sim.device_ids, chunk_size=25)
        assert len(calls) == 2  # the spec was checked when built, not again per chunk
    assert by_keywords.ok
    assert by_spec.ok
    assert len(by_spec.outcomes) == 5
    assert all(o.request.command is Command.LOCK for o in by_spec.created)
    assert by_spec.plan.spec == spec


@pytest.mark.anyio
async def test_fan_out_refuses_a_spec_with_fields() -> None:
    """A spec and fields at once: refused on entry, nothing sent."""
    sim = Simulator(devices=3, groups=0, seed=5)
    async with client_for(sim) as client:
        with pytest.raises(ValidationError) as caught:
            async with client.fan_out_iter(
                spec=CommandSpec("REBOOT"), command="LOCK", devices=sim.device_ids
            ):
                pass  # pragma: no cover - refused on entry
    assert caught.value.field == "spec"
    assert sim.stats.calls["list"] == 0


@pytest.mark.anyio
async def test_created_compares_by_value() -> None:
    """Two Created for the same chunk and stored request are equal, however each was decoded."""
    sim = Simulator(devices=30, groups=0, seed=6)
    async with client_for(sim) as client:
        result = await fan_out(client, command="REBOOT", devices=sim.device_ids)
        (listed,) = await client.commands.list().to_list(max_items=1)
    (created,) = result.created
    assert listed.id == created.request_id
    # The listing reports totals at its own moment; the rest of the request is the same.
    same = attrs.evolve(listed, status=created.request.status)
    assert created == Created(created.chunk, same, created.attempts)
    assert hash(created.chunk) == hash(Created(created.chunk, same).chunk)


@pytest.mark.parametrize("name", ["fan_out", "fan_out_iter", "watch", "wait"])
def test_help_shows_the_real_signature_and_docstring(name: str) -> None:
    """``help(client.fan_out)`` and the others: the helper's own signature (without the client)
    and docstring, not "Help on partial"."""
    client = EsperClient(base_url="http://x", api_key="k", enterprise_id=str(uuid.UUID(int=1)))
    method = getattr(client, name)
    signature = inspect.signature(method)
    assert "client" not in signature.parameters
    assert method.__doc__
    assert method.__doc__.strip()
    text = pydoc.render_doc(method)
    assert "partial" not in text
    assert method.__doc__.strip().splitlines()[0] in text
    if name.startswith("fan_out"):
        assert list(signature.parameters)[:3] == ["spec", "devices", "groups"]
        assert "fields" in signature.parameters
    if name == "fan_out":
        assert signature.return_annotation.__name__ == "FanOutResult"


@pytest.mark.anyio
async def test_the_fan_out_sleeps_and_jitters_with_the_client() -> None:
    """Backoff after a 429 is slept through the client's ``sleep``, its length drawn from the
    client's ``random``: nothing of the fan-out's own."""
    sim = Simulator(
        devices=5,
        groups=0,
        seed=7,
        faults=FaultPlan(script=[Fault(FaultKind.THROTTLE)], endpoints={"create"}),
    )
    fake = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await fake.sleep(seconds)

    client = EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
        rate_limit=None,
        env={},
        clock=fake,
        sleep=sleep,
        random=lambda: 0.5,
        retry=RetryPolicy.never(),  # the 429 reaches the fan-out, not the transport's retry
    )
    retry = ChunkRetry(backoff=3.0, max_backoff=60.0)
    async with client:
        result = await client.fan_out(command="REBOOT", devices=sim.device_ids, retry=retry)
    assert result.ok
    assert 1.5 in slept  # 0.5 * min(60, 3 * 2**0), longer than the 429's Retry-After
    assert sim.stats.requests_created == 1


def test_chunk_retry_sleep_is_deprecated() -> None:
    """The old per-retry sleep still works, with a DeprecationWarning pointing at the client."""

    async def nap(seconds: float) -> None:
        await anyio.lowlevel.checkpoint()

    with pytest.warns(DeprecationWarning, match="EsperClient"):
        retry = ChunkRetry(sleep=nap)
    assert retry.sleep is nap
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ChunkRetry().sleep is None
