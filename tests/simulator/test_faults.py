"""Fault injection, in-process and over a real loopback socket."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from esper_cmds.simulator import Fault, FaultKind, FaultPlan, Simulator

from ._support import body, commands_path


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each test on asyncio and on trio."""
    return str(request.param)


def _scripted(sim: Simulator, *faults: Fault) -> None:
    sim.faults = FaultPlan(script=faults)


@pytest.mark.anyio
async def test_error_before_store_is_500_and_stores_nothing(sim: Simulator) -> None:
    """error_before_store answers 500 with Esper's body and creates nothing."""
    _scripted(sim, Fault(FaultKind.ERROR_BEFORE_STORE))
    async with sim.client() as client:
        response = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:2]))
    assert response.status_code == 500
    assert response.json()["status"] == 500
    assert sim.stats.requests_created == 0
    assert sim.stats.faults == {"error_before_store": 1}


@pytest.mark.anyio
async def test_error_after_store_is_500_but_the_request_exists(sim: Simulator) -> None:
    """error_after_store answers 500, yet the request was stored and is listed."""
    _scripted(sim, Fault(FaultKind.ERROR_AFTER_STORE))
    async with sim.client() as client:
        response = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:2]))
        listing = (await client.get(commands_path(sim))).json()
    assert response.status_code == 500
    assert sim.stats.requests_created == 1
    assert listing["count"] == 1


@pytest.mark.anyio
async def test_drop_after_store_raises_remote_protocol_error_in_process(sim: Simulator) -> None:
    """drop_after_store surfaces as httpx.RemoteProtocolError, and the request was stored."""
    _scripted(sim, Fault(FaultKind.DROP_AFTER_STORE))
    async with sim.client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(commands_path(sim), json=body(devices=sim.device_ids[:3]))
        listing = (await client.get(commands_path(sim))).json()
    assert listing["count"] == 1
    assert sim.stats.commands.total() == 3


@pytest.mark.parametrize(("kind", "status"), [(FaultKind.HTML_502, 502), (FaultKind.HTML_503, 503)])
@pytest.mark.anyio
async def test_html_error_pages(sim: Simulator, kind: FaultKind, status: int) -> None:
    """html_502/html_503 answer an HTML page (not JSON) and store nothing."""
    _scripted(sim, Fault(kind))
    async with sim.client() as client:
        response = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:1]))
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text
    assert sim.stats.requests_created == 0


@pytest.mark.anyio
async def test_malformed_json_keeps_status_breaks_body_and_stores(sim: Simulator) -> None:
    """malformed_json answers 201 with a body that does not parse; the create was stored."""
    _scripted(sim, Fault(FaultKind.MALFORMED_JSON))
    async with sim.client() as client:
        response = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:1]))
    assert response.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert sim.stats.requests_created == 1


@pytest.mark.anyio
async def test_slow_trips_the_read_timeout_in_process_after_storing(sim: Simulator) -> None:
    """slow waits in real time; a shorter read timeout raises httpx.ReadTimeout, yet it stored."""
    _scripted(sim, Fault(FaultKind.SLOW, seconds=5.0))
    async with sim.client(timeout=httpx.Timeout(5.0, read=0.2)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.post(commands_path(sim), json=body(devices=sim.device_ids[:1]))
        assert time.monotonic() - started < 2.0
    assert sim.stats.requests_created == 1


@pytest.mark.anyio
async def test_slow_and_latency_delay_the_answer(sim: Simulator) -> None:
    """slow and latency faults delay a normal answer by about their seconds."""
    _scripted(sim, Fault(FaultKind.SLOW, seconds=0.15), Fault(FaultKind.LATENCY, seconds=0.15))
    async with sim.client() as client:
        for _ in range(2):
            started = time.monotonic()
            response = await client.get(commands_path(sim))
            assert response.status_code == 200
            assert time.monotonic() - started >= 0.14
    assert sim.stats.faults == {"slow": 1, "latency": 1}


@pytest.mark.anyio
async def test_throttle_fault_is_429_with_retry_after(sim: Simulator) -> None:
    """throttle answers 429 with Retry-After = seconds, counts as throttled, stores nothing."""
    _scripted(sim, Fault(FaultKind.THROTTLE, seconds=3))
    async with sim.client() as client:
        response = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:1]))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["status"] == 429
    assert sim.stats.throttled == 1
    assert sim.stats.requests_created == 0


