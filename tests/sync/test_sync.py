"""`esper_cmds.sync`: the quickstart, fan-out and watch examples without `async`, on both loops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from esper_cmds import (
    Command,
    CommandRequest,
    CommandState,
    Created,
    FanOutProgress,
    NotFoundError,
    Reconciled,
    ValidationError,
)
from esper_cmds.simulator import Fault, FaultKind, Simulator
from esper_cmds.sync import EsperClient

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
def client(sim: Simulator, backend: str) -> Iterator[EsperClient]:
    """A blocking client on the simulator's in-process transport."""
    with EsperClient(
        backend=backend,
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
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


def test_watch_until_done_and_wait(sim: Simulator, client: EsperClient) -> None:
    """The watch example, blocking: every device reaches a terminal state and is reported."""
    time = SimTime(sim)
    request = client.commands.create(command="REBOOT", devices=sim.device_ids[:20])
    with client.watch(
        [request], timeout=120, interval=1.0, jitter=0, clock=time.clock, sleep=time.sleep
    ) as changes:
        final = {c.device: c.new_state for c in changes}
        summary = changes.summary
    assert summary.done
    assert len(final) == 20
    assert set(final.values()) <= {CommandState.SUCCESS, CommandState.FAILURE}
    other = client.commands.create(command="LOCK", devices=sim.device_ids[20:30])
    with client.watch([other], timeout=120, clock=time.clock, sleep=time.sleep) as changes:
        assert changes.wait().done
    done = client.wait(other, timeout=120, clock=time.clock, sleep=time.sleep)
    assert done.done
    assert sum(done.totals().values()) == 10


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
    """`close` twice is harmless; the repr shows where, never the key."""
    client = EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
    )
    assert sim.api_key not in repr(client)
    assert "Pager" in repr(client.devices.list())
    assert "Commands" in repr(client.commands)
    assert client.portal.call(client.aclient.devices.list().first_page).count == 120
    client.clear_pause()
    client.close()
    client.close()


def test_a_bad_option_raises_and_stops_the_thread(sim: Simulator) -> None:
    """A constructor error is the async client's ValidationError, and no thread is left behind."""
    before = threading.active_count()
    with pytest.raises(ValidationError, match="enterprise_id"):
        EsperClient(base_url=sim.base_url, api_key=sim.api_key, enterprise_id="nope")
    assert threading.active_count() == before
