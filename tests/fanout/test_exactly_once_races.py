"""Exactly once when timing, stale results, a deleted journal or a coarse clock get in the way.

Found by an adversarial review of the hardening (issue 10); each test failed before its fix:
a slow server storing a create after the client gave up got it twice (reconciled too early);
`retry_failed()` on a stale result sent again; a journal deleted under a running fan-out let a
second run send everything; and an old identical request was adopted when times tied or the
server left ``created_on`` out.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from esper_cmds import EsperClient, JournalError, Reconciled, RetryPolicy
from esper_cmds._fanout import ChunkRetry, fan_out
from esper_cmds.simulator import ManualClock, Simulator

from .conftest import FAST, client_for


def per_device(sim: Simulator, command: str = "REBOOT") -> Counter[int]:
    """How many devices hold 0, 1, 2... of `command`."""
    return Counter(sim.stats.commands[(d, command)] for d in sim.device_ids)


class SlowFirstCreate(httpx.AsyncBaseTransport):
    """The first create reaches the simulator `delay` seconds late, however long the client
    waits: the server goes on with a request after its client hung up, as real servers do."""

    def __init__(self, sim: Simulator, tg: anyio.abc.TaskGroup, delay: float) -> None:
        self.sim, self.tg, self.delay, self.posts = sim, tg, delay, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            if self.posts == 1:
                body = await request.aread()
                done = anyio.Event()
                answer: list[httpx.Response] = []

                async def server_side() -> None:
                    await anyio.sleep(self.delay)
                    forward = httpx.Request(
                        "POST", request.url, headers=request.headers, content=body
                    )
                    response = await self.sim.transport.handle_async_request(forward)
                    answer.append(
                        httpx.Response(response.status_code, content=await response.aread())
                    )
                    done.set()

                self.tg.start_soon(server_side)
                await done.wait()
                return answer[0]
        return await self.sim.transport.handle_async_request(request)


@pytest.mark.anyio
async def test_a_create_the_server_stores_after_the_client_gave_up_is_not_sent_twice() -> None:
    """The budget cuts the first create at 0.3 s; the server stores it at 0.8 s. The chunk is
    looked up again once the settle window has passed, found, and adopted, not resent."""
    sim = Simulator(devices=20, groups=0, seed=8)
    async with anyio.create_task_group() as tg:
        client = EsperClient(
            base_url=sim.base_url,
            api_key=sim.api_key,
            enterprise_id=sim.enterprise_id,
            transport=SlowFirstCreate(sim, tg, delay=0.8),
            rate_limit=None,
            retry=RetryPolicy(budget=0.3),
            env={},
        )
        async with client:
            result = await fan_out(
                client,
                command="REBOOT",
                devices=sim.device_ids,
                device_type="all",
                chunk_size=10,
                concurrency=1,
                retry=ChunkRetry(settle=2.0),
            )
    assert per_device(sim) == {1: 20}
    assert isinstance(result.outcomes[0], Reconciled)


class RefuseFirstCreate(httpx.AsyncBaseTransport):
    """The simulator, except that the first create is refused (400) without being stored."""

    def __init__(self, sim: Simulator) -> None:
        self.sim, self.posts = sim, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            if self.posts == 1:
                return httpx.Response(
                    400, json={"errors": ["busy"], "message": "no", "status": 400}
                )
        return await self.sim.transport.handle_async_request(request)


@pytest.mark.parametrize("with_journal", [True, False], ids=["journal", "no-journal"])
@pytest.mark.parametrize("together", [False, True], ids=["one-after-another", "at-once"])
@pytest.mark.anyio
async def test_retrying_a_stale_result_sends_nothing_twice(
    tmp_path: Path, with_journal: bool, together: bool
) -> None:
    """`retry_failed()` called twice on the same result, one after another or at once, with or
    without a journal: the chunk the first retry created is not created again."""
    sim = Simulator(devices=30, groups=0, seed=1)
    journal = tmp_path / "run.jsonl" if with_journal else None
    async with client_for(sim, transport=RefuseFirstCreate(sim)) as client:
        result = await fan_out(
            client,
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=10,
            concurrency=1,
            journal=journal,
            retry=FAST,
        )
        assert len(result.failed) == 1
        retried: list[Any] = []
        if together:
            async with anyio.create_task_group() as tg:
                for _ in range(2):
                    tg.start_soon(lambda: _append(retried, result.retry_failed()))
        else:
            retried.append(await result.retry_failed())
            retried.append(await result.retry_failed())
    assert all(r.ok for r in retried)
    assert sim.stats.requests_created == 3
    online = [d for d in sim.device_ids if sim.stats.commands[(d, "REBOOT")]]
    assert Counter(sim.stats.commands[(d, "REBOOT")] for d in online) == {1: len(online)}


async def _append(into: list[Any], awaitable: Any) -> None:
    into.append(await awaitable)


@pytest.mark.anyio
async def test_deleting_the_journal_under_a_running_fan_out_loses_nothing(
    tmp_path: Path,
) -> None:
    """The journal is deleted while a fan-out holds it. A second run meanwhile is refused (the
    lock is on ``<journal>.lock``); the running one writes the journal back whole and finishes;
    a run after it finds every chunk created. Nothing is sent twice."""
    sim = Simulator(devices=400, groups=0, seed=2, latency=0.02)
    journal = tmp_path / "run.jsonl"
    progressed = anyio.Event()
    second: list[Any] = []
    async with client_for(sim) as client:

        async def run(**extra: Any) -> Any:
            return await fan_out(
                client, command="REBOOT", devices=sim.device_ids, device_type="all",
                chunk_size=20, concurrency=1, journal=journal, **extra,
            )  # fmt: skip

        async def first() -> None:
            result = await run(on_progress=lambda _: progressed.set())
            assert result.ok

        async def meanwhile() -> None:
            await progressed.wait()
            os.unlink(journal)
            try:
                second.append(await run())
            except JournalError as exc:
                second.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            tg.start_soon(meanwhile)
        after = await run()
    refused_or_resumed = second[0]
    if isinstance(refused_or_resumed, JournalError):
        assert "in use" in str(refused_or_resumed)
    else:  # it started once the first had finished: everything was already done
        assert refused_or_resumed.totals.resumed == 20
    assert after.totals.resumed == 20
    assert per_device(sim) == {1: 400}
    assert journal.read_text().count('"type":"created"') == 20


class Stripped(httpx.AsyncBaseTransport):
    """The simulator, with ``created_on`` left out of request listings (an older API, a proxy)
    and the first create refused with a 500 before it is stored."""

    def __init__(self, sim: Simulator, *, strip: bool) -> None:
        self.sim, self.strip, self.armed, self.posts = sim, strip, False, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.armed:
            self.posts += 1
            if self.posts == 1:
                return httpx.Response(500, json={"message": "oops", "errors": [], "status": 500})
        response = await self.sim.transport.handle_async_request(request)
        if self.strip and request.method == "GET" and request.url.path.endswith("/command/"):
            body = json.loads(await response.aread())
            for item in body.get("results", []):
                item["created_on"] = None
            return httpx.Response(response.status_code, json=body)
        return response


@pytest.mark.parametrize("strip", [False, True], ids=["same-instant", "no-created-on"])
@pytest.mark.anyio
async def test_an_old_identical_request_is_never_adopted(strip: bool) -> None:
    """Yesterday's identical REBOOT exists; today's first create is refused unstored (a 500).
    Whether it was made in the same instant as the fence (a clock that did not move) or the
    server gives no times at all, it is not taken for today's: the chunk is sent."""
    clock = ManualClock()
    sim = Simulator(devices=20, groups=0, seed=7, clock=clock)
    chunk = sorted(sim.device_ids)[:10]
    transport = Stripped(sim, strip=strip)
    async with client_for(sim, transport=transport) as client:
        await client.commands.create(command="REBOOT", devices=chunk, device_type="all")
        if strip:
            clock.advance(3600)
        await client.commands.create(command="LOCK", devices=chunk[:1], device_type="all")
        before = per_device(sim)
        transport.armed = True
        result = await fan_out(
            client,
            command="REBOOT",
            devices=chunk,
            device_type="all",
            concurrency=1,
            retry=FAST,
        )
    assert result.ok
    assert not result.reconciled
    assert before == {1: 10, 0: 10}
    assert all(sim.stats.commands[(d, "REBOOT")] == 2 for d in chunk)  # yesterday's and today's
