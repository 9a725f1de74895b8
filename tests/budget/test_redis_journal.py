"""`RedisJournal` against a real redis-server: runs of one fan-out share it and create each chunk
once between them; a dead run's chunk is taken over through reconciliation; Redis going away
stops the run with `JournalError`, and the run is resumable once Redis is back."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import Counter
from pathlib import Path

import anyio
import pytest

from esper_cmds import (
    ChunkRetry,
    CommandSpec,
    Created,
    EsperClient,
    FanOutResult,
    JournalError,
    JournalMismatchError,
    Reconciled,
    RedisJournal,
    Resumed,
    RetryPolicy,
    ValidationError,
)
from esper_cmds._fanout.plan import Plan, build_plan
from esper_cmds._fanout.reconcile import take_fence
from esper_cmds._validation import parse_targets
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, Simulator

from ..fanout.conftest import FAST, client_for
from ._redis_server import RedisServer

pytestmark = [
    # coredis 6.9: the streams of a connection that never connected are left to the collector.
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject(Send|Receive)Stream:ResourceWarning"),
]


def _prefix() -> str:
    """Each test its own keys, on the module's shared server."""
    return f"test-{uuid.uuid4().hex[:8]}"


def _faults(seed: int) -> FaultPlan:
    return FaultPlan(
        probabilities={
            "error_before_store": 0.05,
            "error_after_store": 0.05,
            "drop_after_store": 0.05,
            "throttle": 0.05,
        },
        endpoints=["create"],
        seed=seed,
        seconds={"throttle": 0.01},
    )


def _exactly_once(sim: Simulator) -> None:
    assert Counter(sim.stats.commands[(d, "REBOOT")] for d in sim.device_ids) == {
        1: len(sim.device_ids)
    }


def _plan(client: EsperClient, sim: Simulator) -> Plan:
    """The plan ``fan_out(command="REBOOT", devices=sim.device_ids, chunk_size=100)`` makes."""
    return build_plan(
        enterprise_id=client.enterprise_id,
        spec=CommandSpec("REBOOT"),
        devices=parse_targets(sim.device_ids, "devices"),
        groups=[],
        chunk_size=100,
    )


