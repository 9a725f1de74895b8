"""``send`` and ``resume``: the commands that create requests.

Strictly private. Each checks its input first (a `CliError` before anything is sent); the
fan-out, journal, run-spec and displays are in `_send`.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import anyio
from cyclopts import Parameter

from .. import EsperClient, FanOutResult
from ..models import Command
from ._config import Common, make_client
from ._errors import CliError, ExitCode
from ._inputs import DESTRUCTIVE, merge_args, parse_command, read_ids
from ._output import Output
from ._root import COMMAND, RUN, TARGETS, WATCH, DeviceTypeName, app, parse_choice
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
from ._watching import WatchOptions, watch_requests

__all__ = ["resume", "run_send", "send"]


def _confirm(out: Output, text: str) -> bool:
    """Ask on the terminal; only "y" or "yes" is a yes."""
    out.err.print(f"{text} [y/N] ", end="", highlight=False, markup=False)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


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
    watch_options: WatchOptions | None = None,
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
    """
    out = (common or Common()).out()
    name = parse_command(command)
    spec = _send_spec(
        name,
        arg=arg or [],
        args_json=args_json,
        schedule_arg=schedule_arg or [],
        schedule_args_json=schedule_args_json,
        targets=(device or [], devices_file or [], group or [], groups_file or []),
        resolve_groups=resolve_groups,
        command_type=command_type,
        device_type=device_type,
        schedule=schedule,
        concurrency=concurrency,
    )
    if dry_run_ and not resolve_groups:
        # Planned entirely offline: no credentials needed, nothing reaches the network.
        enterprise = (common or Common()).enterprise or _env_enterprise()
        result, body = await offline_plan(spec, enterprise)
        dry_run(out, spec, result, body)
        return ExitCode.OK
    async with make_client(common, SESSION.on_event) as client:
        if resolve_groups:
            spec.devices = await _resolve(client, out, spec.devices, spec.groups)
            spec.resolved_groups, spec.groups = spec.groups, []
        result, body = await offline_plan(spec, str(client.enterprise_id))
        if dry_run_:
            dry_run(out, spec, result, body)
            return ExitCode.OK
        if name in DESTRUCTIVE and not yes and not _confirm_destructive(out, name, spec, result):
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
            watch_options=watch_options or WatchOptions(),
        )


def _send_spec(
    name: Command,
    *,
    arg: list[str],
    args_json: str | None,
    schedule_arg: list[str],
    schedule_args_json: str | None,
    targets: tuple[list[str], list[str], list[str], list[str]],
    resolve_groups: bool,
    command_type: str | None,
    device_type: DeviceTypeName,
    schedule: str,
    concurrency: int,
) -> SendSpec:
    """The run-spec of `send`'s options, each checked (a `CliError` naming the option).

    `targets`: --device, --devices-file, --group and --groups-file.
    """
    command_args = merge_args(arg, args_json, "--arg")
    schedule_args = merge_args(schedule_arg, schedule_args_json, "--schedule-arg")
    devices, groups = _read_targets(*targets, resolve_groups=resolve_groups)
    spec = SendSpec(
        command=name.value,
        command_args=command_args,
        devices=devices,
        groups=groups,
        command_type=parse_choice(command_type, "--command-type", ("DEVICE", "GROUP", "DYNAMIC")),
        device_type=device_type,
        schedule=parse_choice(schedule, "--schedule", ("IMMEDIATE", "WINDOW", "RECURRING"))
        or "IMMEDIATE",
        schedule_args=schedule_args,
        concurrency=concurrency,
    )
    if concurrency < 1:
        raise CliError("--concurrency must be 1 or more")
    return spec


def _read_targets(
    device: list[str],
    devices_file: list[str],
    group: list[str],
    groups_file: list[str],
    *,
    resolve_groups: bool,
) -> tuple[list[str], list[str]]:
    """The device and group ids given on the command line and in files (at least one)."""
    check_stdin_free([*devices_file, *groups_file])
    devices = read_ids(device, devices_file, noun="device")
    groups = read_ids(group, groups_file, noun="group")
    if not devices and not groups:
        raise CliError("no targets: give --device, --devices-file, --group or --groups-file")
    if resolve_groups and not groups:
        raise CliError("--resolve-groups needs --group or --groups-file")
    return devices, groups


def _confirm_destructive(out: Output, name: Command, spec: SendSpec, plan: FanOutResult) -> bool:
    """Whether the operator, asked on the terminal, agrees to send destructive `name`."""
    targets = plan.totals.targets
    kind = ("device" if spec.devices else "group") + ("s" if targets != 1 else "")
    if not _stdin_tty():
        raise CliError(
            f"{name.value} is destructive: pass --yes to send it to {targets:,} {kind} "
            "(stdin is not a terminal, so nobody can be asked)"
        )
    return _confirm(out, f"Send {name.value} to {targets:,} {kind}?")


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
    watch_options: WatchOptions,
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
            client, list(result.request_ids), out=out, options=watch_options
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
    watch_options: WatchOptions | None = None,
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
            watch_options=watch_options or WatchOptions(),
        )
