"""Nothing but an `EsperError` leaves a call, and every call is bounded in time, size and pause.

Each test here failed on the main of 2026-11-28 (issue 10): a deeply nested body escaped as
`RecursionError`, a corrupt gzip body as `httpx.DecodingError`, a body dripped a byte at a time
outlived every timeout, a 400 MB body was read whole, ``Retry-After: 1e308`` stopped the client
for good and ``Retry-After: 0`` let hundreds of callers retry at once.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import time
import uuid
import zlib
from typing import Any

import anyio
import httpx
import pytest

from esper_cmds import (
    AmbiguousCreateError,
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ClientClosedError,
    CommandSpec,
    CommandType,
    EsperClient,
    MalformedResponseError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ScheduleArgs,
    ServerError,
    ValidationError,
)
from esper_cmds._converter import encode_create
from esper_cmds._ratelimit import MAX_PAUSE, PauseEvent, TransportEvent
from esper_cmds._transport import Transport

from .._support import (
    API_KEY,
    BASE_URL,
    DEVICE,
    ENTERPRISE_ID,
    REQUEST_ID,
    STATUS_URL,
    FakeClock,
    error_json,
    make_client,
    make_router,
    page_json,
)
from ._raw_server import drip, flood, serving

DEEP = b"[" * 100_000 + b"]" * 100_000


def answer(status: int, content: bytes, **headers: str) -> httpx.Response:
    """A response with exactly these bytes on the wire, decoded only when read (as from a
    socket: ``content=`` would make httpx decode them on construction)."""
    return httpx.Response(status, stream=httpx.ByteStream(content), headers=headers)


async def read_page(client: EsperClient) -> Any:
    """One status page: a read."""
    return await client.commands.statuses(REQUEST_ID).first_page()


async def create(client: EsperClient) -> Any:
    """One REBOOT: a create."""
    return await client.commands.create(command="REBOOT", devices=[DEVICE])


@pytest.mark.parametrize(
    ("content", "headers", "why"),
    [
        (DEEP, {}, "nested too deeply"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, "unreadable body"),
        (b"\xff\xfe not utf-8 {", {}, "not JSON"),
    ],
    ids=["deep-json", "corrupt-gzip", "bad-bytes"],
)
@pytest.mark.anyio
async def test_an_unreadable_success_is_malformed_for_a_read_and_ambiguous_for_a_create(
    content: bytes, headers: dict[str, str], why: str
) -> None:
    """A 2xx whose body cannot be decoded: `MalformedResponseError` for a read (not resent),
    `AmbiguousCreateError` for a create (it was stored), never an untyped exception."""
    clock = FakeClock()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return answer(200 if request.method == "GET" else 201, content, **headers)

    # httpx's own MockTransport, not respx's router: respx reads (and decodes) the body itself.
    transport = httpx.MockTransport(handler)
    async with make_client(make_router(), clock, transport=transport) as client:
        with pytest.raises(MalformedResponseError, match=why):
            await read_page(client)
        with pytest.raises(AmbiguousCreateError) as caught:
            await create(client)
    assert isinstance(caught.value.cause, MalformedResponseError)
    assert calls == ["GET", "POST"]  # neither was resent


@pytest.mark.parametrize(
    ("status", "content", "headers", "error"),
    [
        (400, DEEP, {}, BadRequestError),
        (404, b"not gzip at all", {"Content-Encoding": "gzip"}, NotFoundError),
        (500, DEEP, {}, ServerError),
    ],
    ids=["400-deep", "404-corrupt-gzip", "500-deep"],
)
@pytest.mark.anyio
async def test_an_unreadable_error_body_still_gives_the_status_error(
    status: int, content: bytes, headers: dict[str, str], error: type[Exception]
) -> None:
    """The status decides the error; an undecodable body is kept as an excerpt of text."""
    clock = FakeClock()
    transport = httpx.MockTransport(lambda request: answer(status, content, **headers))
    client = make_client(make_router(), clock, transport=transport, retry=RetryPolicy.never())
    async with client:
        with pytest.raises(error) as caught:
            await read_page(client)
    assert isinstance(caught.value.body, str)  # type: ignore[attr-defined]
    assert len(caught.value.body) <= 2000  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_any_exception_from_the_transport_becomes_typed() -> None:
    """A transport (or an in-process app) raising something httpx does not know: a read is
    retried and then raised as `APIConnectionError`; a create is ambiguous, not resent."""

    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("the app behind the transport crashed")

    clock = FakeClock()
    transport = httpx.MockTransport(explode)
    async with make_client(make_router(), clock, transport=transport) as client:
        with pytest.raises(APIConnectionError, match="crashed") as caught:
            await read_page(client)
        assert isinstance(caught.value.__cause__, RuntimeError)
        assert len(clock.sleeps) == 2  # retried like any dropped read
        with pytest.raises(AmbiguousCreateError):
            await create(client)


@pytest.mark.anyio
async def test_a_closed_client_says_so_at_once() -> None:
    """A call on a closed client raises `ClientClosedError` without retrying."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(return_value=httpx.Response(200, json=page_json()))
    client = make_client(router, clock)
    async with client:
        await read_page(client)
    with pytest.raises(ClientClosedError, match="closed"):
        await read_page(client)
    assert clock.sleeps == []


