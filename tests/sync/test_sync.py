"""`esper_cmds.sync`: the quickstart, fan-out and watch examples without `async`, on both loops."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator

import pytest

import esper_cmds
from esper_cmds import (
    ClientStatistics,
    Command,
    CommandRequest,
    CommandSpec,
    CommandState,
    Created,
    FanOutProgress,
    NotFoundError,
    Reconciled,
    ValidationError,
)
from esper_cmds.simulator import Fault, FaultKind, Simulator
from esper_cmds.sync import EsperClient
from esper_cmds.testing import fixed_random

from ..watch.conftest import SimTime


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """The portal's event loop: every test runs on both."""
    return str(request.param)


@pytest.fixture
def sim() -> Simulator:
    """A small fleet, all online, with a manual clock."""
    return Simulator(devices=120, groups=3, offline=0.0, seed=11)


@pytest.fixture
def time(sim: Simulator) -> SimTime:
    """The client's fake time, which moves the simulator's devices along as it sleeps."""
    return SimTime(sim)


@pytest.fixture
def client(sim: Simulator, backend: str, time: SimTime) -> Iterator[EsperClient]:
    """A blocking client on the simulator's in-process transport, on fake time."""
    with EsperClient(
        backend=backend,
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
        clock=time,
        sleep=time.sleep,
        random=fixed_random(),
    ) as client:
        yield client


def test_quickstart_create_then_iterate_statuses(sim: Simulator, client: EsperClient) -> None:
    """The README quickstart, blocking: create, then a plain `for` over the request's statuses."""
    devices = sim.device_ids[:30]
    request = client.commands.create(
        command=Command.SET_BRIGHTNESS_SCALE,
        devices=devices,
        command_args={"brightness_value": 80},
    )
    assert isinstance(request, CommandRequest)
    seen = [status.device for status in client.commands.statuses(request.id, page_size=7)]
    assert sorted(str(d) for d in seen) == sorted(devices)
    assert all(sim.stats.commands[d, "SET_BRIGHTNESS_SCALE"] == 1 for d in devices)


def test_listings_iterate_by_item_page_and_bounded_list(
    sim: Simulator, client: EsperClient
) -> None:
    """Items, pages with prefetch and `to_list` give the simulator's fleet, and an early break
    stops the listing without hanging the loop's thread."""
    every = {str(d.id) for d in client.devices.list(page_size=25)}
    assert every == set(sim.device_ids)
    pages = list(client.devices.list(page_size=25).pages(prefetch=2))
    assert [len(p.results) for p in pages] == [25, 25, 25, 25, 20]
    back = list(client.devices.list(page_size=25).walk_back(pages[-1]))
    assert [p.results for p in back] == [p.results for p in reversed(pages[:-1])]
    assert len(client.devices.list(page_size=25).to_list(max_items=30)) == 30
    for n, _device in enumerate(client.devices.list(page_size=10)):
        if n == 3:
            break
    first = client.devices.list(page_size=50).first_page()
    assert first.count == 120
    assert [g.name for g in client.groups.list()] != []


def test_errors_arrive_as_themselves(client: EsperClient) -> None:
    """Bad input is a ValidationError before anything is sent; a 404 while iterating is a
    NotFoundError, not an exception group or a thread's traceback."""
    with pytest.raises(ValidationError, match="brightness_value"):
        client.commands.create(
            command="SET_BRIGHTNESS_SCALE",
            devices=["5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b"],
            command_args={"brightness_value": 500},
        )
    with pytest.raises(NotFoundError):
        list(client.commands.statuses("5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b"))


def test_fan_out_exactly_once_with_progress_on_the_loop_thread(
    sim: Simulator, client: EsperClient
) -> None:
    """A fan-out to every group with a lost answer: reconciled, not resent; `on_progress` is
    called once per chunk, on the portal's thread."""
    sim.faults.script.append(Fault(FaultKind.DROP_AFTER_STORE))
    threads: list[threading.Thread] = []
    progress: list[FanOutProgress] = []

    def on_progress(p: FanOutProgress) -> None:
        threads.append(threading.current_thread())
        progress.append(p)

    result = client.fan_out(
        command="REBOOT", devices=sim.device_ids, chunk_size=50, on_progress=on_progress
    )
    assert result.ok
    assert len(result.outcomes) == 3
    assert all(sim.stats.commands[d, "REBOOT"] == 1 for d in sim.device_ids)
    assert [p.done for p in progress] == [1, 2, 3]
    assert threading.current_thread() not in threads


def test_fan_out_iter_yields_each_outcome(sim: Simulator, client: EsperClient) -> None:
    """`fan_out_iter` in a `with` block yields one outcome per chunk, then the result."""
    with client.fan_out_iter(command="LOCK", devices=sim.device_ids, chunk_size=40) as stream:
        outcomes = list(stream)
        result = stream.wait()
    assert len(outcomes) == 3
    assert all(isinstance(o, Created | Reconciled) for o in outcomes)
    assert result.ok
    assert stream.result == result


