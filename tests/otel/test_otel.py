"""`esper_cmds.otel`: spans and metrics asserted with the SDK's in-memory exporter and reader."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from esper_cmds import (
    ChunkRetry,
    Command,
    CommandSpec,
    EsperClient,
    FanOutProgress,
    GiveUpEvent,
    PauseEvent,
    RateChangeEvent,
    RateWaitEvent,
    RetryAction,
    RetryFailure,
    RetryPolicy,
    TransportEvent,
)
from esper_cmds.otel import EsperInstrumentation
from esper_cmds.simulator import Fault, FaultKind, FaultPlan, RealClock, Simulator
from esper_cmds.testing import FakeClock

from ..fanout.conftest import FAST
from ..watch.conftest import SimTime


class Telemetry:
    """An instrumentation on private providers, and what they collected."""

    def __init__(self, *, record_enterprise_id: bool = False) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.otel = EsperInstrumentation(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.reader]),
            record_enterprise_id=record_enterprise_id,
        )

    def named(self, name: str) -> list[ReadableSpan]:
        """Finished spans called `name`."""
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def metric(self, name: str) -> dict[tuple[tuple[str, Any], ...], float]:
        """Data points of metric `name` by sorted attributes (sums, or histogram counts)."""
        data = self.reader.get_metrics_data()
        out: dict[tuple[tuple[str, Any], ...], float] = {}
        if data is None:  # nothing recorded yet
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        key = tuple(sorted((point.attributes or {}).items()))
                        out[key] = float(getattr(point, "value", getattr(point, "count", 0)))
        return out

    def every_text(self) -> Iterator[str]:
        """Every attribute value and event attribute value of every span, as text."""
        for span in self.spans.get_finished_spans():
            for value in (span.attributes or {}).values():
                yield str(value)
            for event in span.events:
                for value in (event.attributes or {}).values():
                    yield str(value)


def attr(span: ReadableSpan, key: str) -> Any:
    """One attribute of a span (untyped, for comparisons)."""
    assert span.attributes is not None
    return span.attributes.get(key)


def _client(sim: Simulator, telemetry: Telemetry, **options: Any) -> EsperClient:
    """An instrumented client on `sim`, on instant fake time unless `options` give other."""
    fake = FakeClock()
    settings: dict[str, Any] = {
        "base_url": sim.base_url,
        "api_key": sim.api_key,
        "enterprise_id": sim.enterprise_id,
        "transport": sim.transport,
        "rate_limit": None,
        "clock": fake,
        "sleep": fake.sleep,
    }
    return telemetry.otel.client(**(settings | options))


@pytest.mark.anyio
async def test_fan_out_under_faults_spans_events_and_metrics() -> None:
    """A fan-out whose creates meet a dropped answer, a 500 before storing and a 429: one
    fan-out span with a chunk child per chunk (the reconciled one marked), the creates beneath
    it with the retry (its resend count) and the pause as events, the metrics counted, and
    neither the key nor the enterprise id anywhere."""
    sim = Simulator(
        devices=250,
        offline=0.0,
        seed=7,
        faults=FaultPlan(
            script=[
                Fault(FaultKind.DROP_AFTER_STORE),
                Fault(FaultKind.ERROR_BEFORE_STORE),
                Fault(FaultKind.THROTTLE, seconds=2),
            ],
            endpoints={"create"},
        ),
    )
    telemetry = Telemetry()
    seen: list[TransportEvent] = []
    async with _client(sim, telemetry, on_event=seen.append) as client:
        result = await client.fan_out(
            command="REBOOT", devices=sim.device_ids, chunk_size=50, concurrency=1, retry=FAST
        )
    assert result.ok
    assert all(sim.stats.commands[d, "REBOOT"] == 1 for d in sim.device_ids)
    assert seen  # the user's own hook still runs

    [fan_out] = telemetry.named("esper.fan_out")
    assert fan_out.attributes is not None
    assert fan_out.attributes["esper.fan_out.chunks"] == 5
    assert attr(fan_out, "esper.fan_out.reconciled") == result.totals.reconciled >= 1
    chunks = telemetry.named("esper.fan_out.chunk")
    assert sorted(attr(c, "esper.chunk.index") for c in chunks) == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert all(c.parent is not None and c.parent.span_id == fan_out.context.span_id for c in chunks)
    reconciled = [c for c in chunks if c.attributes and c.attributes["esper.chunk.reconciled"]]
    assert len(reconciled) == result.totals.reconciled
    assert all(
        c.attributes and c.attributes["esper.chunk.outcome"] == "reconciled" for c in reconciled
    )

    creates = telemetry.named("esper.commands.create")
    assert all(
        c.parent is not None and c.parent.span_id == fan_out.context.span_id for c in creates
    )
    retries = [e for c in creates for e in c.events if e.name == "esper.retry"]
    assert retries
    assert all(dict(e.attributes or {})["esper.resend_count"] == 1 for e in retries)
    assert any(e.attributes and e.attributes["esper.failure"] == "status_429" for e in retries)
    assert any(e.name == "esper.pause" for c in creates for e in c.events)
    assert all(
        "{enterprise_id}" in str(e.attributes["esper.path"]) for e in retries if e.attributes
    )

    assert sum(telemetry.metric("esper.retries").values()) == len(retries)
    assert sum(telemetry.metric("esper.pauses").values()) == 1
    assert telemetry.metric("esper.calls")[(("esper.operation", "fan_out"),)] == 1
    texts = list(telemetry.every_text())
    assert not any(sim.api_key in t or str(sim.enterprise_id) in t for t in texts)


@pytest.mark.anyio
async def test_a_resumed_fan_out_marks_its_chunks(tmp_path: Path) -> None:
    """Run again on a finished journal: every chunk span says resumed."""
    sim = Simulator(devices=120, offline=0.0, seed=8)
    telemetry = Telemetry()
    journal = tmp_path / "reboot.journal"
    async with _client(sim, telemetry) as client:
        await client.fan_out(
            command="REBOOT", devices=sim.device_ids, chunk_size=50, journal=journal
        )
        telemetry.spans.clear()
        again = await client.fan_out(
            command="REBOOT", devices=sim.device_ids, chunk_size=50, journal=journal
        )
    assert again.totals.resumed == 3
    chunks = telemetry.named("esper.fan_out.chunk")
    assert [c.attributes and c.attributes["esper.chunk.resumed"] for c in chunks] == [True] * 3
    [fan_out] = telemetry.named("esper.fan_out")
    assert fan_out.attributes
    assert fan_out.attributes["esper.fan_out.journal"] is True
    assert telemetry.named("esper.commands.create") == []


@pytest.mark.anyio
async def test_listings_and_a_watch() -> None:
    """A listing is one span counting its items; a watch is one span with a round child per
    polling round, the status reads inside it."""
    sim = Simulator(devices=40, offline=0.0, seed=9, step_seconds=1.0)
    time = SimTime(sim)
    telemetry = Telemetry()
    async with _client(sim, telemetry, clock=time, sleep=time.sleep) as client:
        request = await client.commands.create(command="LOCK", devices=sim.device_ids)
        statuses = [s async for s in client.commands.statuses(request.id, page_size=15)]
        pages = [p async for p in client.commands.list(page_size=5).pages()]
        first = await client.commands.list().first_page()
        some = await client.commands.statuses(request.id).to_list(max_items=3)
        async with client.watch([request], timeout=60, interval=1.0, jitter=0) as changes:
            await changes.wait()
    assert len(statuses) == 40
    assert len(pages) == 1
    assert first.count == 1
    assert len(some) == 3
    listing = telemetry.named("esper.commands.statuses")
    assert [s.attributes and s.attributes.get("esper.items") for s in listing][:2] == [40, 3]
    assert all(
        s.attributes and s.attributes["esper.request_id"] == str(request.id) for s in listing
    )
    [watch] = telemetry.named("esper.watch")
    assert watch.attributes
    assert watch.attributes["esper.watch.done"] is True
    rounds = telemetry.named("esper.watch.round")
    assert len(rounds) == watch.attributes["esper.watch.rounds"]
    assert all(r.parent is not None and r.parent.span_id == watch.context.span_id for r in rounds)
    assert (
        sum(attr(r, "esper.watch.round.calls") for r in rounds)
        == (watch.attributes["esper.watch.calls"])
    )


@pytest.mark.anyio
async def test_a_failed_listing_is_an_error_span() -> None:
    """A 404 while iterating ends the listing's span with an error status and the exception."""
    sim = Simulator(devices=5, seed=1)
    telemetry = Telemetry()
    async with _client(sim, telemetry) as client:
        with pytest.raises(Exception, match=r"(?i)not found"):
            async for _ in client.commands.statuses(uuid.uuid4()):
                pass
    [span] = telemetry.named("esper.commands.statuses")
    assert not span.status.is_ok
    assert any(e.name == "exception" for e in span.events)


