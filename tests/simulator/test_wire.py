"""The simulator's fast paths answer exactly what the plain ones did.

Status rows and request bodies are written as JSON text directly, ids are validated by set
lookup, and the history index and the per-device counters are built lazily; these tests pin down
that the answers stay canonical JSON with the same fields, in memory and over loopback.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from esper_cmds.simulator import STATES, ManualClock, Simulator

from ._support import (
    commands_path,
    create,
    history_path,
    offline_ids,
    online_ids,
    status_path,
)

STATUS_KEYS = ["id", "request", "device", "state", "reason", "created_on", "updated_on"]
REQUEST_KEYS = [
    *("id", "enterprise", "command_type", "devices", "groups", "device_type", "command"),
    *("command_args", "schedule", "schedule_args", "issued_by", "created_on", "status"),
]


def _canonical(response: httpx.Response) -> Any:
    """The decoded body, after asserting it is byte for byte what `json.dumps` writes."""
    data = response.json()
    assert response.content == json.dumps(data, separators=(",", ":")).encode()
    return data


def _clock(sim: Simulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


@pytest.mark.anyio
async def test_status_history_list_and_create_bodies_are_canonical_json() -> None:
    """Every state's rows, history, list and create answers are canonical JSON, fields in order."""
    sim = Simulator(devices=40, groups=2, offline=0.5, failure_rate=0.5, queue_expiry_seconds=50)
    clock = _clock(sim)
    on, off = online_ids(sim), offline_ids(sim)
    # Text that must be escaped in the echo (quotes, a backslash, non-ASCII).
    notice = {"title": 'Europe/"Q"\u00e9', "message": "caf\u00e9 \\ done"}
    window = {"start_datetime": f"{clock.now().year + 1}-01-01T00:00:00Z"}
    window["end_datetime"] = f"{clock.now().year + 2}-01-01T00:00:00Z"
    async with sim.client() as client:
        created = await client.post(
            commands_path(sim),
            json={
                "command_type": "DEVICE",
                "devices": on[:10] + off[:4],
                "device_type": "all",
                "command": "NOTIFY_DEVICE",
                "command_args": notice,
            },
        )
        assert created.status_code == 201
        assert list(_canonical(created)) == REQUEST_KEYS
        cancelled = await create(client, sim, devices=off[4:6])
        sim.cancel_request(cancelled["id"])
        await create(client, sim, devices=on[10:12], schedule="WINDOW", schedule_args=window)
        clock.advance(0.5)
        seen: set[str] = set()
        for moment in (0.0, 1.2, 1.0, 1.0, 60.0):
            clock.advance(moment)
            listing = _canonical(await client.get(commands_path(sim), params={"limit": "10"}))
            for item in listing["results"]:
                assert list(item) == REQUEST_KEYS
                for offset in ("0", "5"):
                    page = await client.get(
                        status_path(sim, item["id"]), params={"limit": "5", "offset": offset}
                    )
                    for row in _canonical(page)["results"]:
                        assert list(row) == STATUS_KEYS
                        assert row["request"] == item["id"]
                        seen.add(row["state"])
        history = _canonical(await client.get(history_path(sim, off[0])))
        assert [list(row) for row in history["results"]] == [STATUS_KEYS]
    assert created.json()["command_args"] == notice
    assert seen == set(STATES)


@pytest.mark.anyio
async def test_listed_request_keeps_its_fields_and_follows_the_clock(sim: Simulator) -> None:
    """A listed request repeats the create answer's fields; only `status` moves with time."""
    clock = _clock(sim)
    async with sim.client() as client:
        created = await create(client, sim, devices=online_ids(sim)[:3])
        first = (await client.get(commands_path(sim))).json()["results"][0]
        clock.advance(10)
        later = (await client.get(commands_path(sim))).json()["results"][0]
    fixed = {k: v for k, v in created.items() if k != "status"}
    assert {k: v for k, v in first.items() if k != "status"} == fixed
    assert {k: v for k, v in later.items() if k != "status"} == fixed
    assert first["status"] == created["status"] == [{"state": "Command Initiated", "total": 3}]
    assert later["status"] == [{"state": "Command Success", "total": 3}]


@pytest.mark.anyio
async def test_status_ids_are_stable_distinct_version_4_uuids(sim: Simulator) -> None:
    """Per-device command ids repeat across reads, differ across rows and requests, and are v4."""
    devices = sim.device_ids[:12]
    async with sim.client() as client:
        one = await create(client, sim, devices=devices)
        two = await create(client, sim, devices=devices)
        pages = []
        for request_id in (one["id"], two["id"], one["id"]):
            for offset in ("0", "5", "10"):
                response = await client.get(
                    status_path(sim, request_id), params={"limit": "5", "offset": offset}
                )
                pages.append([row["id"] for row in response.json()["results"]])
    first, second, again = ([i for page in pages[k : k + 3] for i in page] for k in (0, 3, 6))
    assert first == again
    assert len(set(first + second)) == 2 * len(devices)
    for value in first + second:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.anyio
