"""DRF pagination on every list endpoint, and every filter."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from esper_cmds.simulator import ManualClock, Simulator

from ._support import commands_path, create, history_path, offline_ids, online_ids, status_path


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each test on asyncio and on trio."""
    return str(request.param)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.anyio
async def test_default_page_is_20_with_absolute_next_and_null_previous(sim: Simulator) -> None:
    """Without limit a page holds 20; next is absolute on the request's host; previous is null."""
    async with sim.client() as client:
        page = (await client.get(f"/enterprise/{sim.enterprise_id}/device/")).json()
    assert page["count"] == 40
    assert len(page["results"]) == 20
    assert page["previous"] is None
    assert page["next"].startswith(f"http://esper.test/api/enterprise/{sim.enterprise_id}/device/")
    assert _query(page["next"]) == {"limit": ["20"], "offset": ["20"]}


@pytest.mark.anyio
async def test_walking_next_visits_every_item_once_and_ends_with_null(sim: Simulator) -> None:
    """Following next with limit=7 yields all 40 devices in order, the last page has next=null."""
    seen: list[str] = []
    async with sim.client() as client:
        url: str | None = f"/enterprise/{sim.enterprise_id}/device/?limit=7"
        pages = 0
        while url is not None:
            page = (await client.get(url)).json()
            seen += [d["id"] for d in page["results"]]
            url = page["next"]
            pages += 1
    assert pages == 6
    assert len(seen) == 40
    assert len(set(seen)) == 40


@pytest.mark.anyio
async def test_previous_link_omits_offset_on_the_first_page(sim: Simulator) -> None:
    """previous from offset 10 (limit 10) drops offset as DRF does; from 30 it is offset 20."""
    path = f"/enterprise/{sim.enterprise_id}/device/"
    async with sim.client() as client:
        second = (await client.get(path, params={"limit": 10, "offset": 10})).json()
        later = (await client.get(path, params={"limit": 10, "offset": 30})).json()
    assert _query(second["previous"]) == {"limit": ["10"]}
    assert _query(later["previous"]) == {"limit": ["10"], "offset": ["20"]}
    assert later["next"] is None
    assert len(later["results"]) == 10


@pytest.mark.anyio
async def test_limit_is_capped_and_bad_values_fall_back() -> None:
    """limit above max_page_size is capped; a non-numeric or zero limit means the default."""
    sim = Simulator(devices=30, groups=1, max_page_size=25)
    path = f"/enterprise/{sim.enterprise_id}/device/"
    async with sim.client() as client:
        capped = (await client.get(path, params={"limit": 1000})).json()
        junk = (await client.get(path, params={"limit": "abc", "offset": "-3"})).json()
        zero = (await client.get(path, params={"limit": 0})).json()
    assert len(capped["results"]) == 25
    assert len(junk["results"]) == 20
    assert junk["results"][0]["id"] == capped["results"][0]["id"]
    assert len(zero["results"]) == 20


@pytest.mark.anyio
async def test_links_keep_filters_and_use_the_loopback_host(sim: Simulator) -> None:
    """Over a real socket, links carry the server's host:port and the original filters."""
    group = sim.group_ids[0]
    with sim.serve_in_thread() as base_url:
        async with httpx.AsyncClient(headers=sim.headers, timeout=10) as client:
            page = (
                await client.get(
                    f"{base_url}/enterprise/{sim.enterprise_id}/device/",
                    params={"group": group, "limit": 2},
                )
            ).json()
    assert page["next"].startswith(base_url + "/")
    assert _query(page["next"])["group"] == [group]


@pytest.mark.anyio
async def test_status_and_history_pages(sim: Simulator) -> None:
    """Status pages are ordered by device id; history pages are newest first."""
    device = online_ids(sim)[0]
    async with sim.client() as client:
        group_req = await create(client, sim, command_type="GROUP", groups=sim.group_ids)
        first = await create(client, sim, devices=[device], command="LOCK")
        second = await create(client, sim, devices=[device], command="UPDATE_HEARTBEAT")
        statuses = (
            await client.get(status_path(sim, group_req["id"]), params={"limit": 15})
        ).json()
        history = (await client.get(history_path(sim, device), params={"limit": 2})).json()
    devices = [s["device"] for s in statuses["results"]]
    assert statuses["count"] == 40
    assert devices == sorted(devices)
    assert devices == sim.device_ids[:15]
    assert history["count"] == 3
    assert [h["request"] for h in history["results"]] == [second["id"], first["id"]]
    assert _query(history["next"]) == {"limit": ["2"], "offset": ["2"]}