@pytest.mark.anyio
async def test_the_enterprise_id_only_when_opted_in() -> None:
    """With ``record_enterprise_id=True`` spans carry it; rate-limit waits reach spans and
    metrics."""
    sim = Simulator(devices=5, seed=1)
    telemetry = Telemetry(record_enterprise_id=True)
    async with _client(sim, telemetry) as client:
        await client.commands.create(command="REBOOT", devices=sim.device_ids)
        with telemetry.otel.tracer.start_as_current_span("outer"):
            telemetry.otel.on_event(RateWaitEvent(seconds=2.5, rate=10.0))
    [create] = telemetry.named("esper.commands.create")
    assert create.attributes
    assert create.attributes["esper.enterprise_id"] == str(sim.enterprise_id)
    [outer] = telemetry.named("outer")
    assert [e.name for e in outer.events] == ["esper.rate_limit.wait"]
    assert sum(telemetry.metric("esper.rate_limit.waits").values()) == 1


@pytest.mark.anyio
async def test_a_view_is_traced_with_its_own_policy() -> None:
    """`with_options` on an instrumented client: the view's creates and fan-outs are traced, and
    its fan-out goes through the view (its policy), not the original client."""
    sim = Simulator(devices=20, offline=0.0, seed=3)
    telemetry = Telemetry()
    async with _client(sim, telemetry) as client:
        view = client.with_options(retry=RetryPolicy.never())
        await view.commands.create(command="REBOOT", devices=sim.device_ids[:5])
        result = await view.fan_out(command="LOCK", devices=sim.device_ids)
    assert result.ok
    assert len(telemetry.named("esper.commands.create")) == 2
    assert len(telemetry.named("esper.fan_out")) == 1
    assert view.commands is not client.commands