async def test_history_includes_requests_created_after_an_earlier_read(sim: Simulator) -> None:
    """Command history is complete and newest first, however creates and reads interleave."""
    device = sim.device_ids[0]
    async with sim.client() as client:
        one = await create(client, sim, devices=[device, sim.device_ids[1]])
        before = (await client.get(history_path(sim, device))).json()
        two = await create(client, sim, devices=[device])
        await create(client, sim, devices=[sim.device_ids[2]])
        after = (await client.get(history_path(sim, device))).json()
        other = (await client.get(history_path(sim, sim.device_ids[2]))).json()
    assert [row["request"] for row in before["results"]] == [one["id"]]
    assert [row["request"] for row in after["results"]] == [two["id"], one["id"]]
    assert after["count"] == 2
    assert other["count"] == 1


@pytest.mark.anyio
async def test_stats_count_creates_around_snapshots_and_resets(sim: Simulator) -> None:
    """Counters include creates made after a snapshot; a reset drops ones not yet read."""
    devices = sim.device_ids[:4]
    async with sim.client() as client:
        await create(client, sim, devices=devices)
        assert sim.stats.commands[(devices[0], "REBOOT")] == 1
        await create(client, sim, devices=devices[:2])
        await create(client, sim, devices=devices[:1], command="LOCK")
        stats = sim.stats
        assert stats.commands[(devices[0], "REBOOT")] == 2
        assert stats.commands[(devices[3], "REBOOT")] == 1
        assert stats.commands[(devices[0], "LOCK")] == 1
        assert stats.requests_created == 3
        await create(client, sim, devices=devices)
        sim.reset_stats()
        await create(client, sim, devices=devices[1:2])
    assert sim.stats.commands == {(devices[1], "REBOOT"): 1}
    assert sim.stats.requests_created == 1


@pytest.mark.anyio
async def test_ids_in_other_spellings_or_invalid_take_the_slow_path(sim: Simulator) -> None:
    """Other spellings are canonicalised and de-duplicated; junk and unknown ids are 400s."""
    known = sim.device_ids[:3]
    spellings = [known[0], known[0].upper(), "{" + known[1] + "}", f"urn:uuid:{known[2]}"]
    unknown = str(uuid.UUID(int=1))
    async with sim.client() as client:
        mixed = await create(client, sim, devices=[*spellings, known[1]])
        rejected = {
            name: await client.post(
                commands_path(sim),
                json={"command_type": "DEVICE", "devices": devices, "command": "REBOOT"},
            )
            for name, devices in {
                "object": [known[0], {"id": known[1]}],
                "list": [[known[0]]],
                "number": [known[0], 7],
                "unknown": [known[0], unknown, known[1]],
            }.items()
        }
    assert mixed["devices"] == known
    assert sum(s["total"] for s in mixed["status"]) == 3
    for name, response in rejected.items():
        assert response.status_code == 400, name
        assert response.json()["errors"], name
    assert rejected["unknown"].json()["errors"] == [f"devices: unknown device {unknown}"]


@pytest.mark.anyio
async def test_pins_made_before_a_create_decide_its_rows(sim: Simulator) -> None:
    """A device brought online (or taken offline) before a create starts (or queues) at once."""
    woken, silenced = offline_ids(sim)[0], online_ids(sim)[0]
    sim.set_online(woken, True)
    sim.set_online(silenced, False)
    async with sim.client() as client:
        created = await create(client, sim, devices=sorted([woken, silenced]))
        rows = (await client.get(status_path(sim, created["id"]))).json()["results"]
    assert {row["device"]: row["state"] for row in rows} == {
        woken: "Command Initiated",
        silenced: "Command Queued",
    }


def test_loopback_bodies_are_canonical_with_exact_lengths(sim: Simulator) -> None:
    """Over real HTTP a create and a status page arrive whole, as canonical JSON."""
    with (
        sim.serve_in_thread() as base_url,
        httpx.Client(base_url=base_url, headers=sim.headers, timeout=10) as client,
    ):
        everything = {"command_type": "DEVICE", "devices": sim.device_ids, "command": "REBOOT"}
        created = client.post(commands_path(sim), json={**everything, "device_type": "all"})
        page = client.get(status_path(sim, created.json()["id"]), params={"limit": "7"})
    for response in (created, page):
        assert int(response.headers["content-length"]) == len(response.content)
        assert response.headers["content-type"] == "application/json"
    assert _canonical(created)["devices"] == sim.device_ids
    assert [row["device"] for row in _canonical(page)["results"]] == sim.device_ids[:7]


@pytest.mark.parametrize("churn_seconds", [None, 30.0])
@pytest.mark.parametrize("offline", [0.0, 0.4, 1.0])
def test_start_times_in_bulk_equal_one_by_one(churn_seconds: float | None, offline: float) -> None:
    """The bulk start-time path agrees with the per-device one, with churn, pins or neither."""
    sim = Simulator(devices=60, groups=0, offline=offline, churn_seconds=churn_seconds, seed=3)
    clock = _clock(sim)
    fleet = sim._fleet
    indexes = [fleet.index_of[d] for d in sim.device_ids]
    for step, device in enumerate(sim.device_ids[:6]):
        clock.advance(7.5)
        sim.set_online(device, step % 2 == 0)
    for t in (clock.time() - 40, clock.time() - 20, clock.time(), clock.time() + 13.25):
        assert fleet.next_online_many(indexes, t) == [fleet.next_online(i, t) for i in indexes]
