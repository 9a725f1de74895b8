"""Wire compatibility: the official `esperclient` SDK parses every response the simulator sends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import anyio
import esperclient
import pytest
from esperclient.rest import ApiException

from esper_cmds.simulator import STATES, ManualClock, Simulator


@pytest.fixture
def fleet() -> Simulator:
    """A fleet with failures and short queue expiry, so every state can be reached quickly."""
    return Simulator(devices=60, groups=3, offline=0.5, failure_rate=0.5, queue_expiry_seconds=100)


@pytest.fixture
def sdk(fleet: Simulator) -> Iterator[esperclient.ApiClient]:
    """An esperclient ApiClient pointed at the simulator on loopback."""
    with fleet.serve_in_thread() as base_url:
        config = esperclient.Configuration()
        config.host = base_url
        config.api_key["Authorization"] = fleet.api_key
        config.api_key_prefix["Authorization"] = "Bearer"
        yield esperclient.ApiClient(config)


def _create(api: Any, sim: Simulator, devices: list[str], **fields: Any) -> Any:
    request = esperclient.V0CommandRequest(
        command_type="DEVICE", devices=devices, device_type="all", command="REBOOT", **fields
    )
    return api.create_command(sim.enterprise_id, request)


def test_sdk_parses_every_state_on_every_endpoint(
    fleet: Simulator, sdk: esperclient.ApiClient
) -> None:
    """create, list, statuses and history parse through the SDK with all nine states present."""
    api = esperclient.CommandsV2Api(sdk)
    clock = fleet.clock
    assert isinstance(clock, ManualClock)
    on = [d for d in fleet.device_ids if fleet.is_online(d)]
    off = [d for d in fleet.device_ids if not fleet.is_online(d)]
    eid = fleet.enterprise_id

    _create(api, fleet, off[:2])  # -> TimeOut
    _create(api, fleet, on[:20])  # -> Success / Failure
    clock.advance(100)
    _create(api, fleet, off[2:4])  # Queued
    cancelled = _create(api, fleet, off[4:6])
    fleet.cancel_request(cancelled.id)  # Cancelled
    _create(api, fleet, on[20:22])  # In Progress after two steps
    clock.advance(1)
    _create(api, fleet, on[22:24])  # Acknowledged after one step
    clock.advance(1)
    _create(api, fleet, on[24:26])  # Initiated
    start = clock.now() + dt.timedelta(seconds=100)
    created = _create(
        api,
        fleet,
        on[26:28],
        schedule="WINDOW",
        schedule_args=esperclient.V0CommandScheduleArgs(
            name="later", start_datetime=start, end_datetime=start + dt.timedelta(hours=1)
        ),
    )  # Scheduled
    assert isinstance(created, esperclient.V0CommandRequest)
    assert created.status[0].state == "Command Scheduled"
    assert created.created_on == clock.now()

    listing = api.list_command_request(eid)
    assert listing.count == 8
    assert listing.next is None
    seen: set[str] = set()
    for request in listing.results:
        page = api.get_command_request_status(eid, request.id)
        assert page.count == sum(s.total for s in request.status)
        seen |= {status.state for status in page.results}
        for status in page.results:
            assert isinstance(status, esperclient.V0CommandStatus)
            assert status.request == request.id
    assert seen == set(STATES)

    history_states: set[str] = set()
    for device in on[:28] + off[:6]:
        history = api.get_device_command_history(eid, device)
        history_states |= {status.state for status in history.results}
    assert history_states == set(STATES)

    filtered = api.get_command_request_status(eid, listing.results[-2].id, state="Command Failure")
    assert {s.state for s in filtered.results} <= {"Command Failure"}
    by_type = api.list_command_request(eid, command_type="DEVICE", devices=",".join(on[:2]))
    assert by_type.count == 1


def test_sdk_parses_device_and_group_pages(fleet: Simulator, sdk: esperclient.ApiClient) -> None:
    """DeviceApi.get_all_devices and DeviceGroupApi.get_all_groups parse every page."""
    devices_api = esperclient.DeviceApi(sdk)
    groups_api = esperclient.DeviceGroupApi(sdk)
    eid = fleet.enterprise_id
    seen: list[str] = []
    offset = 0
    while True:
        page = devices_api.get_all_devices(eid, limit=25, offset=offset)
        seen += [d.id for d in page.results]
        if page.next is None:
            break
        offset += 25
    assert sorted(seen) == fleet.device_ids
    group = fleet.group_ids[0]
    members = devices_api.get_all_devices(eid, group=group, limit=100)
    assert sorted(d.id for d in members.results) == fleet.group_members(group)
    groups = groups_api.get_all_groups(eid)
    assert sorted(g.id for g in groups.results) == fleet.group_ids
    assert all(g.name for g in groups.results)


def test_sdk_sees_errors_as_api_exceptions(fleet: Simulator, sdk: esperclient.ApiClient) -> None:
    """A 400 and a 401 reach the SDK as ApiException with Esper's JSON body."""
    api = esperclient.CommandsV2Api(sdk)
    with pytest.raises(ApiException) as bad:
        _create(api, fleet, fleet.device_ids[:1], command_args={"x": 1}, schedule="WINDOW")
    assert bad.value.status == 400
    assert '"status":400' in bad.value.body
    sdk.configuration.api_key["Authorization"] = "wrong"
    with pytest.raises(ApiException) as unauthorised:
        api.list_command_request(fleet.enterprise_id)
    assert unauthorised.value.status == 401