def test_every_event_kind_reaches_the_current_span_and_the_metrics() -> None:
    """Give-ups and rate changes too: span events, counters, and the pace gauge (which reports
    nothing while the rate is unknown or unlimited)."""
    telemetry = Telemetry()
    otel = telemetry.otel
    assert telemetry.metric("esper.rate_limit.rate") == {}
    with otel.tracer.start_as_current_span("outer"):
        otel.on_event(
            GiveUpEvent(
                method="GET",
                path="/api/x",
                attempt=3,
                failure=RetryFailure.STATUS_500,
                action=RetryAction.RETRY,
            )
        )
        otel.on_event(RateChangeEvent(old_rate=float("inf"), new_rate=12.5))
        otel.on_event(PauseEvent(seconds=4.0, status_code=429, retry_after=4.0))
    [outer] = telemetry.named("outer")
    assert [e.name for e in outer.events] == [
        "esper.give_up",
        "esper.rate_limit.change",
        "esper.pause",
    ]
    assert sum(telemetry.metric("esper.give_ups").values()) == 1
    assert list(telemetry.metric("esper.rate_limit.rate").values()) == [12.5]
    assert sum(telemetry.metric("esper.pause.duration").values()) == 1


@pytest.mark.anyio
async def test_a_failed_chunk_is_an_error_and_user_callbacks_still_run() -> None:
    """A chunk the server refuses every time: its chunk span and the fan-out span are errors
    (the enterprise id scrubbed from the recorded exception); an async `on_progress` still runs;
    walking a listing back is one span too."""
    sim = Simulator(
        devices=60,
        offline=0.0,
        seed=4,
        faults=FaultPlan(probabilities={FaultKind.HTML_502: 1.0}, endpoints={"create"}),
    )
    telemetry = Telemetry()
    called: list[int] = []

    async def progress(p: FanOutProgress) -> None:
        called.append(p.done)

    async with _client(sim, telemetry, retry=RetryPolicy.never()) as client:
        result = await client.fan_out(
            command="REBOOT",
            devices=sim.device_ids,
            retry=ChunkRetry(max_attempts=1, settle=0),
            on_progress=progress,
        )
        pager = client.commands.list(page_size=1)
        assert "AsyncPager" in repr(pager)
        first = await pager.first_page()
        assert [p async for p in pager.walk_back(first)] == []
    assert not result.ok
    assert called == [1]
    [fan_out] = telemetry.named("esper.fan_out")
    assert not fan_out.status.is_ok
    [chunk] = telemetry.named("esper.fan_out.chunk")
    assert attr(chunk, "esper.chunk.outcome") == "failed"
    assert not chunk.status.is_ok
    assert not any(str(sim.enterprise_id) in t for t in telemetry.every_text())
    assert any(e.name == "exception" for e in chunk.events)