@pytest.mark.anyio
async def test_two_runs_of_one_fan_out_share_the_journal(redis: RedisServer) -> None:
    """Two clients (standing for two hosts) run the same fan-out at once on one Redis journal,
    under faults before and after the store, drops and 429s: every device gets exactly one
    command, each chunk has one request, and both runs report every chunk (what the other
    created, as resumed)."""
    sim = Simulator(devices=2000, groups=0, offline=0.0, seed=41, faults=_faults(41))
    journal = RedisJournal(redis.url, prefix=_prefix(), poll=0.01)
    results: list[FanOutResult] = []

    async def run() -> None:
        async with client_for(sim) as client:
            results.append(
                await client.fan_out(
                    command="REBOOT",
                    devices=sim.device_ids,
                    chunk_size=50,
                    concurrency=4,
                    journal=journal,
                    retry=FAST,
                )
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(run)
    _exactly_once(sim)
    assert sim.stats.requests_created == 40
    first, second = results
    assert first.ok
    assert second.ok
    assert len(first.outcomes) == len(second.outcomes) == 40
    assert first.request_ids == second.request_ids
    for a, b in zip(first.outcomes, second.outcomes, strict=True):
        # One run sent (or adopted) the chunk's request; the other saw it done by that run.
        assert isinstance(a, Resumed) != isinstance(b, Resumed)


@pytest.mark.anyio
async def test_a_dead_runs_chunk_is_looked_up_before_it_is_sent_again(redis: RedisServer) -> None:
    """A run died after sending chunk 0 (its create is stored) and before recording it; its
    claim expires, and the next run adopts the request it finds on the server instead of
    sending it again."""
    sim = Simulator(devices=300, groups=0, offline=0.0, seed=42)
    journal = RedisJournal(redis.url, prefix=_prefix(), claim_ttl=0.3, poll=0.02)
    async with client_for(sim) as client:
        plan = _plan(client, sim)
        dead = await journal.open(plan)
        await dead.begin(await take_fence(client.commands))
        await dead.aclose()
        # What a run that died mid-create leaves: its claim (expiring: no heartbeat any more),
        # its "started" record, and the request it sent, stored.
        name = f"{journal.prefix}:journal:{{{plan.fingerprint}}}"
        entered = time.monotonic()
        redis.command("SET", f"{name}:claim:0", "a-dead-run", "PX", "300")
        redis.command("HSET", name, "c:0", f"s|a-dead-run|{dt.datetime.now(dt.UTC).isoformat()}")
        await client.commands.create(spec=plan.targeted_spec, devices=plan.chunks[0].devices)
        result = await client.fan_out(
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=100,
            journal=journal,
            retry=FAST,
        )
    assert result.ok
    assert isinstance(result.outcomes[0], Reconciled)
    assert time.monotonic() - entered >= 0.25  # it waited for the claim to expire
    _exactly_once(sim)
    assert sim.stats.requests_created == 3


@pytest.mark.anyio
async def test_a_chunk_left_in_doubt_after_this_run_read_the_journal_is_looked_up(
    redis: RedisServer,
) -> None:
    """The other run started chunk 0 (and its create was stored) only after this run read the
    journal, then died: when this run takes the chunk over, the claim tells it of that attempt,
    and it adopts the request instead of sending a second one."""
    sim = Simulator(devices=300, groups=0, offline=0.0, seed=52)
    journal = RedisJournal(redis.url, prefix=_prefix(), claim_ttl=0.3, poll=0.02)
    async with client_for(sim) as client:
        plan = _plan(client, sim)
        name = f"{journal.prefix}:journal:{{{plan.fingerprint}}}"
        claim = f"{name}:claim:0"
        redis.command("SET", claim, "a-dying-run", "PX", "10000")

        async def the_other_run() -> None:
            # This run has read the journal (and created another chunk): only now does the
            # other run record its attempt at chunk 0 and send it, before dying.
            while sim.stats.requests_created == 0:  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.01)
            at = dt.datetime.now(dt.UTC).isoformat()
            redis.command("HSET", name, "c:0", f"s|a-dying-run|{at}")
            await client.commands.create(spec=plan.targeted_spec, devices=plan.chunks[0].devices)
            redis.command("PEXPIRE", claim, "100")  # it dies: no heartbeat keeps the claim

        async with anyio.create_task_group() as tg:
            tg.start_soon(the_other_run)
            result = await client.fan_out(
                command="REBOOT",
                devices=sim.device_ids,
                chunk_size=100,
                concurrency=2,
                journal=journal,
                retry=FAST,
            )
    assert result.ok
    assert isinstance(result.outcomes[0], Reconciled)
    _exactly_once(sim)
    assert sim.stats.requests_created == 3


@pytest.mark.anyio
async def test_a_live_claim_is_kept_by_its_heartbeat(redis: RedisServer) -> None:
    """A chunk whose create takes longer than the claim's expiry stays its holder's (the
    heartbeat): a second run waits for it and then reports it as done by the first, rather
    than taking it over."""
    slow = FaultPlan(script=[Fault(FaultKind.SLOW, 1.0)], endpoints=["create"])
    sim = Simulator(devices=100, groups=0, offline=0.0, seed=43, faults=slow)
    journal = RedisJournal(redis.url, prefix=_prefix(), claim_ttl=0.3, poll=0.02)
    results: dict[str, FanOutResult] = {}

    async def run(name: str) -> None:
        async with client_for(sim) as client:
            results[name] = await client.fan_out(
                command="REBOOT",
                devices=sim.device_ids,
                chunk_size=100,
                journal=journal,
                retry=FAST,
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "first")
        # The simulator has no event to wait on: look until the first create is stored.
        while sim.stats.requests_created == 0:  # noqa: ASYNC110
            await anyio.sleep(0.01)
        tg.start_soon(run, "second")
    assert isinstance(results["first"].outcomes[0], Created)
    assert isinstance(results["second"].outcomes[0], Resumed)
    _exactly_once(sim)
    assert sim.stats.requests_created == 1