@pytest.mark.anyio
async def test_sdk_from_async_code_in_a_worker_thread(fleet: Simulator) -> None:
    """The sync SDK works from async code via anyio.to_thread against serve_in_thread."""
    with fleet.serve_in_thread() as base_url:
        config = esperclient.Configuration()
        config.host = base_url
        config.api_key["Authorization"] = fleet.api_key
        config.api_key_prefix["Authorization"] = "Bearer"
        api = esperclient.CommandsV2Api(esperclient.ApiClient(config))
        created = await anyio.to_thread.run_sync(lambda: _create(api, fleet, fleet.device_ids[:3]))
        page = await anyio.to_thread.run_sync(
            lambda: api.get_command_request_status(fleet.enterprise_id, created.id)
        )
    assert page.count == 3


def test_sdk_device_filters(fleet: Simulator, sdk: esperclient.ApiClient) -> None:
    """Each documented device filter works through DeviceApi.get_all_devices and parses."""
    devices_api = esperclient.DeviceApi(sdk)
    eid = fleet.enterprise_id
    everyone = devices_api.get_all_devices(eid, limit=100).results
    target = everyone[7]
    hardware = target.hardware_info
    by_imei = devices_api.get_all_devices(eid, imei=hardware["imei"])
    assert [d.id for d in by_imei.results] == [target.id]
    by_serial = devices_api.get_all_devices(eid, serial=hardware["serialNumber"])
    assert [d.id for d in by_serial.results] == [target.id]
    by_mac = devices_api.get_all_devices(eid, search=target.network_info["wifiMacAddress"])
    assert [d.id for d in by_mac.results] == [target.id]
    brand = devices_api.get_all_devices(eid, brand=hardware["brand"], limit=100).results
    assert brand
    assert {d.hardware_info["brand"] for d in brand} == {hardware["brand"]}
    gms = devices_api.get_all_devices(eid, is_gms=False, limit=100).results
    assert gms
    assert not any(d.is_gms for d in gms)
    tagged = devices_api.get_all_devices(eid, tags="scan", limit=100).results
    assert tagged
    assert all("scanner" in d.tags for d in tagged)
    assert devices_api.get_all_devices(eid, state=1, limit=100).count == len(fleet.device_ids)
    assert devices_api.get_all_devices(eid, state=3).count == 0
    upper = devices_api.get_all_devices(eid, group=fleet.group_ids[0].upper(), limit=100)
    assert sorted(d.id for d in upper.results) == fleet.group_members(fleet.group_ids[0])


def test_sdk_creates_and_reads_scheduled_requests(
    fleet: Simulator, sdk: esperclient.ApiClient
) -> None:
    """WINDOW and RECURRING with days, a daily window and time_type parse through the SDK in
    every state they pass through (Scheduled, Queued, running, retrying, Success, Failure)."""
    api = esperclient.CommandsV2Api(sdk)
    clock = fleet.clock
    assert isinstance(clock, ManualClock)
    eid = fleet.enterprise_id
    on = [d for d in fleet.device_ids if fleet.is_online(d)]
    start = clock.now()
    seen: set[str] = set()
    created = []
    for schedule in ("WINDOW", "RECURRING"):
        args = esperclient.V0CommandScheduleArgs(
            name=f"nightly-{schedule.lower()}",
            start_datetime=start,
            end_datetime=start + dt.timedelta(days=3),
            time_type="device",
            window_start_time="02:00:00",
            window_end_time="03:00:00",
            days=["Thursday", "Friday", "Saturday"],
        )
        request = _create(api, fleet, on[:10], schedule=schedule, schedule_args=args)
        assert request.schedule == schedule
        assert request.schedule_args.days == ["Thursday", "Friday", "Saturday"]
        assert request.schedule_args.time_type == "device"
        created.append(request.id)
    for hours in (1, 1, 1, 24, 24, 24):
        for request_id in created:
            page = api.get_command_request_status(eid, request_id)
            seen |= {s.state for s in page.results}
            listed = api.list_command_request(eid)
            assert all(isinstance(r, esperclient.V0CommandRequest) for r in listed.results)
        clock.advance(hours * 3600)
    assert {"Command Scheduled", "Command Success", "Command Failure"} <= seen


def test_sdk_sees_403_for_a_read_only_key() -> None:
    """A read-only key lists through the SDK and gets ApiException 403 on create."""
    sim = Simulator(devices=3, groups=1, read_only_api_keys=["viewer"])
    with sim.serve_in_thread() as base_url:
        config = esperclient.Configuration()
        config.host = base_url
        config.api_key["Authorization"] = "viewer"
        config.api_key_prefix["Authorization"] = "Bearer"
        api = esperclient.CommandsV2Api(esperclient.ApiClient(config))
        assert api.list_command_request(sim.enterprise_id).count == 0
        with pytest.raises(ApiException) as forbidden:
            _create(api, sim, sim.device_ids[:1])
    assert forbidden.value.status == 403
    assert '"status":403' in forbidden.value.body
