"""Visible waiting: a call held back by the client's own rate limit says so (event and log)."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest

from esper_cmds import RateWaitEvent
from esper_cmds._ratelimit import SLOW_WAIT, RateLimit, TransportEvent

from .._support import REQUEST_ID, STATUS_URL, FakeClock, make_client, make_router, page_json


@pytest.mark.anyio
async def test_calls_waiting_past_the_threshold_report_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """30 concurrent calls at 10 calls/s: each one that waited more than `SLOW_WAIT` for its turn
    emits a `RateWaitEvent` with its wait and the pace, and logs a debug line; the others don't."""
    router, clock = make_router(), FakeClock()
    sent_at: list[float] = []

    def respond(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.monotonic())
        return httpx.Response(200, json=page_json())

    router.get(STATUS_URL).mock(side_effect=respond)
    events: list[TransportEvent] = []
    limit = RateLimit(calls=11, per_seconds=1.0, burst=1, adaptive=False)
    start = clock.monotonic()
    caplog.set_level(logging.DEBUG, logger="esper_cmds")
    async with (
        make_client(router, clock, events, rate_limit=limit) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(30):
            tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
    waits = [event for event in events if isinstance(event, RateWaitEvent)]
    slow = [t - start for t in sent_at if t - start > SLOW_WAIT]
    assert len(slow) in (19, 20)  # sent at 1.1 s .. 2.9 s (and 1.0 s, as floats add up)
    assert sorted(e.seconds for e in waits) == pytest.approx(sorted(slow))
    assert all(e.rate == pytest.approx(10.0) for e in waits)
    lines = [r for r in caplog.records if "waited" in r.getMessage()]
    assert len(lines) == len(slow)
    assert all(r.levelno == logging.DEBUG for r in lines)


@pytest.mark.anyio
async def test_no_report_without_waiting() -> None:
    """Calls that never wait on the limit (no pacing) report nothing."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(return_value=httpx.Response(200, json=page_json()))
    events: list[TransportEvent] = []
    async with make_client(router, clock, events) as client:
        for _ in range(5):
            await client.commands.statuses(REQUEST_ID).first_page()
    assert events == []
