"""The ``esper-cmds`` commands, on cyclopts.

Strictly private. Each command parses and checks its input first (a `CliError` before anything
is sent), then does its work through the public client.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from cyclopts import App, Group, Parameter
from rich.table import Table

from .. import Command, CommandRequest, CommandState, EsperClient, FanOutResult
from ._config import Common, make_client
from ._errors import CliError, ExitCode
from ._inputs import DESTRUCTIVE, merge_args, parse_command, read_ids
from ._output import Output, short_state
from ._send import (
    FanOutDisplay,
    SendSpec,
    check_stdin_free,
    complete_message,
    default_journal,
    dry_run,
    offline_plan,
    print_report,
    read_spec,
    report_json,
    run_fan_out,
    write_spec,
)
from ._session import SESSION
from ._watching import watch_requests

__all__ = ["app"]

EPILOG = """\
Exit codes:
  0    success
  1    failures reported by the API (or failed devices, with --exit-status)
  2    usage error: bad flags or input; nothing was sent
  3    a watch timed out with devices still pending
  4    authentication: missing, rejected or insufficient credentials
  130  interrupted (a send's journal is safe: `esper-cmds resume JOURNAL` finishes it)
"""

app = App(
    name="esper-cmds",
    help="Send Esper Commands V2 commands to whole fleets, watch them, and look them up.",
    help_epilogue=EPILOG,
    help_format="plaintext",
    default_parameter=Parameter(negative=()),
    version_flags=[],
    # Ctrl-C reaches `run`, which says how to resume the journal.
    suppress_keyboard_interrupt=False,
)
requests_app = App(name="requests", help="Command requests: list, show, per-device statuses.")
devices_app = App(name="devices", help="Devices: list, command history.")
groups_app = App(name="groups", help="Device groups.")
app.command(requests_app)
app.command(devices_app)
app.command(groups_app)
app.register_install_completion_command()

TARGETS = Group("Targets", sort_key=1)
COMMAND = Group("Command", sort_key=2)
RUN = Group("Run", sort_key=3)
WATCH = Group("Watch", sort_key=4)

DeviceTypeName = Literal["active", "inactive", "all"]


def _confirm(out: Output, text: str) -> bool:
    out.err.print(f"{text} [y/N] ", end="", highlight=False, markup=False)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _state(text: str | None) -> CommandState | None:
    """A state name in any case, with or without "Command " (``success``, ``in-progress``)."""
    if text is None:
        return None
    wanted = text.strip().lower().replace("-", " ").replace("_", " ").removeprefix("command ")
    for state in CommandState:
        if short_state(state).lower() == wanted:
            return state
    names = ", ".join(short_state(s).lower().replace(" ", "-") for s in CommandState)
    raise CliError(f"--state {text!r}: expected one of {names}")


def _uuid(text: str, flag: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise CliError(f"{flag} {text!r}: not an id (expected a UUID)") from None


def _upper(text: str | None, flag: str, allowed: tuple[str, ...]) -> str | None:
    if text is None:
        return None
    value = text.strip().upper()
    if value not in allowed:
        raise CliError(f"{flag} {text!r}: expected one of {', '.join(allowed)}")
    return value


@app.command
async def send(
    command: str,
    /,
    *,
    device: Annotated[list[str] | None, Parameter(group=TARGETS)] = None,
    devices_file: Annotated[
        list[str] | None, Parameter(group=TARGETS, allow_leading_hyphen=True)
    ] = None,
    group: Annotated[list[str] | None, Parameter(group=TARGETS)] = None,
    groups_file: Annotated[
        list[str] | None, Parameter(group=TARGETS, allow_leading_hyphen=True)
    ] = None,
    resolve_groups: Annotated[bool, Parameter(group=TARGETS)] = False,
    arg: Annotated[list[str] | None, Parameter(group=COMMAND)] = None,
    args_json: Annotated[str | None, Parameter(group=COMMAND)] = None,
    device_type: Annotated[DeviceTypeName, Parameter(group=COMMAND)] = "all",
    command_type: Annotated[str | None, Parameter(group=COMMAND)] = None,
    schedule: Annotated[str, Parameter(group=COMMAND)] = "IMMEDIATE",
    schedule_arg: Annotated[list[str] | None, Parameter(group=COMMAND)] = None,
    schedule_args_json: Annotated[str | None, Parameter(group=COMMAND)] = None,
    concurrency: Annotated[int, Parameter(group=RUN)] = 8,
    journal: Annotated[Path | None, Parameter(group=RUN)] = None,
    dry_run_: Annotated[bool, Parameter(name="--dry-run", group=RUN)] = False,
    yes: Annotated[bool, Parameter(name=["--yes", "-y"], group=RUN)] = False,
    allow_complete: Annotated[bool, Parameter(group=RUN)] = False,
    watch: Annotated[bool, Parameter(group=WATCH)] = False,
    timeout: Annotated[float | None, Parameter(group=WATCH)] = None,  # noqa: ASYNC109 - a flag
    interval: Annotated[float, Parameter(group=WATCH)] = 2.0,
    queued_is_done: Annotated[bool, Parameter(group=WATCH)] = False,
    exit_status: Annotated[bool, Parameter(group=WATCH)] = False,
    common: Common | None = None,
) -> int:
    """Send one command to any number of devices or groups, exactly once, with a journal.

    Parameters
    ----------
    command
        The command, in any case: reboot, SET_BRIGHTNESS_SCALE, set-wifi-state...
    device
        A device id (repeatable).
    devices_file
        A file of device ids, one per line (blank lines and # comments ignored); - is stdin.
    group
        A group id (repeatable).
    groups_file
        A file of group ids, as --devices-file.
    resolve_groups
        Send to the groups' current devices instead of to the groups.
    arg
        A command argument KEY=VALUE (repeatable); VALUE is JSON where it parses (80, true, [..]).
    args_json
        All command arguments as a JSON object, or @FILE; --arg values override it.
    device_type
        all: offline devices queue the command until they return; active: online only;
        inactive: offline only.
    command_type
        DEVICE, GROUP or DYNAMIC; inferred from the targets when omitted.
    schedule
        IMMEDIATE, WINDOW or RECURRING.
    schedule_arg
        A schedule argument KEY=VALUE (repeatable), e.g. start_datetime=2026-12-01T22:00:00Z.
    schedule_args_json
        All schedule arguments as a JSON object, or @FILE.
    concurrency
        Requests created at once.
    journal
        The journal file (default: a new file under $XDG_STATE_HOME/esper-cmds/).
    dry_run_
        Check everything and print the plan and the first request's exact JSON body; send nothing.
    yes
        Confirm a destructive command (WIPE, UNINSTALL, ...) without a prompt.
    allow_complete
        Exit 0 when the journal was already complete (nothing sent).
    watch
        After sending, watch the requests until every device is done (a live table).
    timeout
        Seconds to watch at most (default: until done).
    interval
        First delay between polls, seconds.
    queued_is_done
        Count "Command Queued" (an offline device waiting) as done.
    exit_status
        Exit 1 when any device failed, timed out or was cancelled.
    """
    out = (common or Common()).out()
    name = parse_command(command)
    command_args = merge_args(arg or [], args_json, "--arg")
    schedule_args = merge_args(schedule_arg or [], schedule_args_json, "--schedule-arg")
    check_stdin_free([*(devices_file or []), *(groups_file or [])])
    devices = read_ids(device or [], devices_file or [], noun="device")
    groups = read_ids(group or [], groups_file or [], noun="group")
    if not devices and not groups:
        raise CliError("no targets: give --device, --devices-file, --group or --groups-file")
    if resolve_groups and not groups:
        raise CliError("--resolve-groups needs --group or --groups-file")
    spec = SendSpec(
        command=name.value,
        command_args=command_args,
        devices=devices,
        groups=groups,
        command_type=_upper(command_type, "--command-type", ("DEVICE", "GROUP", "DYNAMIC")),
        device_type=device_type,
        schedule=_upper(schedule, "--schedule", ("IMMEDIATE", "WINDOW", "RECURRING"))
        or "IMMEDIATE",
        schedule_args=schedule_args,
        concurrency=concurrency,
    )
    if concurrency < 1:
        raise CliError("--concurrency must be 1 or more")
    if dry_run_ and not resolve_groups:
        # Planned entirely offline: no credentials needed, nothing reaches the network.
        enterprise = (common or Common()).enterprise or _env_enterprise()
        result, body = await offline_plan(spec, enterprise)
        dry_run(out, spec, result, body)
        return ExitCode.OK
    async with make_client(common, SESSION.on_event) as client:
        if resolve_groups:
            spec.devices = await _resolve(client, out, devices, groups)
            spec.resolved_groups, spec.groups = spec.groups, []
        result, body = await offline_plan(spec, str(client.enterprise_id))
        if dry_run_:
            dry_run(out, spec, result, body)
            return ExitCode.OK
        targets = result.totals.targets
        if name in DESTRUCTIVE and not yes:
            kind = ("device" if spec.devices else "group") + ("s" if targets != 1 else "")
            if not _stdin_tty():
                raise CliError(
                    f"{name.value} is destructive: pass --yes to send it to {targets:,} {kind} "
                    "(stdin is not a terminal, so nobody can be asked)"
                )
            if not _confirm(out, f"Send {name.value} to {targets:,} {kind}?"):
                out.note("nothing sent")
                return ExitCode.FAILED
        path = journal or default_journal(name.value)
        write_spec(path, spec)
        return await run_send(
            client,
            out,
            spec,
            path,
            result,
            allow_complete=allow_complete,
            watch=watch,
            watch_options={
                "timeout": timeout,
                "interval": interval,
                "queued_is_done": queued_is_done,
                "exit_status": exit_status,
            },
        )


def _env_enterprise() -> str:
    # A dry run without an enterprise still plans (the id appears only in the URL).
    return os.environ.get("ESPER_ENTERPRISE_ID") or str(uuid.UUID(int=0))


def _stdin_tty() -> bool:
    return sys.stdin.isatty()


async def _resolve(
    client: EsperClient, out: Output, devices: list[str], groups: list[str]
) -> list[str]:
    """The groups' current devices (read now, and written into the run-spec for `resume`)."""
    out.note(f"reading the devices of {len(groups)} group(s)…")
    members: dict[str, list[str]] = {}
    limiter = anyio.CapacityLimiter(8)

    async def one(group_id: str) -> None:
        async with limiter:
            pager = client.devices.list(group=group_id, page_size=1000)
            members[group_id] = [str(d.id) async for d in pager]

    async with anyio.create_task_group() as tg:
        for group_id in groups:
            tg.start_soon(one, group_id)
    resolved = list(dict.fromkeys([*devices, *(d for g in groups for d in members[g])]))
    if not resolved:
        raise CliError("the groups have no devices: nothing to send")
    return resolved


async def run_send(
    client: EsperClient,
    out: Output,
    spec: SendSpec,
    journal: Path,
    planned: FanOutResult,
    *,
    allow_complete: bool,
    watch: bool,
    watch_options: dict[str, Any],
) -> int:
    """Fan out with the journal, report, and watch if asked: the shared end of send/resume."""
    SESSION.journal = journal
    out.note(f"journal: {journal}")
    started = time.monotonic()
    display = FanOutDisplay(
        out, chunks=planned.totals.chunks, targets=planned.totals.targets, label=spec.command
    )
    SESSION.display = display
    result = await run_fan_out(client, spec, journal, display)
    SESSION.journal = None  # from here on an interrupt loses nothing worth resuming
    report = report_json(spec, journal, result, time.monotonic() - started)
    complete = result.totals.resumed == result.totals.chunks
    code = ExitCode.OK
    if complete:
        out.note(complete_message(journal))
        if not allow_complete:
            code = ExitCode.FAILED
    elif not result.ok:
        code = ExitCode.FAILED
    if out.mode == "table":
        print_report(out, report)
    elif out.mode == "jsonl":
        out.json({"type": "summary", **{k: v for k, v in report.items() if k != "chunks"}})
    # Failed chunks do not stop the watch of the created ones (the exit code stays 1); a
    # complete journal is watched only when the operator accepted it.
    if watch and result.request_ids and (not complete or allow_complete):
        SESSION.watching = journal
        summary, watch_code = await watch_requests(
            client, list(result.request_ids), out=out, **watch_options
        )
        SESSION.watching = None
        report["watch"] = summary
        if out.mode == "jsonl":
            out.json({"type": "watch", **summary})
        if code == ExitCode.OK:
            code = watch_code
    if out.mode == "json":
        out.json(report)
    return code


@app.command
async def resume(
    journal: Path,
    /,
    *,
    allow_complete: Annotated[bool, Parameter(group=RUN)] = False,
    watch: Annotated[bool, Parameter(group=WATCH)] = False,
    timeout: Annotated[float | None, Parameter(group=WATCH)] = None,  # noqa: ASYNC109 - a flag
    interval: Annotated[float, Parameter(group=WATCH)] = 2.0,
    queued_is_done: Annotated[bool, Parameter(group=WATCH)] = False,
    exit_status: Annotated[bool, Parameter(group=WATCH)] = False,
    common: Common | None = None,
) -> int:
    """Finish an interrupted send from its journal: nothing already created is sent again.

    Parameters
    ----------
    journal
        The journal `send` printed (its JOURNAL.spec.json must be next to it).
    allow_complete
        Exit 0 when the journal was already complete (nothing sent).
    watch
        After sending, watch the requests until every device is done.
    timeout
        Seconds to watch at most (default: until done).
    interval
        First delay between polls, seconds.
    queued_is_done
        Count "Command Queued" as done.
    exit_status
        Exit 1 when any device failed, timed out or was cancelled.
    """
    out = (common or Common()).out()
    spec = read_spec(journal)
    async with make_client(common, SESSION.on_event) as client:
        planned, _ = await offline_plan(spec, str(client.enterprise_id))
        return await run_send(
            client,
            out,
            spec,
            journal,
            planned,
            allow_complete=allow_complete,
            watch=watch,
            watch_options={
                "timeout": timeout,
                "interval": interval,
                "queued_is_done": queued_is_done,
                "exit_status": exit_status,
            },
        )


@app.command(name="watch")
async def watch_command(
    request_id: list[str],
    /,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - the --timeout flag
    interval: float = 2.0,
    queued_is_done: bool = False,
    exit_status: bool = False,
    common: Common | None = None,
) -> int:
    """Watch command requests until every device is done or --timeout passes (a live table).

    Parameters
    ----------
    request_id
        One or more request ids.
    timeout
        Seconds to watch at most (default: until done); exit 3 if devices are still pending.
    interval
        First delay between polls, seconds (grows while nothing changes).
    queued_is_done
        Count "Command Queued" (an offline device waiting) as done.
    exit_status
        Exit 1 when any device failed, timed out or was cancelled (like `gh run watch`).
    """
    out = (common or Common()).out()
    ids = [_uuid(r, "REQUEST_ID") for r in request_id]
    async with make_client(common) as client:
        summary, code = await watch_requests(
            client,
            ids,
            out=out,
            timeout=timeout,
            interval=interval,
            queued_is_done=queued_is_done,
            exit_status=exit_status,
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
    kind = _upper(command_type, "--command-type", ("DEVICE", "GROUP", "DYNAMIC"))
    devices = [_uuid(d, "--device") for d in device or []]
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
    rid = _uuid(request_id, "REQUEST_ID")
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
    rid = _uuid(request_id, "REQUEST_ID")
    wanted = _state(state)
    one = None if device is None else _uuid(device, "--device")
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
    group_id = None if group is None else _uuid(group, "--group")
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
    did = _uuid(device_id, "DEVICE_ID")
    wanted = _state(state)
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
