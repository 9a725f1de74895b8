"""``watch`` and the read commands: requests, devices, groups, commands.

Strictly private.
"""

from __future__ import annotations

from typing import Annotated, Any

from cyclopts import Parameter
from rich.table import Table

from .. import Command, CommandRequest, EsperClient
from ._config import Common, make_client
from ._errors import CliError, ExitCode
from ._inputs import DESTRUCTIVE, parse_command
from ._output import short_state
from ._root import (
    DeviceTypeName,
    app,
    devices_app,
    groups_app,
    parse_choice,
    parse_id,
    parse_state,
    requests_app,
)
from ._watching import WatchOptions, watch_requests

__all__ = [
    "commands_command",
    "devices_history",
    "devices_list",
    "groups_list",
    "requests_list",
    "requests_show",
    "requests_statuses",
    "watch_command",
]


@app.command(name="watch")
async def watch_command(
    request_id: list[str],
    /,
    *,
    options: WatchOptions | None = None,
    common: Common | None = None,
) -> int:
    """Watch command requests until every device is done or --timeout passes (a live table).

    Parameters
    ----------
    request_id
        One or more request ids.
    """
    out = (common or Common()).out()
    ids = [parse_id(r, "REQUEST_ID") for r in request_id]
    async with make_client(common) as client:
        summary, code = await watch_requests(
            client,
            ids,
            out=out,
            options=options or WatchOptions(),
        )
    if out.mode == "jsonl":
        out.json({"type": "watch", **summary})
    elif out.mode == "json":
        out.json(summary)
    return code


def _totals_text(request: CommandRequest) -> str:
    return ", ".join(f"{short_state(s)} {n:,}" for s, n in request.totals().items())


_REQUEST_COLUMNS: list[tuple[str, Any]] = [
    ("id", lambda r: r.id),
    ("command", lambda r: r.command),
    ("type", lambda r: r.command_type),
    ("device_type", lambda r: r.device_type),
    ("targets", lambda r: len(r.devices) or len(r.groups)),
    ("created_on", lambda r: r.created_on),
    ("states", _totals_text),
]


@requests_app.command(name="list")
async def requests_list(
    *,
    command: str | None = None,
    command_type: str | None = None,
    device: list[str] | None = None,
    device_type: DeviceTypeName | None = None,
    issued_by: str | None = None,
    limit: int = 50,
    common: Common | None = None,
) -> int:
    """List command requests, newest first.

    Parameters
    ----------
    command
        Only this command (any case).
    command_type
        DEVICE, GROUP or DYNAMIC.
    device
        Only requests that include this device (repeatable).
    device_type
        active, inactive or all.
    issued_by
        Only requests issued by this user id.
    limit
        At most this many (0 for all).
    """
    out = (common or Common()).out()
    name = None if command is None else parse_command(command)
    kind = parse_choice(command_type, "--command-type", ("DEVICE", "GROUP", "DYNAMIC"))
    devices = [parse_id(d, "--device") for d in device or []]
    async with make_client(common) as client:
        pager = client.commands.list(
            command=name,
            command_type=kind,
            devices=devices or None,
            device_type=device_type,
            issued_by=issued_by,
            page_size=_page(limit),
        )
        await out.listing(pager, limit=limit, columns=_REQUEST_COLUMNS, title="command requests")
    return ExitCode.OK


def _page(limit: int) -> int:
    return min(limit, 1000) if limit > 0 else 1000


async def _find_request(client: EsperClient, request_id: str) -> CommandRequest:
    """The request with its per-state totals (the API has no single-request read: the
    listing filtered by one of its devices has it)."""
    first = await client.commands.statuses(request_id, page_size=1).first_page()
    if first.results:
        device = first.results[0].device
        async for request in client.commands.list(devices=[device], page_size=100):
            if str(request.id) == request_id:
                return request
    raise CliError(
        f"request {request_id} not found (check the id and --enterprise)", ExitCode.FAILED
    )