@pytest.mark.anyio
async def test_a_watch_on_a_real_time_client_keeps_its_sleep() -> None:
    """A client on real time (no `clock` or `sleep` given): an instrumented watch still sleeps
    for real between rounds (10 ms rounds against a simulator 1000x faster than life) and
    counts them, and the client's own `sleep` is left as it was."""
    sim = Simulator(devices=10, offline=0.0, seed=6, clock=RealClock(speed=1000))
    telemetry = Telemetry()
    async with _client(sim, telemetry, clock=None, sleep=None) as client:
        before = client.sleep
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids)
        async with client.watch(
            [request], timeout=10, interval=0.01, max_interval=0.01, jitter=0
        ) as changes:
            summary = await changes.wait()
        assert client.sleep is before
    assert summary.done
    [watch] = telemetry.named("esper.watch")
    assert len(telemetry.named("esper.watch.round")) == attr(watch, "esper.watch.rounds") >= 1


@pytest.mark.anyio
async def test_creates_and_fan_outs_from_a_command_spec() -> None:
    """A `CommandSpec` given as ``spec=``: the create's span and each chunk's create name the
    spec's command and count the chunk's targets; the fan-out's span names it too."""
    sim = Simulator(devices=30, offline=0.0, seed=5)
    telemetry = Telemetry()
    spec = CommandSpec("set_brightness_scale", command_args={"brightness_value": 30})
    async with _client(sim, telemetry) as client:
        await client.commands.create(spec=spec, devices=sim.device_ids[:3])
        telemetry.spans.clear()
        result = await client.fan_out(spec=spec, devices=sim.device_ids, chunk_size=20)
    assert result.ok
    assert all(sim.stats.commands[d, "SET_BRIGHTNESS_SCALE"] == 1 for d in sim.device_ids[3:])
    [fan_out] = telemetry.named("esper.fan_out")
    assert attr(fan_out, "esper.command") == Command.SET_BRIGHTNESS_SCALE.value
    creates = telemetry.named("esper.commands.create")
    assert sorted(attr(c, "esper.devices") for c in creates) == [10, 20]
    assert {attr(c, "esper.command") for c in creates} == {"SET_BRIGHTNESS_SCALE"}
    assert {attr(c, "esper.request_id") for c in creates} == {
        str(o.request.id) for o in result.created
    }


@pytest.mark.anyio
async def test_a_fan_outs_waits_during_a_watch_are_not_rounds() -> None:
    """A fan-out on the same client inside a watch's block, whose chunk is retried after a
    backoff: its sleeps (on the client's own `sleep`) neither end nor open a round, so the
    round spans still match the watch's own count, and the client's `sleep` is untouched."""
    sim = Simulator(
        devices=20,
        offline=0.0,
        seed=2,
        step_seconds=1.0,
        faults=FaultPlan(
            script=[Fault(None), Fault(FaultKind.HTML_502), Fault(FaultKind.HTML_502)],
            endpoints={"create"},
        ),
    )
    time = SimTime(sim)
    telemetry = Telemetry()
    async with _client(sim, telemetry, clock=time, sleep=time.sleep) as client:
        request = await client.commands.create(command="REBOOT", devices=sim.device_ids[:10])
        async with client.watch([request], timeout=60, interval=1.0, jitter=0) as changes:
            sleeps = len(time.sleeps)
            result = await client.fan_out(
                command="LOCK", devices=sim.device_ids[10:], retry=ChunkRetry(max_attempts=3)
            )
            fan_out_sleeps = len(time.sleeps) - sleeps
            summary = await changes.wait()
        assert client.sleep == time.sleep
    assert result.ok
    [outcome] = result.outcomes
    assert getattr(outcome, "attempts", 0) == 3
    assert fan_out_sleeps >= 2  # the fan-out's backoff, while the watch was open
    assert summary.done
    rounds = telemetry.named("esper.watch.round")
    assert len(rounds) == summary.rounds