def loopback_client(url: str, **overrides: Any) -> EsperClient:
    """A client for a raw loopback server (real sockets, real time)."""
    settings: dict[str, Any] = {
        "base_url": url,
        "api_key": API_KEY,
        "enterprise_id": ENTERPRISE_ID,
        "rate_limit": None,
        "env": {},
    }
    settings.update(overrides)
    return EsperClient(**settings)


@pytest.mark.anyio
async def test_a_dripped_body_cannot_outlive_the_budget() -> None:
    """Each byte arrives well within the read timeout, but the call as a whole ends at its
    budget: `APITimeoutError` for a read, `AmbiguousCreateError` for a create."""
    body = b'{"count": 0, "next": null, "previous": null, "results": []}' * 4
    with serving(drip(body, every=0.05)) as server:  # ~12 s to send it all
        policy = RetryPolicy(budget=1.0)
        async with loopback_client(server.url, timeout=0.5, retry=policy) as client:
            began = time.monotonic()
            with pytest.raises(APITimeoutError, match="budget"):
                await read_page(client)
            took = time.monotonic() - began
            with pytest.raises(AmbiguousCreateError) as caught:
                await create(client)
    assert took < 6.0  # the budget is 1 s; the whole body would take 12 s
    assert isinstance(caught.value.cause, APITimeoutError)
    assert server.requests == 2  # neither was resent


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
@pytest.mark.anyio
async def test_a_huge_body_is_refused_not_read_whole(declare: bool) -> None:
    """A body over ``max_response_bytes`` fails as malformed once the limit is passed (at once
    when its Content-Length says so), instead of being held in memory."""
    total = 400 * 1024 * 1024 if declare else 8 * 1024 * 1024
    with serving(flood(total, declare=declare)) as server:
        async with loopback_client(server.url, max_response_bytes=1024 * 1024) as client:
            with anyio.fail_after(30), pytest.raises(MalformedResponseError, match="limit"):
                await read_page(client)


@pytest.mark.anyio
async def test_a_compressed_bomb_is_measured_after_decompression() -> None:
    """10 MB of zeros gzip to ~10 KB: the limit applies to what would be held, not the wire."""
    bomb = gzip.compress(b"0" * 10_000_000)
    transport = httpx.MockTransport(
        lambda request: answer(200, bomb, **{"Content-Encoding": "gzip"})
    )
    client = make_client(make_router(), FakeClock(), transport=transport, max_response_bytes=10**6)
    async with client:
        with pytest.raises(MalformedResponseError, match="limit"):
            await read_page(client)


