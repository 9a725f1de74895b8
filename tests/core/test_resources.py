"""The resources: every endpoint, every documented filter and the exact request sent."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from esper_cmds import (
    Command,
    CommandState,
    CommandType,
    DeviceType,
    ValidationError,
)

from .._support import (
    API_KEY,
    BASE_URL,
    DEVICE_A,
    DEVICE_B,
    GROUP_A,
    REQUEST_ID,
    V0,
    V1,
    make_client,
    make_router,
    page_json,
    query_of,
    request_json,
    status_json,
)


@pytest.mark.anyio
async def test_create_posts_the_validated_body_and_returns_the_request() -> None:
    """create() POSTs the exact JSON body with the bearer key and decodes the 201."""
    router = make_router()
    route = router.post(f"{V0}/command/").mock(
        return_value=httpx.Response(
            201, json=request_json(command_type="DEVICE", devices=[DEVICE_A], groups=[])
        )
    )
    async with make_client(router) as client:
        created = await client.commands.create(
            command="SET_BRIGHTNESS_SCALE",
            devices=[DEVICE_A],
            device_type=DeviceType.ALL,
            command_args={"brightness_value": 80},
        )
    sent = route.calls.last.request
    assert sent.method == "POST"
    assert str(sent.url) == f"{BASE_URL}{V0}/command/"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content) == {
        "command_type": "DEVICE",
        "devices": [DEVICE_A],
        "device_type": "all",
        "command": "SET_BRIGHTNESS_SCALE",
        "command_args": {"brightness_value": 80},
        "schedule": "IMMEDIATE",
    }
    assert created.id == uuid.UUID(REQUEST_ID)
    assert created.devices == (uuid.UUID(DEVICE_A),)


@pytest.mark.anyio
async def test_create_for_groups_sends_a_group_request() -> None:
    """Groups are sent as a GROUP request with the groups list."""
    router = make_router()
    route = router.post(f"{V0}/command/").mock(
        return_value=httpx.Response(201, json=request_json())
    )
    async with make_client(router) as client:
        await client.commands.create(command=Command.REBOOT, groups=[GROUP_A])
    body = json.loads(route.calls.last.request.content)
    assert (body["command_type"], body["groups"]) == ("GROUP", [GROUP_A])
    assert "devices" not in body


@pytest.mark.anyio
async def test_invalid_create_sends_nothing() -> None:
    """A create that fails validation never reaches the server."""
    router = make_router()
    route = router.post(f"{V0}/command/").mock(return_value=httpx.Response(201))
    async with make_client(router) as client:
        with pytest.raises(ValidationError, match="brightness_value"):
            await client.commands.create(
                command="SET_BRIGHTNESS_SCALE",
                devices=[DEVICE_A],
                command_args={"brightness_value": 0},
            )
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "expected_query"),
    [
        ({}, ""),
        ({"command_type": CommandType.DYNAMIC}, "command_type=DYNAMIC"),
        ({"command_type": "GROUP"}, "command_type=GROUP"),
        ({"devices": [DEVICE_A]}, f"devices={DEVICE_A}"),
        ({"devices": [DEVICE_A, uuid.UUID(DEVICE_B)]}, f"devices={DEVICE_A}%2C{DEVICE_B}"),
        ({"device_type": "inactive"}, "device_type=inactive"),
        ({"command": Command.WIPE}, "command=WIPE"),
        # Filter values in any case are sent as the API spells them.
        ({"command_type": "device"}, "command_type=DEVICE"),
        ({"device_type": "ALL"}, "device_type=all"),
        ({"command": "reboot"}, "command=REBOOT"),
        ({"issued_by": 1234}, "issued_by=1234"),
        ({"issued_by": "42"}, "issued_by=42"),
        ({"page_size": 50}, "limit=50"),
        (
            {
                "command_type": "DEVICE",
                "devices": [DEVICE_A],
                "device_type": "all",
                "command": "REBOOT",
                "issued_by": 7,
                "page_size": 5,
            },
            f"command_type=DEVICE&devices={DEVICE_A}&device_type=all&command=REBOOT"
            "&issued_by=7&limit=5",
        ),
    ],
)
@pytest.mark.anyio
async def test_list_requests_sends_each_filter(kwargs: dict[str, Any], expected_query: str) -> None:
    """commands.list() sends each documented filter exactly as the API spells it."""
    router = make_router()
    route = router.get(f"{V0}/command/").mock(
        return_value=httpx.Response(200, json=page_json([request_json()]))
    )
    async with make_client(router) as client:
        items = await client.commands.list(**kwargs).to_list(max_items=10)
    assert query_of(route.calls.last.request) == expected_query
    assert [r.id for r in items] == [uuid.UUID(REQUEST_ID)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"command_type": "fleet"}, "command_type"),
        ({"devices": ["nope"]}, "devices[0]"),
        ({"device_type": "online"}, "device_type"),
        ({"command": "DANCE"}, "command"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
    ],
)
@pytest.mark.anyio
async def test_list_requests_refuses_bad_filters_at_once(
    kwargs: dict[str, Any], field: str
) -> None:
    """A bad filter is refused when the pager is made, before any request."""
    router = make_router()
    async with make_client(router) as client:
        with pytest.raises(ValidationError) as caught:
            client.commands.list(**kwargs)
    assert caught.value.field == field
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "expected_query"),
    [
        ({}, ""),
        ({"device": DEVICE_A}, f"device={DEVICE_A}"),
        ({"state": CommandState.SUCCESS}, "state=Command+Success"),
        ({"state": "Command TimeOut"}, "state=Command+TimeOut"),
        ({"state": "in_progress"}, "state=Command+In+Progress"),
        ({"state": "Command Paused"}, "state=Command+Paused"),
        (
            {"device": uuid.UUID(DEVICE_B), "state": "QUEUED", "page_size": 100},
            f"device={DEVICE_B}&state=Command+Queued&limit=100",
        ),
    ],
)
@pytest.mark.anyio
async def test_statuses_sends_each_filter(kwargs: dict[str, Any], expected_query: str) -> None:
    """commands.statuses() hits the request's status path with device and state filters."""
    router = make_router()
    route = router.get(f"{V0}/command/{REQUEST_ID}/status/").mock(
        return_value=httpx.Response(200, json=page_json([status_json()]))
    )
    async with make_client(router) as client:
        items = await client.commands.statuses(REQUEST_ID, **kwargs).to_list(max_items=10)
    assert query_of(route.calls.last.request) == expected_query
    assert items[0].state is CommandState.FAILURE