@requests_app.command(name="show")
async def requests_show(request_id: str, /, *, common: Common | None = None) -> int:
    """One command request with its per-state totals.

    Parameters
    ----------
    request_id
        The request id.
    """
    out = (common or Common()).out()
    rid = parse_id(request_id, "REQUEST_ID")
    async with make_client(common) as client:
        request = await _find_request(client, rid)
    if out.mode != "table":
        out.json(request)
        return ExitCode.OK
    table = Table(title=f"request {request.id}", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for label, value in (
        ("command", request.command),
        ("command_type", request.command_type),
        ("device_type", request.device_type),
        ("devices", f"{len(request.devices):,}"),
        ("groups", f"{len(request.groups):,}"),
        ("schedule", request.schedule),
        ("issued_by", request.issued_by),
        ("created_on", request.created_on),
    ):
        table.add_row(label, "" if value is None else str(value))
    table.add_section()
    for state, total in request.totals().items():
        table.add_row(short_state(state), f"{total:,}")
    out.table(table)
    return ExitCode.OK


_STATUS_COLUMNS: list[tuple[str, Any]] = [
    ("device", lambda s: s.device),
    ("state", lambda s: short_state(s.state)),
    ("reason", lambda s: s.reason),
    ("updated_on", lambda s: s.updated_on),
    ("request", lambda s: s.request),
]


@requests_app.command(name="statuses")
async def requests_statuses(
    request_id: str,
    /,
    *,
    state: str | None = None,
    device: str | None = None,
    limit: int = 50,
    common: Common | None = None,
) -> int:
    """Each device's state within one request.

    Parameters
    ----------
    request_id
        The request id.
    state
        Only this state: queued, scheduled, initiated, acknowledged, in-progress, success,
        failure, timeout, cancelled.
    device
        Only this device.
    limit
        At most this many (0 for all).
    """
    out = (common or Common()).out()
    rid = parse_id(request_id, "REQUEST_ID")
    wanted = parse_state(state)
    one = None if device is None else parse_id(device, "--device")
    async with make_client(common) as client:
        pager = client.commands.statuses(rid, state=wanted, device=one, page_size=_page(limit))
        await out.listing(pager, limit=limit, columns=_STATUS_COLUMNS, title=f"statuses of {rid}")
    return ExitCode.OK


_DEVICE_COLUMNS: list[tuple[str, Any]] = [
    ("id", lambda d: d.id),
    ("device_name", lambda d: d.device_name),
    ("alias_name", lambda d: d.alias_name),
    ("state", lambda d: d.state),
    ("policy_name", lambda d: d.policy_name),
    ("updated_on", lambda d: d.updated_on),
]


@devices_app.command(name="list")
async def devices_list(
    *,
    name: str | None = None,
    group: str | None = None,
    imei: str | None = None,
    serial: str | None = None,
    state: int | None = None,
    brand: str | None = None,
    gms: Annotated[bool | None, Parameter(negative="--no-gms")] = None,
    search: str | None = None,
    tags: str | None = None,
    limit: int = 50,
    common: Common | None = None,
) -> int:
    """List devices.

    Parameters
    ----------
    name
        Device name.
    group
        Only devices in this group id.
    imei
        IMEI.
    serial
        Serial number.
    state
        Esper's numeric device state (1 online, ...).
    brand
        Brand.
    gms
        Only GMS devices (--gms) or only non-GMS ones (--no-gms).
    search
        Free-text search.
    tags
        Tag.
    limit
        At most this many (0 for all).
    """
    out = (common or Common()).out()
    group_id = None if group is None else parse_id(group, "--group")
    async with make_client(common) as client:
        pager = client.devices.list(
            name=name,
            group=group_id,
            imei=imei,
            serial=serial,
            state=state,
            brand=brand,
            is_gms=gms,
            search=search,
            tags=tags,
            page_size=_page(limit),
        )
        await out.listing(pager, limit=limit, columns=_DEVICE_COLUMNS, title="devices")
    return ExitCode.OK


_HISTORY_COLUMNS: list[tuple[str, Any]] = [
    ("request", lambda s: s.request),
    ("state", lambda s: short_state(s.state)),
    ("reason", lambda s: s.reason),
    ("created_on", lambda s: s.created_on),
    ("updated_on", lambda s: s.updated_on),
]


@devices_app.command(name="history")
async def devices_history(
    device_id: str,
    /,
    *,
    state: str | None = None,
    limit: int = 50,
    common: Common | None = None,
) -> int:
    """A device's command history, newest first.

    Parameters
    ----------
    device_id
        The device id.
    state
        Only this state (success, failure, queued, ...).
    limit
        At most this many (0 for all).
    """
    out = (common or Common()).out()
    did = parse_id(device_id, "DEVICE_ID")
    wanted = parse_state(state)
    async with make_client(common) as client:
        pager = client.devices.command_history(did, state=wanted, page_size=_page(limit))
        await out.listing(pager, limit=limit, columns=_HISTORY_COLUMNS, title=f"history of {did}")
    return ExitCode.OK


_GROUP_COLUMNS: list[tuple[str, Any]] = [
    ("id", lambda g: g.id),
    ("name", lambda g: g.name),
    ("device_count", lambda g: g.device_count),
    ("path", lambda g: g.path),
]


@groups_app.command(name="list")
async def groups_list(
    *, name: str | None = None, limit: int = 50, common: Common | None = None
) -> int:
    """List device groups.

    Parameters
    ----------
    name
        Group name.
    limit
        At most this many (0 for all).
    """
    out = (common or Common()).out()
    async with make_client(common) as client:
        pager = client.groups.list(name=name, page_size=_page(limit))
        await out.listing(pager, limit=limit, columns=_GROUP_COLUMNS, title="groups")
    return ExitCode.OK


@app.command(name="commands")
def commands_command(*, common: Common | None = None) -> int:
    """The commands `send` knows; destructive ones ask for confirmation."""
    out = (common or Common()).out()
    rows = [{"command": c.value, "destructive": c in DESTRUCTIVE} for c in Command]
    if out.mode == "jsonl":
        for row in rows:
            out.json(row)
    elif out.mode == "json":
        out.json(rows)
    else:
        table = Table(title="commands", title_justify="left")
        table.add_column("command")
        table.add_column("destructive")
        for row in rows:
            table.add_row(
                str(row["command"]), "yes (asks to confirm)" if row["destructive"] else ""
            )
        out.table(table)
    return ExitCode.OK


@app.command(name="simulator")
def simulator_command() -> int:  # pragma: no cover - `run` hands these arguments over first
    """Serve a simulated Esper fleet on 127.0.0.1 (as esper-sim; --help for its options)."""
    return ExitCode.OK


@app.command(name="demo")
def demo_command() -> int:  # pragma: no cover - `run` hands these arguments over first
    """The main job against a simulated fleet: a fan-out with faults, then a watch."""
    return ExitCode.OK