@pytest.mark.parametrize(
    "retry_after",
    ["1e308", email.utils.format_datetime(email.utils.parsedate_to_datetime(
        "Fri, 31 Dec 9999 23:59:59 GMT"), usegmt=True)],
    ids=["1e308", "year-9999"],
)  # fmt: skip
@pytest.mark.anyio
async def test_an_absurd_retry_after_pauses_the_client_for_at_most_the_cap(
    retry_after: str,
) -> None:
    """The call that heard it raises with the server's figure; the client pauses for at most
    `MAX_PAUSE`, comes back by itself after it, and `clear_pause` ends it at once."""
    router, clock = make_router(), FakeClock()
    events: list[TransportEvent] = []
    route = router.get(STATUS_URL).mock(
        side_effect=[
            httpx.Response(429, json=error_json(429), headers={"Retry-After": retry_after}),
            httpx.Response(200, json=page_json()),
            httpx.Response(200, json=page_json()),
        ]
    )
    async with make_client(router, clock, events) as client:
        with pytest.raises(RateLimitError) as caught:
            await read_page(client)
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > MAX_PAUSE
        pauses = [e for e in events if isinstance(e, PauseEvent)]
        assert [p.seconds for p in pauses] == [MAX_PAUSE]
        with pytest.raises(RateLimitError, match="paused") as again:
            await read_page(client)  # within the pause: refused unsent
        assert again.value.retry_after is not None
        assert again.value.retry_after <= MAX_PAUSE
        client.clear_pause()
        await read_page(client)
        clock.advance(MAX_PAUSE)  # and a pause never outlives the cap
        await read_page(client)
    assert route.call_count == 3


@pytest.mark.anyio
async def test_retry_after_zero_does_not_skip_backoff() -> None:
    """200 callers all told ``429, Retry-After: 0`` at the same instant: none is resent at that
    instant (the client pauses for a backoff window first), and all then succeed."""
    clock = FakeClock()
    start = clock.monotonic()
    sends: dict[str, list[float]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sends.setdefault(request.url.params["device"], []).append(clock.monotonic())
        if clock.monotonic() == start:  # the storm: everything sent at this instant is refused
            return httpx.Response(429, json=error_json(429), headers={"Retry-After": "0"})
        return httpx.Response(200, json=page_json())

    async def caller(index: int) -> None:
        device = str(uuid.UUID(int=index))
        await client.commands.statuses(REQUEST_ID, device=device).first_page()

    transport = httpx.MockTransport(handler)
    client = make_client(make_router(), clock, transport=transport, max_concurrency=200)
    async with client, anyio.create_task_group() as tg:
        for index in range(200):
            tg.start_soon(caller, index)
    assert len(sends) == 200  # every caller got its page: no RateLimitError
    for times in sends.values():
        # Resent only after the 429's pause (it used to be 0 s: every retry at the same instant,
        # each refused again, until the attempts ran out).
        assert times.count(start) <= 1
        assert all(t >= start + 0.5 for t in times if t != start)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
@pytest.mark.anyio
async def test_compressed_bodies_are_read(encoding: str, encode: Any) -> None:
    """The transport inflates gzip and both kinds of deflate itself, in bounded steps."""
    body = json.dumps(page_json()).encode()
    transport = httpx.MockTransport(
        lambda request: answer(200, encode(body), **{"Content-Encoding": encoding})
    )
    async with make_client(make_router(), FakeClock(), transport=transport) as client:
        page = await read_page(client)
    assert page.count == 0


@pytest.mark.parametrize("encoding", ["gzip, gzip", "br", "gzip, identity, deflate"])
@pytest.mark.anyio
async def test_stacked_or_unasked_codings_are_refused(encoding: str) -> None:
    """The client asks for gzip or deflate once; a stack of codings (986 bytes of ``gzip, gzip``
    used to inflate to 512 MB) or one it did not ask for is an unreadable body."""
    bomb = gzip.compress(gzip.compress(b"0" * 1_000_000))
    transport = httpx.MockTransport(
        lambda request: answer(200, bomb, **{"Content-Encoding": encoding})
    )
    async with make_client(make_router(), FakeClock(), transport=transport) as client:
        with pytest.raises(MalformedResponseError, match="unsupported Content-Encoding"):
            await read_page(client)
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(200, json.dumps(page_json()).encode())

    async with make_client(make_router(), FakeClock(), transport=httpx.MockTransport(record)) as c:
        await read_page(c)
    assert sent[0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.anyio
async def test_a_retry_waiting_out_another_calls_pause_ends_at_its_budget() -> None:
    """Call A (budget 0.5 s) gets a 500 and will retry; meanwhile call B's 429 pauses the whole
    client for 3 s. A's retry may not sit that out: it ends at its budget, unsent, with a
    `APITimeoutError` (it used to take the full 3 s)."""
    answered: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        caller = request.url.params["issued_by"]
        answered.append(caller)
        if caller == "B":
            return httpx.Response(429, headers={"Retry-After": "3"}, json=error_json(429))
        await anyio.sleep(0.05)
        return httpx.Response(500, json=error_json(500))

    policy = RetryPolicy(budget=0.5, base_delay=0.01, max_delay=0.01)
    client = EsperClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        enterprise_id=ENTERPRISE_ID,
        rate_limit=None,
        transport=httpx.MockTransport(handler),
        retry=policy,
        env={},
    )
    took: list[float] = []

    async def call_a() -> None:
        began = time.monotonic()
        with pytest.raises(APITimeoutError, match="waited for its turn"):
            await client.commands.list(issued_by="A").first_page()
        took.append(time.monotonic() - began)

    async def call_b() -> None:
        await anyio.sleep(0.01)
        with pytest.raises(RateLimitError):
            await (
                client.with_options(retry=RetryPolicy.never())
                .commands.list(issued_by="B")
                .first_page()
            )

    async with client, anyio.create_task_group() as tg:
        tg.start_soon(call_a)
        tg.start_soon(call_b)
    assert answered.count("A") == 1  # the retry was never sent
    assert took[0] < 2.5  # the pause was 3 s; the budget 0.5 s


@pytest.mark.parametrize(
    "value",
    [float("nan"), object(), "\ud800"],
    ids=["nan", "object", "lone-surrogate"],
)
def test_a_body_json_cannot_hold_is_refused_by_the_encoder(value: object) -> None:
    """Validation keeps these out of a `CommandSpec`; should one get past it (a bug), the
    encoder still refuses it as a `ValidationError` on ``request`` instead of sending it."""
    spec = CommandSpec(command="REBOOT")
    object.__setattr__(spec, "schedule_extra", {"x": value})
    object.__setattr__(spec, "schedule_args", ScheduleArgs())
    with pytest.raises(ValidationError) as caught:
        encode_create(spec, CommandType.DEVICE, [str(uuid.uuid4())], [])
    assert caught.value.field == "request"


@pytest.mark.anyio
async def test_a_query_httpx_refuses_is_a_validation_error() -> None:
    """The transport's last guard: a request httpx cannot build is refused, typed, unsent."""
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(500))
    ) as http:
        transport = Transport(http=http, base_url=httpx.URL(BASE_URL), api_key=API_KEY)
        with pytest.raises(ValidationError) as caught:
            await transport.request(
                "GET", transport.url_for("/x/"), cast_to=dict, params={"q": "\ud800"}
            )
    assert caught.value.field == "request"


