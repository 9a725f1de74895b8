"""Backoff, Retry-After, the cap, the budget, attempts, per-call policies and cancellation."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging

import anyio
import httpx
import pytest

from esper_cmds import AmbiguousCreateError, APITimeoutError, RateLimitError, ServerError
from esper_cmds._ratelimit import PauseEvent, TransportEvent
from esper_cmds._retry import GiveUpEvent, RetryAction, RetryEvent, RetryFailure, RetryPolicy

from .._support import (
    API_KEY,
    COMMANDS_URL,
    DEVICE,
    REQUEST_ID,
    STATUS_URL,
    FakeClock,
    error_json,
    make_client,
    make_router,
    page_json,
    reboot_request_json,
)


def ok_page() -> httpx.Response:
    """An empty page of statuses."""
    return httpx.Response(200, json=page_json())


def throttled(retry_after: str | None) -> httpx.Response:
    """A 429, with the given Retry-After header if any."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(429, json=error_json(429, "slow down"), headers=headers)


@pytest.mark.anyio
async def test_retry_after_seconds_is_waited_exactly() -> None:
    """A 429 with ``Retry-After: 7`` is resent after exactly 7 s (by the fake clock)."""
    router, clock = make_router(), FakeClock()
    route = router.get(STATUS_URL).mock(side_effect=[throttled("7"), ok_page()])
    async with make_client(router, clock) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
    assert route.call_count == 2
    assert sum(clock.sleeps) == pytest.approx(7.0)


@pytest.mark.anyio
async def test_retry_after_http_date_is_waited_until() -> None:
    """A 429 whose Retry-After is an HTTP date is resent once that moment has come."""
    router, clock = make_router(), FakeClock()
    later = email.utils.format_datetime(clock.utcnow() + dt.timedelta(seconds=25), usegmt=True)
    route = router.get(STATUS_URL).mock(side_effect=[throttled(later), ok_page()])
    async with make_client(router, clock) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
    assert route.call_count == 2
    assert sum(clock.sleeps) == pytest.approx(25.0)


@pytest.mark.anyio
async def test_retry_after_above_cap_raises_with_retry_after() -> None:
    """A wait longer than the cap is not shortened: the 429 is raised with ``retry_after``."""
    router, clock = make_router(), FakeClock()
    route = router.get(STATUS_URL).mock(side_effect=[throttled("600"), ok_page()])
    async with make_client(router, clock, retry=RetryPolicy(max_retry_after=120)) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.commands.statuses(REQUEST_ID).first_page()
        assert caught.value.retry_after == 600.0
        assert route.call_count == 1
        assert clock.sleeps == []
        # The whole client is paused: the next call fails at once without being sent.
        with pytest.raises(RateLimitError, match="paused") as again:
            await client.commands.statuses(REQUEST_ID).first_page()
        assert again.value.retry_after == pytest.approx(600.0)
        assert route.call_count == 1


@pytest.mark.anyio
async def test_429_without_retry_after_backs_off() -> None:
    """A bare 429 pauses the client for the backoff ceiling of that attempt."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(side_effect=[throttled(None), ok_page()])
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    async with make_client(router, clock, retry=policy) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
    assert sum(clock.sleeps) == pytest.approx(0.5)


@pytest.mark.anyio
async def test_attempts_run_out() -> None:
    """A read failing every time is sent `max_attempts` times, then its error is raised."""
    router, clock = make_router(), FakeClock()
    route = router.get(STATUS_URL).mock(return_value=httpx.Response(503, text="busy"))
    async with make_client(router, clock, retry=RetryPolicy(max_attempts=4)) as client:
        with pytest.raises(ServerError):
            await client.commands.statuses(REQUEST_ID).first_page()
    assert route.call_count == 4
    assert len(clock.sleeps) == 3


@pytest.mark.anyio
async def test_budget_stops_retrying() -> None:
    """No retry starts once the budget would be exceeded, however many attempts remain."""
    router, clock = make_router(), FakeClock()
    route = router.get(STATUS_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    policy = RetryPolicy(max_attempts=100, base_delay=4.0, max_delay=4.0, budget=10.0)
    # random=1: every backoff is the full 4 s.
    async with make_client(router, clock, retry=policy, random=lambda: 1.0) as client:
        with pytest.raises(APITimeoutError):
            await client.commands.statuses(REQUEST_ID).first_page()
    assert clock.sleeps == [4.0, 4.0]  # a third would end at 12 s > 10 s
    assert route.call_count == 3


@pytest.mark.anyio
async def test_retry_after_beyond_budget_raises() -> None:
    """A Retry-After under the cap but past the call's budget raises instead of waiting."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(side_effect=[throttled("50"), ok_page()])
    async with make_client(router, clock, retry=RetryPolicy(budget=30)) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.commands.statuses(REQUEST_ID).first_page()
    assert caught.value.retry_after == 50.0


