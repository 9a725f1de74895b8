"""EsperClient configuration: keywords, the environment, defaults, and the key kept secret."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from esper_cmds import APIStatusError, EsperClient, ValidationError
from esper_cmds._client import DEFAULT_TIMEOUT

from .._support import API_KEY, BASE_URL, ENTERPRISE_ID, V1, make_client, make_router, page_json

ENV = {
    "ESPER_API_KEY": API_KEY,
    "ESPER_TENANT": "acme",
    "ESPER_ENTERPRISE_ID": ENTERPRISE_ID,
}


def test_keywords_configure_tenant_key_and_enterprise() -> None:
    """``tenant`` builds Esper's URL; the enterprise id is parsed into a UUID."""
    client = EsperClient(tenant="acme", api_key=API_KEY, enterprise_id=ENTERPRISE_ID, env={})
    assert str(client.base_url) == "https://acme-api.esper.cloud/api"
    assert client.enterprise_id == uuid.UUID(ENTERPRISE_ID)


def test_base_url_keyword_is_normalised() -> None:
    """A trailing slash, query or fragment on ``base_url`` is dropped."""
    client = EsperClient(
        base_url="http://127.0.0.1:9000/api/?x=1#frag",
        api_key=API_KEY,
        enterprise_id=uuid.UUID(ENTERPRISE_ID),
        env={},
    )
    assert str(client.base_url) == "http://127.0.0.1:9000/api"


def test_environment_configures_everything() -> None:
    """ESPER_API_KEY, ESPER_TENANT and ESPER_ENTERPRISE_ID are enough on their own."""
    client = EsperClient(env=ENV)
    assert str(client.base_url) == "https://acme-api.esper.cloud/api"
    assert client.enterprise_id == uuid.UUID(ENTERPRISE_ID)


def test_environment_base_url_is_used_instead_of_tenant() -> None:
    """ESPER_BASE_URL (e.g. a simulator) takes precedence over ESPER_TENANT."""
    client = EsperClient(env={**ENV, "ESPER_BASE_URL": BASE_URL})
    assert str(client.base_url) == BASE_URL


def test_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``env=``, the process environment is read."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ESPER_BASE_URL", raising=False)
    client = EsperClient()
    assert str(client.base_url) == "https://acme-api.esper.cloud/api"


def test_keywords_override_the_environment() -> None:
    """Keyword arguments win over the environment."""
    other = str(uuid.uuid4())
    client = EsperClient(base_url=BASE_URL, enterprise_id=other, env={**ENV, "ESPER_BASE_URL": ""})
    assert str(client.base_url) == BASE_URL
    assert client.enterprise_id == uuid.UUID(other)


@pytest.mark.parametrize(
    ("kwargs", "env", "field"),
    [
        ({}, {k: v for k, v in ENV.items() if k != "ESPER_API_KEY"}, "api_key"),
        ({"api_key": ""}, ENV, "api_key"),
        ({}, {k: v for k, v in ENV.items() if k != "ESPER_ENTERPRISE_ID"}, "enterprise_id"),
        ({"enterprise_id": "acme"}, ENV, "enterprise_id"),
        ({}, {k: v for k, v in ENV.items() if k != "ESPER_TENANT"}, "base_url"),
        ({"tenant": "acme", "base_url": BASE_URL}, ENV, "base_url"),
        ({"tenant": "acme.evil.example/x"}, ENV, "tenant"),
        ({"base_url": "127.0.0.1:8000/api"}, ENV, "base_url"),
        ({"base_url": "ftp://127.0.0.1/api"}, ENV, "base_url"),
    ],
)
def test_missing_or_bad_configuration_is_refused(
    kwargs: dict[str, Any], env: dict[str, str], field: str
) -> None:
    """Missing or malformed settings raise `ValidationError` naming the setting."""
    with pytest.raises(ValidationError) as caught:
        EsperClient(env=env, **kwargs)
    assert caught.value.field == field
    assert API_KEY not in str(caught.value)


def test_api_key_is_not_in_the_repr() -> None:
    """repr(client) shows where it points, never the key."""
    client = EsperClient(env=ENV)
    text = repr(client)
    assert API_KEY not in text
    assert "acme-api.esper.cloud" in text
    assert ENTERPRISE_ID in text


def test_default_timeouts_are_finite() -> None:
    """No phase of a request may wait forever by default."""
    for phase in (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read, DEFAULT_TIMEOUT.write):
        assert phase is not None
        assert 0 < phase <= 120
    assert DEFAULT_TIMEOUT.pool is not None


@pytest.mark.anyio
async def test_env_configured_client_sends_to_base_url_with_bearer_key() -> None:
    """A client configured from the environment sends to its base URL with the bearer key."""
    router = make_router()
    route = router.get(f"{V1}/devicegroup/").mock(
        return_value=httpx.Response(200, json=page_json([]))
    )
    env = {**ENV, "ESPER_BASE_URL": BASE_URL}
    async with EsperClient(
        env=env, transport=httpx.MockTransport(router.handler), rate_limit=None
    ) as client:
        await client.groups.list().first_page()
    sent = route.calls.last.request
    assert str(sent.url) == f"{BASE_URL}{V1}/devicegroup/"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.anyio
async def test_api_key_is_not_in_errors() -> None:
    """An error about a request carries neither the key nor the Authorization header."""
    router = make_router()
    router.get(f"{V1}/devicegroup/").mock(
        return_value=httpx.Response(
            401, json={"errors": ["bad token"], "message": "Unauthorized", "status": 401}
        )
    )
    async with make_client(router) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.groups.list().first_page()
    error = caught.value
    assert error.status_code == 401
    for text in (str(error), repr(error), repr(vars(error))):
        assert API_KEY not in text


@pytest.mark.anyio
async def test_client_closes_its_pool_on_exit() -> None:
    """Leaving ``async with`` closes the connection pool, so later calls fail instead of leaking."""
    router = make_router()
    router.get(f"{V1}/devicegroup/").mock(return_value=httpx.Response(200, json=page_json([])))
    client = make_client(router)
    async with client:
        assert await client.groups.list().to_list(max_items=1) == []
    with pytest.raises(RuntimeError, match="client has been closed"):
        await client.groups.list().first_page()


def test_random_must_be_callable() -> None:
    with pytest.raises(ValidationError) as caught:
        EsperClient(env=ENV, random=0.5)  # type: ignore[arg-type]
    assert caught.value.field == "random"


def test_clock_sleep_and_random_are_the_clients_seam() -> None:
    async def sleep(seconds: float) -> None:
        return None

    def fixed() -> float:
        return 0.25

    client = EsperClient(env=ENV, sleep=sleep, random=fixed)
    assert client.sleep is sleep
    assert client.random is fixed
    assert client.clock.monotonic() <= client.clock.monotonic()