def test_watch_until_done_and_wait(sim: Simulator, client: EsperClient, time: SimTime) -> None:
    """The watch example, blocking, on the client's fake time: every device reaches a terminal
    state and is reported."""
    request = client.commands.create(command="REBOOT", devices=sim.device_ids[:20])
    with client.watch([request], timeout=120, interval=1.0, jitter=0) as changes:
        final = {c.device: c.new_state for c in changes}
        summary = changes.summary
    assert summary.done
    assert len(final) == 20
    assert set(final.values()) <= {CommandState.SUCCESS, CommandState.FAILURE}
    other = client.commands.create(command="LOCK", devices=sim.device_ids[20:30])
    with client.watch([other], timeout=120) as changes:
        assert changes.wait().done
    done = client.wait(other, timeout=120)
    assert done.done
    assert sum(done.totals().values()) == 10
    assert time.sleeps  # the rounds waited on the client's sleep, not the wall clock


def test_fan_out_and_create_take_a_command_spec(sim: Simulator, client: EsperClient) -> None:
    """A `CommandSpec` built once goes to `create`, `fan_out` and `fan_out_iter` as ``spec=``:
    each device gets the command once per call, with the spec's arguments."""
    spec = CommandSpec(Command.SET_BRIGHTNESS_SCALE, command_args={"brightness_value": 40})
    one = client.commands.create(spec=spec, devices=sim.device_ids[:2])
    assert one.command == Command.SET_BRIGHTNESS_SCALE
    result = client.fan_out(spec=spec, devices=sim.device_ids[2:], chunk_size=59)
    assert result.ok
    assert result.totals.chunks == 2
    with client.fan_out_iter(spec=CommandSpec("lock"), devices=sim.device_ids) as stream:
        assert len(list(stream)) == 1
    assert all(sim.stats.commands[d, "SET_BRIGHTNESS_SCALE"] == 1 for d in sim.device_ids)
    assert all(sim.stats.commands[d, "LOCK"] == 1 for d in sim.device_ids)
    with pytest.raises(ValidationError, match="spec"):
        client.fan_out(spec=spec, command="REBOOT", devices=sim.device_ids)


def test_the_helpers_show_the_async_signatures(client: EsperClient) -> None:
    """`help()` on the facade's helpers shows the async methods' parameters, without the
    client: the facade cannot drift from them."""
    async_client = esper_cmds.EsperClient
    for name in ("fan_out", "fan_out_iter", "watch", "wait"):
        mine = inspect.signature(getattr(client, name)).parameters
        theirs = inspect.signature(getattr(client.aclient, name)).parameters
        assert list(mine) == list(theirs), name
        assert getattr(client, name).__doc__ == getattr(async_client, name).__doc__
    assert "spec" in inspect.signature(client.fan_out).parameters
    assert "self" not in inspect.signature(client.commands.create).parameters


def test_usable_inside_a_running_event_loop(sim: Simulator, backend: str) -> None:
    """As in a Jupyter cell: called from a coroutine while asyncio's loop runs in this thread."""

    async def cell() -> int:
        with EsperClient(
            backend=backend,
            base_url=sim.base_url,
            api_key=sim.api_key,
            enterprise_id=sim.enterprise_id,
            transport=sim.transport,
        ) as client:
            return len(client.devices.list(page_size=100).to_list(max_items=1000))

    assert asyncio.run(cell()) == 120


def test_close_is_idempotent_and_repr_has_no_key(sim: Simulator) -> None:
    """`close` twice is harmless; the repr shows where, never the key; `statistics` is the async
    client's, read on its loop."""
    client = EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
        max_concurrency=7,
    )
    assert sim.api_key not in repr(client)
    assert "Pager" in repr(client.devices.list())
    assert "Commands" in repr(client.commands)
    assert client.portal.call(client.aclient.devices.list().first_page).count == 120
    client.clear_pause()
    stats = client.statistics()
    assert stats == client.portal.call(_statistics, client)
    assert (stats.max_concurrency, stats.in_flight, stats.paused_for) == (7, 0, 0)
    client.close()
    client.close()


async def _statistics(client: EsperClient) -> ClientStatistics:
    return client.aclient.statistics()


def test_a_bad_option_raises_and_stops_the_thread(sim: Simulator) -> None:
    """A constructor error is the async client's ValidationError, and no thread is left behind."""
    before = threading.active_count()
    with pytest.raises(ValidationError, match="enterprise_id"):
        EsperClient(base_url=sim.base_url, api_key=sim.api_key, enterprise_id="nope")
    assert threading.active_count() == before