@pytest.mark.anyio
async def test_redis_going_away_stops_the_run_and_a_rerun_finishes_it(tmp_path: Path) -> None:
    """Redis stops mid fan-out: the run stops with `JournalError` (no hang, nothing sent twice);
    once Redis is back (with its data: a journal's Redis must persist), the same fan-out
    finishes what is left, reconciling the chunk that was in flight."""
    sim = Simulator(devices=1000, groups=0, offline=0.0, seed=44)
    server = RedisServer(persist_in=tmp_path)
    journal = RedisJournal(server.url, timeout=0.5, claim_ttl=1.0)

    def on_progress(progress: object) -> None:
        if sim.stats.requests_created >= 4:
            server.stop()

    try:
        async with client_for(sim) as client:
            started = time.monotonic()
            with pytest.raises(JournalError, match=r"Redis at redis://127\.0\.0\.1"):
                await client.fan_out(
                    command="REBOOT",
                    devices=sim.device_ids,
                    chunk_size=50,
                    concurrency=2,
                    journal=journal,
                    retry=FAST,
                    on_progress=on_progress,
                )
            assert time.monotonic() - started < 30
            done = sim.stats.requests_created
            assert 4 <= done < 20
            assert max(sim.stats.commands.values()) == 1
            server = RedisServer(port=server.port, persist_in=tmp_path)
            result = await client.fan_out(
                command="REBOOT",
                devices=sim.device_ids,
                chunk_size=50,
                concurrency=2,
                journal=journal,
                retry=FAST,
            )
    finally:
        server.stop()
    assert result.ok
    assert result.totals.resumed + result.totals.reconciled >= done - 1
    _exactly_once(sim)
    assert sim.stats.requests_created == 20


@pytest.mark.anyio
async def test_a_redis_that_stops_answering_stops_the_run(lone_redis: RedisServer) -> None:
    """A Redis that keeps the connection but answers nothing (SIGSTOP): `JournalError` after
    the journal's timeout, not a hang."""
    sim = Simulator(devices=500, groups=0, offline=0.0, seed=45)
    journal = RedisJournal(lone_redis.url, timeout=0.5)

    def on_progress(progress: object) -> None:
        if sim.stats.requests_created >= 2:
            lone_redis.freeze()

    try:
        async with client_for(sim) as client:
            started = time.monotonic()
            with pytest.raises(JournalError, match=r"did not answer within 0\.5 s"):
                await client.fan_out(
                    command="REBOOT",
                    devices=sim.device_ids,
                    chunk_size=50,
                    concurrency=1,
                    journal=journal,
                    retry=FAST,
                    on_progress=on_progress,
                )
            assert time.monotonic() - started < 10
    finally:
        lone_redis.thaw()
    assert max(sim.stats.commands.values()) == 1


@pytest.mark.anyio
async def test_redis_unreachable_when_the_fan_out_opens_its_journal(
    lone_redis: RedisServer,
) -> None:
    """No Redis at all: `JournalError` before anything is sent."""
    lone_redis.stop()
    sim = Simulator(devices=50, groups=0, offline=0.0, seed=46)
    async with client_for(sim) as client:
        with pytest.raises(JournalError):
            await client.fan_out(
                command="REBOOT",
                devices=sim.device_ids,
                journal=RedisJournal(lone_redis.url, timeout=0.5),
            )
    assert sim.stats.requests_created == 0