@pytest.mark.anyio
async def test_list_filters(sim: Simulator) -> None:
    """command_type, devices (direct or via a group), device_type, command and issued_by filter."""
    group = sim.group_ids[0]
    member, outsider = sim.group_members(group)[0], sim.group_members(sim.group_ids[1])[0]
    async with sim.client() as client:
        by_group = await create(client, sim, command_type="GROUP", groups=[group], command="LOCK")
        direct = await create(client, sim, devices=[outsider], device_type="active")
        path = commands_path(sim)

        async def ids(**params: str) -> list[str]:
            response = await client.get(path, params=params)
            assert response.status_code == 200
            return [r["id"] for r in response.json()["results"]]

        assert await ids() == [direct["id"], by_group["id"]]  # newest first
        assert await ids(command_type="GROUP") == [by_group["id"]]
        assert await ids(command_type="device") == [direct["id"]]
        assert await ids(devices=member) == [by_group["id"]]
        assert await ids(devices=f"{member},{outsider}") == [direct["id"], by_group["id"]]
        assert await ids(device_type="active") == [direct["id"]]
        assert await ids(command="LOCK") == [by_group["id"]]
        assert await ids(issued_by="1") == [direct["id"], by_group["id"]]
        assert await ids(issued_by="999") == []


@pytest.mark.anyio
async def test_status_filters_device_and_state(sim: Simulator) -> None:
    """The status endpoint filters by device and by state."""
    on, off = online_ids(sim)[:2], offline_ids(sim)[:1]
    async with sim.client() as client:
        req = await create(client, sim, devices=on + off)
        path = status_path(sim, req["id"])
        one = (await client.get(path, params={"device": on[1]})).json()
        queued = (await client.get(path, params={"state": "Command Queued"})).json()
        none = (await client.get(path, params={"device": on[1], "state": "Command Queued"})).json()
    assert [r["device"] for r in one["results"]] == [on[1]]
    assert [r["device"] for r in queued["results"]] == off
    assert none["count"] == 0


@pytest.mark.anyio
async def test_history_filters_by_state(sim: Simulator) -> None:
    """Command history filters by state as the lifecycle moves."""
    device = online_ids(sim)[0]
    async with sim.client() as client:
        await create(client, sim, devices=[device])
        assert isinstance(sim.clock, ManualClock)
        sim.clock.advance(5)
        await create(client, sim, devices=[device])
        path = history_path(sim, device)
        done = (await client.get(path, params={"state": "Command Success"})).json()
        fresh = (await client.get(path, params={"state": "Command Initiated"})).json()
    assert done["count"] == 1
    assert fresh["count"] == 1
    assert done["results"][0]["request"] != fresh["results"][0]["request"]


@pytest.mark.anyio
async def test_device_and_group_filters(sim: Simulator) -> None:
    """Devices filter by group, name and search; groups filter by name."""
    group = sim.group_ids[2]
    async with sim.client() as client:
        base = f"/enterprise/{sim.enterprise_id}"
        in_group = await client.get(f"{base}/device/", params={"group": group, "limit": 100})
        named = (await client.get(f"{base}/device/", params={"name": "SIM-000003"})).json()
        searched = (await client.get(f"{base}/device/", params={"search": "sim-00001"})).json()
        groups = await client.get(f"{base}/devicegroup/", params={"name": "sim-group-002"})
    assert sorted(d["id"] for d in in_group.json()["results"]) == sim.group_members(group)
    assert [d["device_name"] for d in named["results"]] == ["SIM-000003"]
    assert searched["count"] == 10  # SIM-000010 … SIM-000019
    group_page = groups.json()
    assert [g["name"] for g in group_page["results"]] == ["sim-group-002"]
    assert group_page["results"][0]["device_count"] == len(
        sim.group_members(group_page["results"][0]["id"])
    )


@pytest.mark.anyio
async def test_device_status_field_tracks_online_state(sim: Simulator) -> None:
    """A device's `status` is 1 online and 60 offline, following set_online."""
    device = offline_ids(sim)[0]
    path = f"/enterprise/{sim.enterprise_id}/device/"

    async def status(client: httpx.AsyncClient) -> int:
        page = (await client.get(path, params={"limit": 100})).json()
        return next(int(d["status"]) for d in page["results"] if d["id"] == device)

    async with sim.client() as client:
        assert await status(client) == 60
        sim.set_online(device, True)
        assert await status(client) == 1