@pytest.mark.anyio
async def test_statuses_refuses_a_malformed_request_id() -> None:
    """A malformed request id or device id is refused by name."""
    router = make_router()
    async with make_client(router) as client:
        with pytest.raises(ValidationError) as caught:
            client.commands.statuses("42")
        assert caught.value.field == "request_id"
        with pytest.raises(ValidationError) as caught:
            client.commands.statuses(REQUEST_ID, device="d1")
        assert caught.value.field == "device"
        with pytest.raises(ValidationError) as caught:
            client.commands.statuses(REQUEST_ID, state="")
        assert caught.value.field == "state"


@pytest.mark.parametrize(
    ("kwargs", "expected_query"),
    [
        ({}, ""),
        ({"state": CommandState.QUEUED}, "state=Command+Queued"),
        ({"state": "Command Success", "page_size": 3}, "state=Command+Success&limit=3"),
    ],
)
@pytest.mark.anyio
async def test_command_history_sends_its_filter(
    kwargs: dict[str, Any], expected_query: str
) -> None:
    """devices.command_history() hits the v0 history path with the state filter."""
    router = make_router()
    route = router.get(f"{V0}/device/{DEVICE_A}/command-history/").mock(
        return_value=httpx.Response(200, json=page_json([status_json(0), status_json(1)]))
    )
    async with make_client(router) as client:
        items = await client.devices.command_history(DEVICE_A, **kwargs).to_list(max_items=10)
    assert query_of(route.calls.last.request) == expected_query
    assert len(items) == 2


@pytest.mark.parametrize(
    ("kwargs", "expected_query"),
    [
        ({}, ""),
        ({"name": "ACME-1"}, "name=ACME-1"),
        ({"group": GROUP_A}, f"group={GROUP_A}"),
        ({"imei": "356938035643809"}, "imei=356938035643809"),
        ({"serial": "R58M"}, "serial=R58M"),
        ({"state": 20}, "state=20"),
        ({"brand": "Samsung"}, "brand=Samsung"),
        ({"is_gms": False}, "is_gms=false"),
        ({"is_gms": True}, "is_gms=true"),
        ({"search": "front desk"}, "search=front+desk"),
        ({"tags": "lobby"}, "tags=lobby"),
        ({"page_size": 200}, "limit=200"),
    ],
)
@pytest.mark.anyio
async def test_device_listing_sends_each_filter(
    kwargs: dict[str, Any], expected_query: str
) -> None:
    """devices.list() hits the unversioned device path with each filter of the OpenAPI."""
    router = make_router()
    route = router.get(f"{V1}/device/").mock(
        return_value=httpx.Response(200, json=page_json([{"id": DEVICE_A, "softwareInfo": {}}]))
    )
    async with make_client(router) as client:
        devices = await client.devices.list(**kwargs).to_list(max_items=10)
    assert query_of(route.calls.last.request) == expected_query
    assert devices[0].id == uuid.UUID(DEVICE_A)
    assert devices[0].software_info == {}


@pytest.mark.parametrize(
    ("kwargs", "expected_query"),
    [({}, ""), ({"name": "Berlin"}, "name=Berlin"), ({"page_size": 7}, "limit=7")],
)
@pytest.mark.anyio
async def test_group_listing_sends_each_filter(kwargs: dict[str, Any], expected_query: str) -> None:
    """groups.list() hits the devicegroup path with the name filter and page size."""
    router = make_router()
    route = router.get(f"{V1}/devicegroup/").mock(
        return_value=httpx.Response(
            200, json=page_json([{"id": GROUP_A, "name": "Berlin", "device_count": 3}])
        )
    )
    async with make_client(router) as client:
        groups = await client.groups.list(**kwargs).to_list(max_items=10)
    assert query_of(route.calls.last.request) == expected_query
    assert (groups[0].name, groups[0].device_count) == ("Berlin", 3)


@pytest.mark.anyio
async def test_every_request_carries_auth_and_accepts_json() -> None:
    """Reads carry the bearer key and ask for JSON."""
    router = make_router()
    route = router.get(f"{V1}/devicegroup/").mock(
        return_value=httpx.Response(200, json=page_json([]))
    )
    async with make_client(router) as client:
        assert await client.groups.list().to_list(max_items=1) == []
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "application/json" in sent.headers["Accept"]