@pytest.mark.anyio
async def test_a_key_that_is_not_this_plans_journal_is_refused(redis: RedisServer) -> None:
    """Something else at the journal's key (another version, damaged fields): refused, typed,
    nothing sent."""
    sim = Simulator(devices=50, groups=0, offline=0.0, seed=47)
    prefix = _prefix()
    journal = RedisJournal(redis.url, prefix=prefix)
    async with client_for(sim) as client:
        first = await client.fan_out(command="REBOOT", devices=sim.device_ids, journal=journal)
        assert first.ok
        (name,) = (
            k.decode()
            for k in redis.command("KEYS", f"{prefix}:journal:*").split(b"\r\n")
            if k.startswith(prefix.encode())
        )
        redis.command("HSET", name, "c:99", "x")
        with pytest.raises(JournalMismatchError, match="c:99"):
            await client.fan_out(command="REBOOT", devices=sim.device_ids, journal=journal)
        redis.command("HDEL", name, "c:99")
        redis.command("HSET", name, "c:0", "garbage")
        with pytest.raises(JournalMismatchError, match="damaged"):
            await client.fan_out(command="REBOOT", devices=sim.device_ids, journal=journal)
        redis.command("HDEL", name, "header")
        with pytest.raises(JournalMismatchError, match="no header"):
            await client.fan_out(command="REBOOT", devices=sim.device_ids, journal=journal)
        redis.command("HSET", name, "header", "{}")
        with pytest.raises(JournalMismatchError, match="not a fan-out journal"):
            await client.fan_out(command="REBOOT", devices=sim.device_ids, journal=journal)
    assert sim.stats.requests_created == 1


def test_journal_options_are_checked_and_the_password_hidden() -> None:
    """Bad options are `ValidationError`s naming the field; the password never shows."""
    with pytest.raises(ValidationError, match="url"):
        RedisJournal("http://cache:6379")
    with pytest.raises(ValidationError, match="claim_ttl"):
        RedisJournal("redis://cache:6379", claim_ttl=0)
    with pytest.raises(ValidationError, match="poll"):
        RedisJournal("redis://cache:6379", poll=0)
    assert "s3cret" not in repr(RedisJournal("redis://u:s3cret@cache:6379/0"))


@pytest.mark.anyio
async def test_a_journal_of_the_wrong_kind_is_refused() -> None:
    """Neither a path nor a journal backend: `ValidationError` naming ``journal``."""
    sim = Simulator(devices=10, groups=0, offline=0.0, seed=48)
    async with EsperClient(
        base_url=sim.base_url,
        api_key=sim.api_key,
        enterprise_id=sim.enterprise_id,
        transport=sim.transport,
        env={},
    ) as client:
        with pytest.raises(ValidationError, match="journal"):
            await client.fan_out(command="REBOOT", devices=sim.device_ids, journal=42)  # type: ignore[arg-type]
    assert sim.stats.requests_created == 0


@pytest.mark.anyio
async def test_a_claim_taken_by_another_run_stops_this_one(redis: RedisServer) -> None:
    """If the claim is lost while a create is in flight (it expired and another run took it),
    the holder stops with `JournalError` rather than go on as if the chunk were its own; the
    create it had sent is adopted by the next run, not sent again."""
    slow = FaultPlan(script=[Fault(FaultKind.SLOW, 1.0)], endpoints=["create"])
    sim = Simulator(devices=100, groups=0, offline=0.0, seed=49, faults=slow)
    prefix = _prefix()
    journal = RedisJournal(redis.url, prefix=prefix, claim_ttl=0.3, poll=0.02)

    async def steal() -> None:
        while sim.stats.requests_created == 0:  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.01)
        (name,) = (n for n in redis.command("KEYS", f"{prefix}:*:claim:0").split() if b"{" in n)
        redis.command("SET", name.decode(), "another-run", "PX", "5000")

    async with client_for(sim) as client, anyio.create_task_group() as tg:
        tg.start_soon(steal)
        with pytest.raises(JournalError, match="another run took it"):
            await client.fan_out(
                command="REBOOT", devices=sim.device_ids, journal=journal, retry=FAST
            )
    async with client_for(sim) as client:
        # The other run is gone without a trace: its claim is not there any more.
        for key in redis.command("KEYS", f"{prefix}:*:claim:0").split():
            if b"{" in key:
                redis.command("DEL", key.decode())
        result = await client.fan_out(
            command="REBOOT", devices=sim.device_ids, journal=journal, retry=FAST
        )
    assert isinstance(result.outcomes[0], Reconciled)
    _exactly_once(sim)
    assert sim.stats.requests_created == 1


