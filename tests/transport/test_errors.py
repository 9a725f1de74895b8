"""Error mapping of every response class, and the API key's absence from all output."""

from __future__ import annotations

import logging

import httpx
import pytest

from esper_cmds import (
    AmbiguousCreateError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EsperClient,
    EsperError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from esper_cmds._retry import RetryPolicy

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
    reboot_request_json,
)

NO_RETRY = RetryPolicy.never()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(400, json=error_json(400, "bad args")), BadRequestError),
        (httpx.Response(401, json={"detail": "Invalid token."}), AuthenticationError),
        (httpx.Response(403, json=error_json(403)), PermissionDeniedError),
        (httpx.Response(404, json=error_json(404)), NotFoundError),
        (httpx.Response(409, json=error_json(409)), ConflictError),
        (httpx.Response(429, json=error_json(429), headers={"Retry-After": "9"}), RateLimitError),
        (httpx.Response(500, json=error_json(500)), ServerError),
        (httpx.Response(503, text="<html>down</html>"), ServerError),
        (httpx.Response(418, text="teapot"), APIStatusError),
    ],
    ids=["400", "401", "403", "404", "409", "429", "500", "503-html", "418"],
)
@pytest.mark.anyio
async def test_status_errors(response: httpx.Response, error: type[APIStatusError]) -> None:
    """Each status maps to its class with status, Esper's message and the request."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(return_value=response)
    async with make_client(router, clock, retry=NO_RETRY) as client:
        with pytest.raises(error) as caught:
            await client.commands.statuses(REQUEST_ID).first_page()
    exc = caught.value
    assert type(exc) is error
    assert exc.status_code == response.status_code
    assert exc.method == "GET"
    assert exc.url.startswith(STATUS_URL)
    if isinstance(exc, RateLimitError):
        assert exc.retry_after == 9.0
    if response.headers.get("content-type") == "application/json":
        assert exc.body == response.json()


@pytest.mark.parametrize(
    ("effect", "error"),
    [
        (httpx.ConnectError("refused"), APIConnectionError),
        (httpx.RemoteProtocolError("peer closed"), APIConnectionError),
        (httpx.ConnectTimeout("slow"), APITimeoutError),
        (httpx.ReadTimeout("slow"), APITimeoutError),
    ],
    ids=["connect", "protocol", "connect-timeout", "read-timeout"],
)
@pytest.mark.anyio
async def test_transport_errors(effect: Exception, error: type[EsperError]) -> None:
    """httpx's transport errors become APIConnectionError or APITimeoutError, chained."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(side_effect=effect)
    async with make_client(router, clock, retry=NO_RETRY) as client:
        with pytest.raises(error) as caught:
            await client.commands.statuses(REQUEST_ID).first_page()
    assert isinstance(caught.value.__cause__, httpx.TransportError)


@pytest.mark.parametrize(
    ("response", "why"),
    [
        (httpx.Response(200, text='{"count": 1, "next"'), "not JSON"),
        (httpx.Response(200, json={"unexpected": True}), "does not fit"),
        (httpx.Response(200, json=[1, 2, 3]), "does not fit"),
        (httpx.Response(200, html="<html><body>Login</body></html>"), "not JSON"),
    ],
    ids=["truncated", "wrong-shape", "a-list", "html-page"],
)
@pytest.mark.anyio
async def test_malformed_bodies(response: httpx.Response, why: str) -> None:
    """A success whose body is not the expected JSON raises MalformedResponseError."""
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(return_value=response)
    async with make_client(router, clock) as client:
        with pytest.raises(MalformedResponseError, match=why) as caught:
            await client.commands.statuses(REQUEST_ID).first_page()
    assert caught.value.status_code == 200


@pytest.mark.anyio
async def test_api_key_never_appears_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    """No log record, repr or exception text of any failure carries the API key."""
    caplog.set_level(logging.DEBUG)
    router, clock = make_router(), FakeClock()
    router.get(STATUS_URL).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(429, json=error_json(429), headers={"Retry-After": "1"}),
            httpx.Response(500, text="boom"),
            httpx.Response(401, json={"detail": "Invalid token."}),
        ]
    )
    router.post(COMMANDS_URL).mock(
        side_effect=[httpx.ReadTimeout("lost"), httpx.Response(201, json=reboot_request_json())]
    )
    texts: list[str] = []
    async with make_client(router, clock, retry=RetryPolicy(max_attempts=4)) as client:
        view = client.with_options(retry=RetryPolicy.never())
        texts += [repr(client), repr(view), repr(client.statistics())]
        for call in (
            client.commands.statuses(REQUEST_ID).first_page,
            lambda: client.commands.create(command="REBOOT", devices=[DEVICE]),
        ):
            with pytest.raises(EsperError) as caught:
                await call()
            exc: BaseException | None = caught.value
            while exc is not None:
                texts += [str(exc), repr(exc), repr(vars(exc))]
                exc = exc.__cause__
    assert isinstance(caught.value, AmbiguousCreateError)
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert len(caplog.records) >= 3
    assert not [t for t in texts if API_KEY in t]


def test_client_repr_is_keyless() -> None:
    """The client's repr names the base URL and enterprise, never the key."""
    client = EsperClient(
        base_url="http://127.0.0.1:1/api", api_key=API_KEY, enterprise_id=REQUEST_ID, env={}
    )
    assert API_KEY not in repr(client)