@pytest.mark.anyio
async def test_cookies_a_server_sets_are_neither_kept_nor_sent_back() -> None:
    """The API authenticates every call by its key: a cookie a server or proxy sets is not kept
    (httpx's jar cost ~5 % of a listing's client CPU) and never goes back with a later call."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(
            200,
            json=page_json(),
            headers={"Set-Cookie": "AWSALB=sticky; Path=/; Max-Age=600"},
        )

    async with make_client(make_router(), transport=httpx.MockTransport(handler)) as client:
        await client.commands.statuses(REQUEST_ID).first_page()
        await client.commands.statuses(REQUEST_ID).first_page()
    assert len(sent) == 2
    assert "cookie" not in sent[1].headers
    assert sent[1].headers["Authorization"] == f"Bearer {API_KEY}"


def test_each_client_has_its_own_jar_and_it_keeps_nothing() -> None:
    """Even a cookie set on the client's jar directly is not kept, and no client shares its
    jar with another (a cookie of one tenant must never reach another's requests)."""
    from esper_cmds._transport import HTTPClient

    first, second = HTTPClient(), HTTPClient()
    assert first.cookies is not second.cookies
    first.cookies.set("sessionid", "tenant-a")
    first.cookies["other"] = "x"
    first.cookies.update({"third": "y"})
    request = second.build_request("GET", f"{BASE_URL}/v1/enterprise/x/devicegroup/")
    assert "cookie" not in request.headers
    assert "cookie" not in first.build_request("GET", f"{BASE_URL}/x/").headers
    assert dict(first.cookies) == {}
    with pytest.raises(ValueError, match="keeps no cookies"):
        first.cookies = {"a": "b"}