@pytest.mark.anyio
async def test_retry_failed_with_a_redis_journal(redis: RedisServer) -> None:
    """Chunks that failed (429s past the attempts allowed: nothing stored) are sent once by
    `retry_failed()`, after a look on the server (their "started" records are a past run's)."""
    throttles = [Fault(FaultKind.THROTTLE, 0.01)] * 3
    sim = Simulator(
        devices=300,
        groups=0,
        offline=0.0,
        seed=50,
        faults=FaultPlan(script=throttles, endpoints=["create"]),
    )
    journal = RedisJournal(redis.url, prefix=_prefix())
    async with client_for(sim) as client:
        first = await client.with_options(retry=RetryPolicy.never()).fan_out(
            command="REBOOT",
            devices=sim.device_ids,
            chunk_size=100,
            concurrency=1,
            journal=journal,
            retry=ChunkRetry(max_attempts=1),
        )
        assert len(first.failed) >= 1
        again = await first.retry_failed()
    assert again.ok
    _exactly_once(sim)
    assert sim.stats.requests_created == 3


@pytest.mark.anyio
async def test_a_redis_that_stops_answering_mid_create_stops_the_run(
    lone_redis: RedisServer,
) -> None:
    """Redis stops answering while a create is in flight: the heartbeat tries again until the
    claim would lapse, then the run stops with `JournalError`, not a hang and nothing resent."""
    slow = FaultPlan(script=[Fault(FaultKind.SLOW, 1.5)], endpoints=["create"])
    sim = Simulator(devices=100, groups=0, offline=0.0, seed=53, faults=slow)
    journal = RedisJournal(lone_redis.url, timeout=0.1, claim_ttl=0.6)

    async def freeze_once_sent() -> None:
        while sim.stats.requests_created == 0:  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.01)
        lone_redis.freeze()

    started = time.monotonic()
    try:
        async with client_for(sim) as client, anyio.create_task_group() as tg:
            tg.start_soon(freeze_once_sent)
            with pytest.raises(JournalError, match=r"did not answer within 0\.1 s"):
                await client.fan_out(
                    command="REBOOT", devices=sim.device_ids, journal=journal, retry=FAST
                )
    finally:
        lone_redis.thaw()
    assert time.monotonic() - started < 10
    assert sim.stats.requests_created == 1


@pytest.mark.anyio
async def test_the_journal_guards_its_own_records(redis: RedisServer) -> None:
    """Directly on an open journal: no "started" record once the claim is another run's; a
    chunk's first request stays recorded; a chunk another run holds is not waited for when
    the caller says so; a damaged "created" record is refused."""
    sim = Simulator(devices=300, groups=0, offline=0.0, seed=54)
    journal = RedisJournal(redis.url, prefix=_prefix(), poll=0.01)
    async with client_for(sim) as client:
        plan = _plan(client, sim)
        name = f"{journal.prefix}:journal:{{{plan.fingerprint}}}"
        opened = await journal.open(plan)
        try:
            await opened.begin(await take_fence(client.commands))
            first, second = plan.chunks[0], plan.chunks[1]
            async with opened.claim(first) as news:
                assert news is not None  # a claim that waits always yields the chunk's state
                assert news.request_id is None
                assert news.started_at is None
                redis.command("SET", f"{name}:claim:0", "another-run", "PX", "60000")
                with pytest.raises(JournalError, match="no longer holds chunk 0"):
                    await opened.started(first, dt.datetime.now(dt.UTC))
            request = await client.commands.create(spec=plan.targeted_spec, devices=second.devices)
            recorded = f"r|{uuid.uuid4()}|{dt.datetime.now(dt.UTC).isoformat()}|other"
            redis.command("HSET", name, "c:1", recorded)
            await opened.created(second, request, dt.datetime.now(dt.UTC))
            assert recorded.encode() in redis.command("HGET", name, "c:1")
            # Held by another live run: with wait=False, None at once, and nothing taken.
            redis.command("SET", f"{name}:claim:2", "another-run", "PX", "60000")
            with anyio.fail_after(5):
                async with opened.claim(plan.chunks[2], wait=False) as held:
                    assert held is None
            assert b"another-run" in redis.command("GET", f"{name}:claim:2")
            redis.command("DEL", f"{name}:claim:2")
            redis.command("HSET", name, "c:2", "r|not-a-uuid")
            with pytest.raises(JournalMismatchError, match="damaged"):
                async with opened.claim(plan.chunks[2]):
                    pass
        finally:
            await opened.aclose()
            await opened.aclose()  # a second close does nothing