@pytest.mark.anyio
async def test_jitter_stays_within_bounds_in_the_transport() -> None:
    """Each real backoff the transport sleeps lies in ``[0, min(cap, base * 2**(n-1))]``."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(side_effect=httpx.ConnectError("down"))
    policy = RetryPolicy(max_attempts=8, base_delay=0.25, max_delay=2.0, budget=1000)
    async with make_client(router, clock, retry=policy) as client:
        for _ in range(20):
            clock.sleeps.clear()
            with pytest.raises(Exception, match="ConnectError"):
                await client.commands.statuses(REQUEST_ID).first_page()
            assert len(clock.sleeps) == 7
            for n, delay in enumerate(clock.sleeps, start=1):
                assert 0.0 <= delay <= min(2.0, 0.25 * 2 ** (n - 1))


@pytest.mark.anyio
async def test_per_call_policy_overrides_the_client() -> None:
    """`with_options(retry=...)` replaces the client's policy for the calls made through it."""
    router, clock = make_router(), FakeClock()
    route = router.get(STATUS_URL).mock(
        side_effect=[httpx.Response(502), httpx.Response(502), ok_page()]
    )
    async with make_client(router, clock) as client:
        once = client.with_options(retry=RetryPolicy.never())
        with pytest.raises(ServerError):
            await once.commands.statuses(REQUEST_ID).first_page()
        assert route.call_count == 1
        await client.commands.statuses(REQUEST_ID).first_page()
        assert route.call_count == 3


@pytest.mark.anyio
async def test_per_client_policy_can_retry_a_cell() -> None:
    """A client whose table says retry 501 on reads does so; the default does not."""
    router, clock = make_router(), FakeClock()
    route = router.get(STATUS_URL).mock(side_effect=[httpx.Response(501), ok_page()])
    policy = RetryPolicy(read_rules={RetryFailure.OTHER_5XX: RetryAction.RETRY})
    async with make_client(router, clock, retry=policy) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
    assert route.call_count == 2


@pytest.mark.anyio
async def test_ambiguous_create_is_sent_exactly_once_even_with_generous_retries() -> None:
    """However many attempts are allowed, a create that timed out reading is never resent."""
    router, clock = make_router(), FakeClock()
    route = router.post(COMMANDS_URL).mock(
        side_effect=[httpx.ReadTimeout("lost"), httpx.Response(201, json=reboot_request_json())]
    )
    async with make_client(router, clock, retry=RetryPolicy(max_attempts=10)) as client:
        with pytest.raises(AmbiguousCreateError) as caught:
            await client.commands.create(command="REBOOT", devices=[DEVICE])
    assert route.call_count == 1
    assert caught.value.payload["devices"] == [DEVICE]
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_pre_encoded_create_sends_those_bytes_and_reports_the_payload() -> None:
    """A create's body is encoded once and sent as the same bytes, as JSON, on every attempt;
    an ambiguous outcome still reports the payload as a mapping."""
    router, clock = make_router(), FakeClock()
    route = router.post(COMMANDS_URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("lost")]
    )
    async with make_client(router, clock) as client:
        with pytest.raises(AmbiguousCreateError) as caught:
            await client.commands.create(command="REBOOT", devices=[DEVICE])
    assert route.call_count == 2  # the connect error was retried, the read timeout was not
    encoded = route.calls[0].request.content
    payload = json.loads(encoded)
    assert payload["devices"] == [DEVICE]
    for call in route.calls:
        assert call.request.content == encoded
        assert call.request.headers["Content-Type"] == "application/json"
        assert call.request.headers["Content-Length"] == str(len(encoded))
    assert caught.value.payload == payload


