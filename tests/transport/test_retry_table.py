"""Every row of the retry table, for a read (GET) and a create (POST), through the real client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from esper_cmds import (
    AmbiguousCreateError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EsperError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from esper_cmds._retry import RetryFailure

from .._support import (
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

Effect = Callable[[], Any]
HTML = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"

# (failure class, what the server does, read outcome, create outcome, error type when raised)
# Outcomes: "R" retried and succeeded on the second attempt, "X" raised at once, "A" raised as
# AmbiguousCreateError after exactly one send. This is the table, written out by hand.
CASES: list[tuple[str, RetryFailure, Effect, str, str, type[EsperError]]] = [
    ("connect", RetryFailure.CONNECT_ERROR, lambda: httpx.ConnectError("refused"), "R", "R",
     APIConnectionError),
    ("connect-timeout", RetryFailure.CONNECT_TIMEOUT, lambda: httpx.ConnectTimeout("t"), "R", "R",
     APITimeoutError),
    ("pool-timeout", RetryFailure.POOL_TIMEOUT, lambda: httpx.PoolTimeout("t"), "R", "R",
     APITimeoutError),
    ("write-timeout", RetryFailure.WRITE_TIMEOUT, lambda: httpx.WriteTimeout("t"), "R", "A",
     APITimeoutError),
    ("read-timeout", RetryFailure.READ_TIMEOUT, lambda: httpx.ReadTimeout("t"), "R", "A",
     APITimeoutError),
    ("protocol-error", RetryFailure.DROPPED, lambda: httpx.RemoteProtocolError("gone"), "R", "A",
     APIConnectionError),
    ("read-error", RetryFailure.DROPPED, lambda: httpx.ReadError("reset"), "R", "A",
     APIConnectionError),
    ("write-error", RetryFailure.DROPPED, lambda: httpx.WriteError("pipe"), "R", "A",
     APIConnectionError),
    ("local-protocol", RetryFailure.LOCAL_ERROR,
     lambda: httpx.LocalProtocolError("Illegal header value"), "X", "X", TransportError),
    ("unsupported-protocol", RetryFailure.LOCAL_ERROR, lambda: httpx.UnsupportedProtocol("ftp"),
     "X", "X", TransportError),
    ("408", RetryFailure.STATUS_408, lambda: httpx.Response(408, json=error_json(408)), "R", "R",
     EsperError),
    ("429", RetryFailure.STATUS_429,
     lambda: httpx.Response(429, json=error_json(429), headers={"Retry-After": "2"}), "R", "R",
     RateLimitError),
    ("429-no-header", RetryFailure.STATUS_429, lambda: httpx.Response(429, json=error_json(429)),
     "R", "R", RateLimitError),
    ("500", RetryFailure.STATUS_500, lambda: httpx.Response(500, json=error_json(500)), "R", "A",
     ServerError),
    ("502", RetryFailure.STATUS_502, lambda: httpx.Response(502, text="<html>bad gateway</html>"),
     "R", "A", ServerError),
    ("503-html", RetryFailure.STATUS_503, lambda: httpx.Response(503, text=HTML), "R", "A",
     ServerError),
    ("503-retry-after", RetryFailure.STATUS_503_RETRY_AFTER,
     lambda: httpx.Response(503, text=HTML, headers={"Retry-After": "3"}), "R", "R", ServerError),
    ("504", RetryFailure.STATUS_504, lambda: httpx.Response(504, json=error_json(504)), "R", "A",
     ServerError),
    ("501", RetryFailure.OTHER_5XX, lambda: httpx.Response(501, json=error_json(501)), "X", "A",
     ServerError),
    ("400", RetryFailure.CLIENT_ERROR, lambda: httpx.Response(400, json=error_json(400)), "X", "X",
     BadRequestError),
    ("401", RetryFailure.CLIENT_ERROR, lambda: httpx.Response(401, json=error_json(401)), "X", "X",
     AuthenticationError),
    ("403", RetryFailure.CLIENT_ERROR, lambda: httpx.Response(403, json=error_json(403)), "X", "X",
     PermissionDeniedError),
    ("404", RetryFailure.CLIENT_ERROR, lambda: httpx.Response(404, json=error_json(404)), "X", "X",
     NotFoundError),
    ("409", RetryFailure.CLIENT_ERROR, lambda: httpx.Response(409, json=error_json(409)), "X", "X",
     ConflictError),
    ("malformed", RetryFailure.MALFORMED, lambda: httpx.Response(200, text="{not json"), "X", "A",
     MalformedResponseError),
]  # fmt: skip

IDS = [case[0] for case in CASES]


def test_cases_cover_every_failure_class() -> None:
    """The table below is exhaustive: every failure class has at least one case."""
    assert {case[1] for case in CASES} == set(RetryFailure)


@pytest.mark.parametrize(("name", "failure", "effect", "read", "create", "error"), CASES, ids=IDS)
@pytest.mark.anyio
async def test_read_row(
    name: str,
    failure: RetryFailure,
    effect: Effect,
    read: str,
    create: str,
    error: type[EsperError],
) -> None:
    """A GET retries exactly the transient failures and raises the typed error for the rest."""
    router, clock = make_router(), FakeClock()
    ok = httpx.Response(200, json=page_json())
    route = router.get(STATUS_URL).mock(side_effect=[effect(), ok])
    async with make_client(router, clock) as client:
        if read == "R":
            page = await client.commands.statuses(REQUEST_ID).first_page()
            assert page.count == 0
            assert route.call_count == 2
        else:
            with pytest.raises(error):
                await client.commands.statuses(REQUEST_ID).first_page()
            assert route.call_count == 1
            assert clock.sleeps == []


@pytest.mark.parametrize(("name", "failure", "effect", "read", "create", "error"), CASES, ids=IDS)
@pytest.mark.anyio
async def test_create_row(
    name: str,
    failure: RetryFailure,
    effect: Effect,
    read: str,
    create: str,
    error: type[EsperError],
) -> None:
    """A POST is resent only when it provably was not processed; otherwise sent exactly once."""
    router, clock = make_router(), FakeClock()
    ok = httpx.Response(201, json=reboot_request_json())
    route = router.post(COMMANDS_URL).mock(side_effect=[effect(), ok])
    async with make_client(router, clock) as client:
        if create == "R":
            created = await client.commands.create(command="REBOOT", devices=[DEVICE])
            assert str(created.id) == REQUEST_ID
            assert route.call_count == 2
            first, second = (call.request.content for call in route.calls)
            assert first == second  # the same bytes, encoded once
        elif create == "A":
            start = clock.utcnow()
            with pytest.raises(AmbiguousCreateError) as caught:
                await client.commands.create(command="REBOOT", devices=[DEVICE])
            assert route.call_count == 1
            ambiguous = caught.value
            assert ambiguous.payload == json.loads(route.calls[0].request.content)
            assert isinstance(ambiguous.cause, error)
            assert ambiguous.__cause__ is ambiguous.cause
            assert ambiguous.started_at == start <= ambiguous.finished_at
            assert ambiguous.started_at.tzinfo is not None
        else:
            with pytest.raises(error) as raised:
                await client.commands.create(command="REBOOT", devices=[DEVICE])
            assert not isinstance(raised.value, AmbiguousCreateError)
            assert route.call_count == 1
