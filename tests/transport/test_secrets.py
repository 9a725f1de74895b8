"""The API key never appears in an exception, its traceback, its cause or a log line.

Each test here failed on the main of 2026-11-28 (issue 10): a key with a trailing newline reached
h11, whose refusal (key quoted) became the exception's text and a create that never left the
machine was reported as ambiguous; a non-ASCII key raised an untyped `UnicodeEncodeError` holding
the key; ``user:pw@`` in a base URL replaced the key with Basic auth and showed in repr; a server
echoing the Authorization header put the key in the exception.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import httpx
import pytest

from esper_cmds import (
    AmbiguousCreateError,
    APIStatusError,
    EsperClient,
    EsperError,
    MalformedResponseError,
    RetryPolicy,
    TransportError,
    ValidationError,
)
from esper_cmds._transport import Transport
from esper_cmds.models import Page
from esper_cmds.simulator import Simulator

from .._support import (
    API_KEY,
    BASE_URL,
    DEVICE,
    ENTERPRISE_ID,
    REQUEST_ID,
    FakeClock,
    make_client,
    make_router,
)


def everything_about(exc: BaseException) -> str:
    """All the text an exception can show: str, repr, attributes, and the whole traceback with
    its causes, as logging would print it."""
    parts = ["".join(traceback.format_exception(exc)), repr(exc)]
    names = ("message", "errors", "body", "payload", "url", "field", "value")
    parts.extend(repr(getattr(exc, name, None)) for name in names)
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        parts.append(everything_about(cause))
    return "\n".join(parts)


@pytest.mark.parametrize(
    "key",
    ["s3cret-key\n", "s3cret-key ", " s3cret-key", "s3cret\tkey", "s3cret key", "s3crét-key",
     "s3cret\x00key", "s3cret\x7fkey"],
    ids=["newline", "trailing-space", "leading-space", "tab", "space", "non-ascii", "nul", "del"],
)  # fmt: skip
@pytest.mark.parametrize("source", ["argument", "environment"])
def test_a_key_that_would_fail_on_the_wire_is_refused_without_showing_it(
    key: str, source: str
) -> None:
    """`ValidationError` on construction, naming the field and the rule, never the key."""
    settings: dict[str, Any] = {"base_url": BASE_URL, "enterprise_id": ENTERPRISE_ID}
    if source == "argument":
        settings.update(api_key=key, env={})
    else:
        settings.update(env={"ESPER_API_KEY": key})
    with pytest.raises(ValidationError) as caught:
        EsperClient(**settings)
    assert caught.value.field == "api_key"
    text = everything_about(caught.value)
    assert "s3cret" not in text
    assert "s3cr" not in text


def test_credentials_in_the_base_url_are_refused_without_showing_them() -> None:
    """``user:pw@`` would replace the Bearer key with Basic auth: refused, password hidden."""
    with pytest.raises(ValidationError, match="credentials") as caught:
        EsperClient(
            base_url="http://admin:hunter2@127.0.0.1:8000/api",
            api_key=API_KEY,
            enterprise_id=ENTERPRISE_ID,
            env={},
        )
    assert "hunter2" not in everything_about(caught.value)


@pytest.mark.parametrize(
    "tenant",
    ["ａｃｍｅ", "аcme", "acme-", "-acme", "ac_me", "a" * 60, "acme.evil.com"],
    ids=["full-width", "cyrillic-a", "trailing-dash", "leading-dash", "underscore", "too-long",
         "dots"],
)  # fmt: skip
def test_a_tenant_is_an_ascii_dns_label(tenant: str) -> None:
    """Unicode letters would reach IDNA and send the key to a punycode host: refused."""
    with pytest.raises(ValidationError, match="tenant"):
        EsperClient(tenant=tenant, api_key=API_KEY, enterprise_id=ENTERPRISE_ID, env={})


def test_a_tenant_builds_the_esper_host() -> None:
    """A valid tenant (any case) builds ``https://{tenant}-api.esper.cloud/api``."""
    client = EsperClient(tenant="Acme-2", api_key=API_KEY, enterprise_id=ENTERPRISE_ID, env={})
    assert str(client.base_url) == "https://acme-2-api.esper.cloud/api"


def test_a_non_ascii_base_url_is_refused() -> None:
    """Look-alike letters in a base URL's host would go out as some other punycode host."""
    with pytest.raises(ValidationError, match="ASCII"):
        EsperClient(
            base_url="https://аcme-api.esper.cloud/api",
            api_key=API_KEY,
            enterprise_id=ENTERPRISE_ID,
            env={},
        )


