"""Adaptive pacing when the server's limit is unknown (``rate_limit=None``) or set too high.

The load tests run on trio's `MockClock` with autojump: real tasks, real client, real token
bucket on the "server" side, but virtual time, so 30 s of 50 concurrent callers take about a
second and are exactly repeatable (asyncio has no virtual clock, so these are trio only; the
gate's code is the same on both loops and the other tests here run on both).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math

import anyio
import attrs
import httpx
import pytest
import trio
import trio.testing

from esper_cmds import EsperClient, RateChangeEvent, RateLimit, RateLimitError, TransportEvent

from .._support import (
    API_KEY,
    BASE_URL,
    ENTERPRISE_ID,
    REQUEST_ID,
    STATUS_URL,
    FakeClock,
    error_json,
    make_client,
    make_router,
    page_json,
)


class _TrioClock:
    """The client's clock on trio's (virtual) time."""

    def monotonic(self) -> float:
        return trio.current_time()

    def utcnow(self) -> dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=trio.current_time())


@attrs.define
class _Load:
    accepted: int = 0
    throttled: int = 0
    errors: int = 0
    final_rate: float = 0.0

    @property
    def share_429(self) -> float:
        return self.throttled / max(self.accepted + self.throttled, 1)


def _run_load(rate_limit: RateLimit | None, *, server_rate: float, seconds: float) -> _Load:
    """50 callers for `seconds` (virtual) against a server allowing `server_rate` calls/s with a
    burst of one second's worth, answering 429 + Retry-After (whole seconds) past it."""
    load = _Load()

    async def main() -> None:
        tokens, refilled = server_rate, trio.current_time()

        async def handler(request: httpx.Request) -> httpx.Response:
            nonlocal tokens, refilled
            await trio.sleep(0.02)  # the server's own latency
            now = trio.current_time()
            tokens = min(server_rate, tokens + (now - refilled) * server_rate)
            refilled = now
            if tokens >= 1.0:
                tokens -= 1.0
                load.accepted += 1
                return httpx.Response(200, json=page_json())
            load.throttled += 1
            retry_after = max(1, math.ceil((1.0 - tokens) / server_rate))
            headers = {"Retry-After": str(retry_after)}
            return httpx.Response(429, json=error_json(429), headers=headers)

        client = EsperClient(
            base_url=BASE_URL,
            api_key=API_KEY,
            enterprise_id=ENTERPRISE_ID,
            env={},
            transport=httpx.MockTransport(handler),
            rate_limit=rate_limit,
            clock=_TrioClock(),
            sleep=anyio.sleep,
        )

        async def caller() -> None:
            while True:
                try:
                    await client.commands.statuses(REQUEST_ID).first_page()
                except RateLimitError:
                    load.errors += 1

        async with client:
            with anyio.move_on_after(seconds):
                async with anyio.create_task_group() as tg:
                    for _ in range(50):
                        tg.start_soon(caller)
            load.final_rate = client.statistics().rate

    anyio.run(
        main,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    return load


def test_unknown_limit_converges_on_the_servers_rate() -> None:
    """``rate_limit=None`` against 30 calls/s, 50 callers, 30 s: ≥ 85 % of the allowed calls
    go through, < 5 % of responses are 429 (most of them the first burst, before anything is
    known), and no caller sees `RateLimitError`."""
    load = _run_load(None, server_rate=30.0, seconds=30.0)
    assert load.accepted >= 0.85 * 30 * 30
    assert load.share_429 < 0.05
    assert load.errors == 0
    assert 15.0 < load.final_rate < 45.0  # learnt, near the server's rate


def test_a_configured_rate_far_above_the_servers_comes_down() -> None:
    """A client configured for 10x the server's rate is brought down by its 429s: few 429s,
    none reaching callers."""
    load = _run_load(RateLimit(300, 1.0, burst=30), server_rate=30.0, seconds=30.0)
    assert load.accepted >= 0.7 * 30 * 30
    assert load.share_429 < 0.02
    assert load.errors == 0
    assert load.final_rate <= 60.0  # probing around 30, far below the configured 270


@pytest.mark.anyio
async def test_one_429_among_few_calls_only_pauses() -> None:
    """A lone 429 says nothing about the server's rate: the client pauses, but does not start
    pacing at a rate guessed from one call."""
    router, clock = make_router(), FakeClock()
    answers = iter([httpx.Response(429, json=error_json(429), headers={"Retry-After": "2"})])
    router.get(STATUS_URL).mock(
        side_effect=lambda request: next(answers, httpx.Response(200, json=page_json()))
    )
    events: list[TransportEvent] = []
    async with make_client(router, clock, events) as client:
        for _ in range(5):
            await client.commands.statuses(REQUEST_ID).first_page()
        assert client.statistics().rate == float("inf")
    assert not [e for e in events if isinstance(e, RateChangeEvent)]
    assert sum(clock.sleeps) == pytest.approx(2.0)


def test_paused_callers_are_released_gradually_at_the_learnt_rate() -> None:
    """60 callers at once against a server taking 10 calls/s: after the first burst's 429s the
    rest are not fired together when the pause ends, but one token at a time at the learnt
    rate (80 % of the accepted 10 calls/s)."""
    sent_at: list[float] = []

    async def main() -> None:
        async def handler(request: httpx.Request) -> httpx.Response:
            sent_at.append(trio.current_time())
            if 10 < len(sent_at) <= 20:
                return httpx.Response(429, json=error_json(429), headers={"Retry-After": "1"})
            return httpx.Response(200, json=page_json())

        events: list[TransportEvent] = []
        client = EsperClient(
            base_url=BASE_URL,
            api_key=API_KEY,
            enterprise_id=ENTERPRISE_ID,
            env={},
            transport=httpx.MockTransport(handler),
            rate_limit=None,
            clock=_TrioClock(),
            sleep=anyio.sleep,
            on_event=events.append,
            max_concurrency=20,
        )
        async with client, anyio.create_task_group() as tg:
            for _ in range(60):
                tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
        cuts = [e for e in events if isinstance(e, RateChangeEvent)]
        assert cuts[0].old_rate == float("inf")
        assert cuts[0].new_rate == pytest.approx(8.0)

    anyio.run(
        main,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    after = sent_at[20:]  # the 40 first sends and the 10 retries, after the pause
    assert len(after) == 50
    assert after[0] >= sent_at[0] + 1.0  # the pause was honoured
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert min(gaps) >= 1 / 8.0 - 1e-6  # never two at once: a token each
    assert after[-1] - after[0] >= 49 / 8.0 * 0.9


def _run_quota_server(style: str, *, seconds: float) -> _Load:
    """50 callers for `seconds` against a fixed window of 60 calls per 10 s that announces its
    quota in headers (`style` "ietf": ``RateLimit-Remaining`` and seconds to the reset;
    "github": ``X-RateLimit-Remaining`` and the reset as a Unix time)."""
    load = _Load()
    clock = _TrioClock()

    async def main() -> None:
        window, used = 0, 0

        async def handler(request: httpx.Request) -> httpx.Response:
            nonlocal window, used
            await trio.sleep(0.02)
            now = trio.current_time()
            if int(now // 10) != window:
                window, used = int(now // 10), 0
            reset_in = (window + 1) * 10 - now
            if used >= 60:
                load.throttled += 1
                headers = {"Retry-After": str(math.ceil(reset_in))}
                return httpx.Response(429, json=error_json(429), headers=headers)
            used += 1
            load.accepted += 1
            if style == "ietf":
                headers = {"RateLimit-Remaining": str(60 - used), "RateLimit-Reset": f"{reset_in}"}
            else:
                reset_at = clock.utcnow().timestamp() + reset_in
                headers = {
                    "X-RateLimit-Remaining": str(60 - used),
                    "X-RateLimit-Reset": f"{reset_at}",
                }
            return httpx.Response(200, json=page_json(), headers=headers)

        client = EsperClient(
            base_url=BASE_URL,
            api_key=API_KEY,
            enterprise_id=ENTERPRISE_ID,
            env={},
            transport=httpx.MockTransport(handler),
            rate_limit=None,
            clock=clock,
            sleep=anyio.sleep,
        )

        async def caller() -> None:
            while True:
                try:
                    await client.commands.statuses(REQUEST_ID).first_page()
                except RateLimitError:
                    load.errors += 1

        async with client:
            with anyio.move_on_after(seconds):
                async with anyio.create_task_group() as tg:
                    for _ in range(50):
                        tg.start_soon(caller)

    anyio.run(
        main,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    return load


@pytest.mark.parametrize("style", ["ietf", "github"])
def test_quota_headers_set_the_pace(style: str) -> None:
    """A server announcing its quota is never overrun: the window's remaining calls are spread
    over what is left of it, so (after the very first burst, sent before any header was seen)
    the whole quota is used and no 429 is ever answered."""
    load = _run_quota_server(style, seconds=30.0)
    assert load.throttled == 0
    assert load.errors == 0
    assert load.accepted >= 0.85 * 60 * 3