@pytest.mark.anyio
async def test_script_is_consumed_in_order_and_none_means_no_fault(sim: Simulator) -> None:
    """Script entries apply one per call, in order; Fault(None) lets a call through."""
    _scripted(sim, Fault(None), Fault(FaultKind.ERROR_BEFORE_STORE), Fault(None))
    async with sim.client() as client:
        codes = [(await client.get(commands_path(sim))).status_code for _ in range(4)]
    assert codes == [200, 500, 200, 200]


@pytest.mark.anyio
async def test_endpoints_limit_where_faults_apply(sim: Simulator) -> None:
    """With endpoints={"create"}, reads pass and the script waits for the next create."""
    sim.faults = FaultPlan(script=[Fault(FaultKind.ERROR_BEFORE_STORE)], endpoints={"create"})
    async with sim.client() as client:
        read = await client.get(commands_path(sim))
        created = await client.post(commands_path(sim), json=body(devices=sim.device_ids[:1]))
    assert read.status_code == 200
    assert created.status_code == 500


@pytest.mark.anyio
async def test_probabilities_are_seeded_and_plan_is_live(sim: Simulator) -> None:
    """A seeded probability gives the same pattern each run; editing the plan applies at once."""
    patterns = []
    for _ in range(2):
        sim.faults = FaultPlan(probabilities={"error_before_store": 0.5}, seed=3)
        async with sim.client() as client:
            patterns.append([(await client.get(commands_path(sim))).status_code for _ in range(40)])
    assert patterns[0] == patterns[1]
    assert 8 <= patterns[0].count(500) <= 32
    sim.faults.probabilities.clear()
    sim.faults.script.append(Fault(FaultKind.HTML_503))
    async with sim.client() as client:
        assert (await client.get(commands_path(sim))).status_code == 503
        assert (await client.get(commands_path(sim))).status_code == 200


def test_default_plan_is_empty_and_live(sim: Simulator) -> None:
    """Without faults= the simulator still has a FaultPlan that tests can script."""
    assert sim.faults.script == []
    assert sim.faults.probabilities == {}


def test_bad_plans_are_refused() -> None:
    """Probabilities over 1 or unknown endpoints raise ValueError."""
    with pytest.raises(ValueError, match="at most 1"):
        FaultPlan(probabilities={FaultKind.SLOW: 0.7, FaultKind.THROTTLE: 0.7})
    with pytest.raises(ValueError, match="unknown endpoints"):
        FaultPlan(endpoints={"delete"})


# -- over a real loopback socket ---------------------------------------------------------------


@pytest.mark.anyio
async def test_drop_after_store_over_http_breaks_the_response(sim: Simulator) -> None:
    """Over uvicorn the connection closes mid-body: httpx raises, and the request was stored."""
    _scripted(sim, Fault(FaultKind.DROP_AFTER_STORE))
    with sim.serve_in_thread() as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=sim.headers, timeout=10) as client:
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await client.post(commands_path(sim), json=body(devices=sim.device_ids[:2]))
            listing = (await client.get(commands_path(sim))).json()
    assert listing["count"] == 1
    assert sim.stats.faults == {"drop_after_store": 1}


@pytest.mark.anyio
async def test_slow_over_http_trips_read_timeout(sim: Simulator) -> None:
    """Over uvicorn a slow create trips the client's read timeout after it was stored."""
    _scripted(sim, Fault(FaultKind.SLOW, seconds=3.0))
    with sim.serve_in_thread() as base_url:
        timeout = httpx.Timeout(5.0, read=0.3)
        async with httpx.AsyncClient(base_url=base_url, headers=sim.headers, timeout=timeout) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post(commands_path(sim), json=body(devices=sim.device_ids[:1]))
    assert sim.stats.requests_created == 1


@pytest.mark.anyio
async def test_html_and_malformed_over_http(sim: Simulator) -> None:
    """HTML 503 and malformed JSON arrive intact over a real socket."""
    _scripted(sim, Fault(FaultKind.HTML_503), Fault(FaultKind.MALFORMED_JSON))
    with sim.serve_in_thread() as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=sim.headers, timeout=10) as client:
            html = await client.get(commands_path(sim))
            broken = await client.get(commands_path(sim))
    assert html.status_code == 503
    assert "<html>" in html.text
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        broken.json()