def test_repr_of_a_client_whose_constructor_failed_does_not_raise() -> None:
    """A half-built client (seen in a traceback's locals) still has a repr."""
    half = EsperClient.__new__(EsperClient)
    assert repr(half) == "EsperClient(base_url='None', enterprise_id='None')"


ECHOES = [
    (401, {"message": f"bad token Bearer {API_KEY}", "errors": [], "status": 401}),
    (400, {"message": "invalid", "errors": [f"header was Bearer {API_KEY}"], "status": 400}),
    (403, {"detail": {"received": {"Authorization": f"Bearer {API_KEY}"}}}),
    (500, {"errors": [{"nested": [f"token={API_KEY}"]}], "message": API_KEY, "status": 500}),
    (502, f"<html>upstream refused Authorization: Bearer {API_KEY}</html>"),
    (200, f"not json, but Bearer {API_KEY}"),
]


@pytest.mark.parametrize(("status", "body"), ECHOES, ids=[str(s) for s, _ in ECHOES])
@pytest.mark.anyio
async def test_a_server_echoing_the_key_does_not_put_it_in_the_exception(
    status: int, body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Message, errors, body, traceback and logs are scrubbed; the rest of the text is kept."""
    caplog.set_level(logging.DEBUG, logger="esper_cmds")
    router, clock = make_router(), FakeClock()
    answer = (
        httpx.Response(status, json=body)
        if isinstance(body, dict)
        else httpx.Response(status, text=body)
    )
    router.route().mock(return_value=answer)
    raised: list[EsperError] = []
    async with make_client(router, clock, retry=RetryPolicy.never()) as client:
        for call in (
            client.commands.statuses(REQUEST_ID).first_page(),
            client.commands.create(command="REBOOT", devices=[DEVICE]),
        ):
            with pytest.raises(EsperError) as caught:
                await call
            raised.append(caught.value)
    for exc in raised:
        assert isinstance(exc, APIStatusError | MalformedResponseError | AmbiguousCreateError)
        text = everything_about(exc)
        assert API_KEY not in text
        assert "[redacted]" in text
    assert API_KEY not in caplog.text


@pytest.mark.anyio
async def test_h11_refusing_a_header_is_typed_not_ambiguous_and_keyless() -> None:
    """Past the constructor's check (a transport built by hand), h11 refuses a key with a
    newline over a real socket: a `TransportError` (the create never left the machine, so it
    is not ambiguous), whose text and causes do not hold the key."""
    sim = Simulator(devices=5, groups=0, seed=1)
    key = sim.api_key + "\n"
    with sim.serve_in_thread() as url:
        async with httpx.AsyncClient() as http:
            transport = Transport(http=http, base_url=httpx.URL(url), api_key=key)
            commands = transport.url_for(f"/v0/enterprise/{sim.enterprise_id}/command/")
            for method in ("GET", "POST"):
                with pytest.raises(TransportError) as caught:
                    await transport.request(
                        method, commands, cast_to=Page[dict[str, Any]], body=b'{"x": 1}'
                    )
                assert not isinstance(caught.value, AmbiguousCreateError)
                assert sim.api_key not in everything_about(caught.value)
                assert "could not be sent" in str(caught.value)
    assert sim.stats.calls.total() == 0


@pytest.mark.anyio
async def test_a_key_in_a_page_link_stays_out_of_the_error_and_its_url() -> None:
    """A server that puts the key in a ``next`` link (its path or query): the link is refused
    or followed, and no error text, URL or cycle message holds the key."""
    router, clock = make_router(), FakeClock()
    statuses = f"{BASE_URL}/v0/enterprise/{ENTERPRISE_ID}/command/{REQUEST_ID}/status/"
    outside = {"count": 9, "next": f"http://x/elsewhere/?k={API_KEY}", "previous": None,
               "results": []}  # fmt: skip
    router.get(statuses).mock(return_value=httpx.Response(200, json=outside))
    async with make_client(router, clock, retry=RetryPolicy.never()) as client:
        with pytest.raises(EsperError) as refused:
            await client.commands.statuses(REQUEST_ID).to_list(max_items=5)
    assert API_KEY not in everything_about(refused.value)

    router, clock = make_router(), FakeClock()
    looping = {"count": 9, "next": f"{statuses}?limit=1&offset=1&k={API_KEY}", "previous": None,
               "results": [{"id": REQUEST_ID, "request": REQUEST_ID, "device": DEVICE,
                            "state": "Command Queued"}]}  # fmt: skip
    router.get(statuses).mock(return_value=httpx.Response(200, json=looping))
    async with make_client(router, clock, retry=RetryPolicy.never()) as client:
        with pytest.raises(EsperError) as cycled:
            await client.commands.statuses(REQUEST_ID).to_list(max_items=50)
    assert "cycle" in str(cycled.value)
    assert API_KEY not in everything_about(cycled.value)

    router, clock = make_router(), FakeClock()
    missing = {"count": 9, "next": f"{statuses}{API_KEY}/?limit=1", "previous": None,
               "results": looping["results"]}  # fmt: skip
    router.get(statuses).mock(return_value=httpx.Response(200, json=missing))
    router.get(f"{statuses}{API_KEY}/").mock(
        return_value=httpx.Response(404, json={"errors": [], "message": "no", "status": 404})
    )
    async with make_client(router, clock, retry=RetryPolicy.never()) as client:
        with pytest.raises(EsperError) as absent:
            await client.commands.statuses(REQUEST_ID).to_list(max_items=50)
    assert API_KEY not in everything_about(absent.value)


@pytest.mark.parametrize("offset", [1960, 1975, 1999])
@pytest.mark.anyio
async def test_a_key_across_the_excerpt_cut_is_still_scrubbed(offset: int) -> None:
    """The body kept on an error is cut at 2,000 characters after it is scrubbed: a key that
    straddles the cut leaves none of itself behind."""
    body = "x" * offset + API_KEY + "y" * 3000
    router, clock = make_router(), FakeClock()
    router.route().mock(return_value=httpx.Response(401, text=body))
    async with make_client(router, clock, retry=RetryPolicy.never()) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.commands.statuses(REQUEST_ID).first_page()
    assert API_KEY[:12] not in everything_about(caught.value)


@pytest.mark.anyio
async def test_no_exception_context_keeps_the_body() -> None:
    """A JSON error's ``doc`` is the whole body: it must not hang on as ``__context__``."""
    router, clock = make_router(), FakeClock()
    router.route().mock(return_value=httpx.Response(201, text=f"{{broken {API_KEY}"))
    async with make_client(router, clock) as client:
        with pytest.raises(AmbiguousCreateError) as caught:
            await client.commands.create(command="REBOOT", devices=[DEVICE])
    chain: list[BaseException] = []
    current: BaseException | None = caught.value
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
        if isinstance(current, EsperError) and current in chain:
            break
    for link in chain:
        assert API_KEY not in repr(vars(link)) + repr(link.args)
    assert caught.value.cause.__context__ is None


@pytest.mark.anyio
async def test_a_deep_error_body_with_the_key_is_typed_and_scrubbed() -> None:
    """An error body nested ~950 deep (json.loads copes, a recursive scrub did not)."""
    deep = "[" * 950 + json.dumps(API_KEY) + "]" * 950
    router, clock = make_router(), FakeClock()
    router.route().mock(return_value=httpx.Response(400, text=deep))
    async with make_client(router, clock, retry=RetryPolicy.never()) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.commands.statuses(REQUEST_ID).first_page()
    assert API_KEY not in repr(caught.value.body)[:5000]
    assert API_KEY not in str(caught.value)


def test_a_constructor_error_does_not_leave_the_key_in_its_frames() -> None:
    """``pytest --showlocals``, rich or Sentry print a traceback's locals: none holds the key."""
    with pytest.raises(ValidationError) as caught:
        EsperClient(api_key=API_KEY, base_url=BASE_URL, env={})  # no enterprise id
    frames = traceback.walk_tb(caught.value.__traceback__)
    for frame, _ in frames:
        assert API_KEY not in repr(frame.f_locals)


def test_errors_survive_pickling() -> None:
    """An error raised in a worker process reaches its parent as itself."""
    import pickle

    errors: list[EsperError] = [
        ValidationError("devices[3]", "must be a UUID", "x"),
        APIStatusError("404 from GET /x", method="GET", url="u", status_code=404, body={"a": 1}),
        TransportError("down", method="GET", url="u"),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert str(again) == str(error)
        assert vars(again) == vars(error)