@pytest.mark.anyio
async def test_cancellation_mid_backoff_propagates_at_once() -> None:
    """Cancelling a call while it sleeps between attempts ends it at once, slot released."""
    router = make_router()
    route = router.get(STATUS_URL).mock(return_value=httpx.Response(503))
    sleeping = anyio.Event()

    async def sleep_forever(seconds: float) -> None:
        sleeping.set()
        await anyio.sleep_forever()

    clock = FakeClock()
    async with make_client(router, clock, sleep=sleep_forever, max_concurrency=1) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
                await sleeping.wait()
                tg.cancel_scope.cancel()
        assert route.call_count == 1
        assert client.statistics().in_flight == 0


@pytest.mark.anyio
async def test_cancellation_in_flight_releases_the_slot() -> None:
    """A call cancelled while its request is in flight frees its slot for the next caller."""
    router, clock = make_router(), FakeClock()
    started = anyio.Event()
    calls = 0

    async def hang_first(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            started.set()
            await anyio.sleep_forever()
        return ok_page()

    router.get(STATUS_URL).mock(side_effect=hang_first)
    async with make_client(router, clock, max_concurrency=1) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.commands.statuses(REQUEST_ID).first_page)
                await started.wait()
                tg.cancel_scope.cancel()
            assert client.statistics().in_flight == 0
            page = await client.commands.statuses(REQUEST_ID).first_page()
    assert page.count == 0
    assert calls == 2


@pytest.mark.anyio
async def test_events_and_logs_describe_retries_and_pauses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hook sees RetryEvent, PauseEvent and GiveUpEvent; logs say the same, keyless."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(
        side_effect=[httpx.Response(502), throttled("3"), httpx.Response(404, json=error_json(404))]
    )
    events: list[TransportEvent] = []
    caplog.set_level(logging.DEBUG, logger="esper_cmds")
    async with make_client(router, clock, events) as client:
        with pytest.raises(Exception, match="404"):
            await client.commands.statuses(REQUEST_ID).first_page()
    kinds = [type(e) for e in events]
    assert kinds == [RetryEvent, PauseEvent, RetryEvent, GiveUpEvent]
    first = events[0]
    assert isinstance(first, RetryEvent)
    assert first.failure is RetryFailure.STATUS_502
    assert first.attempt == 1
    assert first.method == "GET"
    assert first.path.endswith("/status/")
    pause = events[1]
    assert isinstance(pause, PauseEvent)
    assert pause.seconds == 3.0
    assert pause.retry_after == 3.0
    messages = [r.getMessage() for r in caplog.records]
    assert any("retrying GET" in m and "status_502" in m for m in messages)
    assert any("pausing every request" in m for m in messages)
    assert all(API_KEY not in m for m in messages)


@pytest.mark.anyio
async def test_a_broken_hook_does_not_break_requests(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in the metrics hook is logged and ignored; the call still succeeds."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(side_effect=[httpx.Response(500), ok_page()])

    def broken(event: TransportEvent) -> None:
        raise RuntimeError("metrics backend down")

    async with make_client(router, clock, on_event=broken) as client:
        page = await client.commands.statuses(REQUEST_ID).first_page()
    assert page.count == 0
    assert any("on_event hook raised" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_with_options_changes_the_policy_and_shares_the_gate() -> None:
    """`with_options(retry=...)` sends once where the client retries, through the same gate."""
    router, clock = make_router(), FakeClock()
    route = router.get(STATUS_URL).mock(
        side_effect=[httpx.Response(503, text="busy"), ok_page(), httpx.Response(503, text="busy")]
    )
    async with make_client(router, clock) as client:
        await client.commands.statuses(REQUEST_ID).first_page()  # 503 then 200: retried
        assert route.call_count == 2
        once = client.with_options(retry=RetryPolicy.never())
        with pytest.raises(ServerError):
            await once.commands.statuses(REQUEST_ID).first_page()
    assert route.call_count == 3


@pytest.mark.anyio
async def test_a_view_shares_the_clients_429_pause() -> None:
    """A 429 heard through a `with_options` view pauses the client it came from."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(side_effect=[throttled("30"), ok_page()])
    async with make_client(router, clock) as client:
        once = client.with_options(retry=RetryPolicy.never())
        with pytest.raises(RateLimitError):
            await once.commands.statuses(REQUEST_ID).first_page()
        assert client.statistics().paused_for == pytest.approx(30.0)
        assert once.statistics() == client.statistics()
        await client.commands.statuses(REQUEST_ID).first_page()  # waits the pause out
    assert clock.sleeps == [pytest.approx(30.0)]