@pytest.mark.anyio
async def test_a_run_goes_on_with_free_chunks_while_another_holds_one(redis: RedisServer) -> None:
    """A chunk another live run holds is put off, not waited on: a run of one worker settles
    every other chunk first, then comes back for it once it is let go. (Waiting in turn, two
    runs started together each sat behind the other's claims, and one did nearly all the work.)
    """
    sim = Simulator(devices=500, groups=0, offline=0.0, seed=55)
    journal = RedisJournal(redis.url, prefix=_prefix(), poll=0.01)
    async with client_for(sim) as client:
        plan = _plan(client, sim)
        claim = f"{journal.prefix}:journal:{{{plan.fingerprint}}}:claim:0"
        redis.command("SET", claim, "another-run", "PX", "60000")
        result: list[FanOutResult] = []

        async def run() -> None:
            result.append(
                await client.fan_out(
                    command="REBOOT",
                    devices=sim.device_ids,
                    chunk_size=100,
                    concurrency=1,
                    journal=journal,
                    retry=FAST,
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            with anyio.fail_after(10):
                while sim.stats.requests_created < 4:  # noqa: ASYNC110 - no event to wait on
                    await anyio.sleep(0.01)
            await anyio.sleep(0.1)  # the held chunk is not sent meanwhile
            assert sim.stats.requests_created == 4
            assert not result
            redis.command("DEL", claim)
    assert [type(o) for o in result[0].outcomes] == [Created] * 5
    assert sim.stats.requests_created == 5
    _exactly_once(sim)


@pytest.mark.anyio
async def test_a_run_whose_chunks_others_created_meanwhile_is_not_warned(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Other runs sharing the journal create every chunk while this run waits on their claims:
    that is what a shared journal is for, so it is said at INFO, not as the warning for a
    journal that an earlier run had completed (which a later run does get)."""
    sim = Simulator(devices=300, groups=0, offline=0.0, seed=56)
    journal = RedisJournal(redis.url, prefix=_prefix(), poll=0.01)
    async with client_for(sim) as client:
        plan = _plan(client, sim)
        name = f"{journal.prefix}:journal:{{{plan.fingerprint}}}"
        for chunk in plan.chunks:
            redis.command("SET", f"{name}:claim:{chunk.index}", "another-run", "PX", "60000")

        async def fan_out() -> FanOutResult:
            return await client.fan_out(
                command="REBOOT", devices=sim.device_ids, chunk_size=100, journal=journal
            )

        with caplog.at_level(logging.INFO, logger="esper_cmds"):
            async with anyio.create_task_group() as tg:
                tg.start_soon(fan_out)
                with anyio.fail_after(10):
                    while b":1" not in redis.command("EXISTS", name):  # noqa: ASYNC110
                        await anyio.sleep(0.01)  # the run has opened (and begun) the journal
                for chunk in plan.chunks:
                    at = dt.datetime.now(dt.UTC).isoformat()
                    redis.command("HSET", name, f"c:{chunk.index}", f"r|{uuid.uuid4()}|{at}|other")
                    redis.command("DEL", f"{name}:claim:{chunk.index}")
            meanwhile = [(r.levelno, r.getMessage()) for r in caplog.records]
            caplog.clear()
            again = await fan_out()
        later = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert sim.stats.requests_created == 0
    assert [type(o) for o in again.outcomes] == [Resumed] * 3
    assert not [m for level, m in meanwhile if level >= logging.WARNING]
    assert [m for level, m in meanwhile if "other runs sharing journal" in m]
    assert [m for level, m in later if level == logging.WARNING and "earlier run" in m]
