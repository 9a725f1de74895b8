"""The client-wide gate: one 429 pauses everyone, pacing, adaptation, the concurrency cap."""

from __future__ import annotations

import itertools

import anyio
import anyio.lowlevel
import httpx
import pytest

from esper_cmds._ratelimit import RateChangeEvent, RateLimit, TransportEvent

from .._support import (
    REQUEST_ID,
    STATUS_URL,
    FakeClock,
    error_json,
    make_client,
    make_router,
    page_json,
)


@pytest.mark.anyio
async def test_one_429_pauses_every_request_of_the_client() -> None:
    """After a 429 with Retry-After 5, no request of the client is sent for 5 s: one 429 only."""
    router, clock = make_router(), FakeClock()
    sent_at: list[float] = []

    def respond(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.monotonic())
        if len(sent_at) == 1:
            return httpx.Response(429, json=error_json(429), headers={"Retry-After": "5"})
        return httpx.Response(200, json=page_json())

    router.get(STATUS_URL).mock(side_effect=respond)
    start = clock.monotonic()
    async with (
        make_client(router, clock, max_concurrency=4) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(40):
            tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
    assert len(sent_at) == 41  # 40 calls, one of them retried once
    assert all(t >= start + 5 for t in sent_at[1:])


@pytest.mark.anyio
async def test_token_bucket_spaces_calls() -> None:
    """With 10 calls/s and no burst, 30 concurrent calls take 2.9 s of (fake) time, evenly."""
    router, clock = make_router(), FakeClock()
    sent_at: list[float] = []

    def respond(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.monotonic())
        return httpx.Response(200, json=page_json())

    router.get(STATUS_URL).mock(side_effect=respond)
    limit = RateLimit(calls=11, per_seconds=1.0, burst=1)
    async with (
        make_client(router, clock, rate_limit=limit) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(30):
            tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert min(gaps) == pytest.approx(0.1)
    assert sent_at[-1] - sent_at[0] == pytest.approx(2.9)


@pytest.mark.anyio
async def test_burst_goes_at_once_then_paces() -> None:
    """A bucket with burst 5 sends five calls without waiting, then one per 1/rate."""
    router, clock = make_router(), FakeClock()
    sent_at: list[float] = []

    def respond(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.monotonic())
        return httpx.Response(200, json=page_json())

    router.get(STATUS_URL).mock(side_effect=respond)
    limit = RateLimit(calls=15, per_seconds=1.0, burst=5)  # refills at 10/s
    async with make_client(router, clock, rate_limit=limit) as client:
        for _ in range(8):
            await client.commands.statuses(REQUEST_ID).first_page()
    assert sent_at[:5] == [sent_at[0]] * 5
    assert sent_at[7] - sent_at[0] == pytest.approx(0.3)


@pytest.mark.anyio
async def test_rate_is_cut_once_per_episode_then_recovers() -> None:
    """429s of requests sent before the cut do not cut again; a later 429 does; quiet restores."""
    router, clock = make_router(), FakeClock()
    arrived = 0
    release = anyio.Event()

    async def respond(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        if arrived <= 3:  # three requests in flight together, all throttled
            if arrived == 3:
                release.set()
            await release.wait()
            return httpx.Response(429, json=error_json(429), headers={"Retry-After": "1"})
        if arrived == 7:  # sent after the cut: a new episode
            return httpx.Response(429, json=error_json(429), headers={"Retry-After": "1"})
        return httpx.Response(200, json=page_json())

    router.get(STATUS_URL).mock(side_effect=respond)
    events: list[TransportEvent] = []
    limit = RateLimit(calls=103, per_seconds=1.0, burst=3, recover_after=30.0)
    async with make_client(router, clock, events, rate_limit=limit) as client:
        async with anyio.create_task_group() as tg:  # ends before the asserts
            for _ in range(3):
                tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
        cuts = [e for e in events if isinstance(e, RateChangeEvent) and e.new_rate < e.old_rate]
        assert [(c.old_rate, c.new_rate) for c in cuts] == [(100.0, 50.0)]
        await client.commands.statuses(REQUEST_ID).first_page()  # arrival 7 -> 429 -> retried
        cuts = [e for e in events if isinstance(e, RateChangeEvent) and e.new_rate < e.old_rate]
        # The second cut halves the rate of the moment (probed up 3 % while the retry queued).
        assert [c.new_rate for c in cuts] == [50.0, pytest.approx(51.5 / 2)]
        cut = client.statistics().rate
        assert cut < 30.0
        clock.advance(31.0)
        await client.commands.statuses(REQUEST_ID).first_page()
        assert client.statistics().rate == pytest.approx(cut * 1.25)
        for _ in range(10):
            clock.advance(31.0)
            await client.commands.statuses(REQUEST_ID).first_page()
        assert client.statistics().rate == 100.0


@pytest.mark.anyio
async def test_concurrency_limit_caps_requests_in_flight() -> None:
    """200 concurrent calls never have more than `max_concurrency` requests in flight."""
    router, clock = make_router(), FakeClock()
    in_flight = peak = 0

    async def respond(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        in_flight -= 1
        return httpx.Response(200, json=page_json())

    router.get(STATUS_URL).mock(side_effect=respond)
    async with (
        make_client(router, clock, max_concurrency=7) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(200):
            tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
    assert peak == 7


@pytest.mark.anyio
async def test_default_concurrency_follows_the_pool() -> None:
    """Without `max_concurrency`, the limit is the pool's ``max_connections``."""
    router, clock = make_router(), FakeClock()
    limits = httpx.Limits(max_connections=13)
    async with make_client(router, clock, limits=limits) as client:
        assert client.statistics().max_concurrency == 13
