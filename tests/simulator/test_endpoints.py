"""The documented device filters, UUIDs in any case, 405 with Allow, and a read-only key's 403."""

from __future__ import annotations

from typing import Any

import pytest

from esper_cmds.simulator import Simulator

from ._support import body, commands_path, create, history_path, status_path


def _devices_path(sim: Simulator) -> str:
    return f"/enterprise/{sim.enterprise_id}/device/"


async def _listed(sim: Simulator, **params: str) -> list[dict[str, Any]]:
    async with sim.client() as client:
        response = await client.get(_devices_path(sim), params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert response.json()["count"] == len(results)
    return results


@pytest.mark.anyio
async def test_each_documented_device_filter_narrows_the_listing(sim: Simulator) -> None:
    """imei, serial, brand, state, is_gms, tags, name, group and search each filter the fleet."""
    everyone = await _listed(sim)
    assert len(everyone) == 40
    target = everyone[5]
    hardware = target["hardwareInfo"]
    mac = target["networkInfo"]["wifiMacAddress"]

    assert [d["id"] for d in await _listed(sim, imei=hardware["imei"])] == [target["id"]]
    by_serial = await _listed(sim, serial=hardware["serialNumber"].lower())
    assert [d["id"] for d in by_serial] == [target["id"]]
    assert [d["id"] for d in await _listed(sim, search=mac.upper())] == [target["id"]]
    assert [d["id"] for d in await _listed(sim, search=hardware["imei"][-9:])] == [target["id"]]

    brand = await _listed(sim, brand=hardware["brand"].upper())
    assert 0 < len(brand) < 40
    assert all(d["hardwareInfo"]["brand"] == hardware["brand"] for d in brand)

    non_gms = await _listed(sim, is_gms="false")
    gms = await _listed(sim, is_gms="true")
    assert non_gms
    assert gms
    assert len(non_gms) + len(gms) == 40
    assert not any(d["is_gms"] for d in non_gms)

    kiosk = await _listed(sim, tags="KIO")
    assert 0 < len(kiosk) < 40
    assert all(any("kio" in t for t in d["tags"]) for d in kiosk)

    assert len(await _listed(sim, state="1")) == 40
    assert await _listed(sim, state="2") == []
    both = await _listed(sim, brand=hardware["brand"], is_gms="true", tags="kiosk")
    assert all(d in brand and d in gms and d in kiosk for d in both)


@pytest.mark.parametrize("params", [{"state": "on"}, {"is_gms": "maybe"}, {"group": "x"}])
@pytest.mark.anyio
async def test_malformed_device_filters_are_400(sim: Simulator, params: dict[str, str]) -> None:
    """A filter of the wrong type is a 400 with Esper's error body, not an empty page."""
    async with sim.client() as client:
        response = await client.get(_devices_path(sim), params=params)
    assert response.status_code == 400
    assert response.json()["status"] == 400


@pytest.mark.anyio
async def test_uuids_in_paths_and_queries_match_in_any_case(sim: Simulator) -> None:
    """Upper-case request, device and group ids find the same things as lower-case ones."""
    device = sim.device_ids[0]
    group = sim.group_ids[0]
    async with sim.client() as client:
        req = await create(client, sim, devices=[device])
        statuses = await client.get(status_path(sim, req["id"].upper()))
        filtered = await client.get(status_path(sim, req["id"]), params={"device": device.upper()})
        history = await client.get(history_path(sim, device.upper()))
        listing = await client.get(commands_path(sim), params={"devices": device.upper()})
        members = await client.get(_devices_path(sim), params={"group": group.upper()})
    assert statuses.json()["count"] == 1
    assert filtered.json()["count"] == 1
    assert history.json()["count"] == 1
    assert listing.json()["count"] == 1
    assert sorted(d["id"] for d in members.json()["results"]) == sim.group_members(group)


@pytest.mark.anyio
async def test_command_filter_matches_in_any_case(sim: Simulator) -> None:
    """The list filter ``command=reboot`` finds REBOOT requests."""
    async with sim.client() as client:
        await create(client, sim, devices=sim.device_ids[:1])
        found = await client.get(commands_path(sim), params={"command": "reboot"})
    assert found.json()["count"] == 1


@pytest.mark.anyio
async def test_405_says_which_methods_are_allowed(sim: Simulator) -> None:
    """A wrong method answers 405 with an Allow header and Esper's error body."""
    async with sim.client() as client:
        delete = await client.delete(commands_path(sim))
        post = await client.post(_devices_path(sim), json={})
    assert delete.status_code == 405
    assert set(delete.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert delete.json()["status"] == 405
    assert post.status_code == 405
    assert "GET" in post.headers["allow"]


@pytest.mark.anyio
async def test_a_read_only_key_reads_but_gets_403_on_create() -> None:
    """A key configured read-only lists and reads, and is refused 403 on create."""
    sim = Simulator(devices=4, groups=1, read_only_api_keys=["viewer-key"])
    headers = {"Authorization": "Bearer viewer-key"}
    async with sim.client() as admin:
        await create(admin, sim, devices=sim.device_ids[:1])
    async with sim.client() as client:
        listing = await client.get(commands_path(sim), headers=headers)
        created = await client.post(
            commands_path(sim), json=body(devices=sim.device_ids[:1]), headers=headers
        )
        devices = await client.get(_devices_path(sim), headers=headers)
    assert listing.status_code == 200
    assert listing.json()["count"] == 1
    assert devices.status_code == 200
    assert created.status_code == 403
    assert created.json()["status"] == 403
    assert "permission" in created.json()["message"]
    assert sim.stats.requests_created == 1
