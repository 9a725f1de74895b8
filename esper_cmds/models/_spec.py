"""`CommandSpec`: what to send, apart from to whom, validated once."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any, TypedDict

import attrs
from attrs import field, frozen

from .._errors import ValidationError
from ._commands import CommandArgs, ScheduleArgs
from ._enums import Command, CommandType, DeviceType, Schedule
from ._rules import check_command_args, check_schedule_args, parse_command, parse_enum

__all__ = ["CommandFields", "CommandSpec"]


class CommandFields(TypedDict, total=False):
    """`CommandSpec`'s arguments as keywords: what ``create`` and ``fan_out`` accept as sugar."""

    command: Command | str
    command_args: CommandArgs | Mapping[str, Any] | None
    command_type: CommandType | str | None
    device_type: DeviceType | str
    schedule: Schedule | str
    schedule_args: ScheduleArgs | Mapping[str, Any] | None


_FIELD_NAMES = frozenset(CommandFields.__annotations__)


@frozen(init=False, hash=False)
class CommandSpec:
    """One command as Esper's create takes it, minus the targets: validated when built.

    Build it once and send it anywhere: ``client.commands.create(spec=spec, devices=...)``,
    ``client.fan_out(spec=spec, devices=...)``. The keyword forms of those (``command="REBOOT"``)
    build one for you. The targets are not part of it: the same command goes to many chunks,
    and which ids are allowed depends on the call (1000 per create, any number per fan-out).

    Args:
        command: A `Command` or its name in any case, e.g. ``"reboot"``.
        command_args: The command's arguments, as `CommandArgs` or a mapping; checked against
            what the command takes (required ones, ranges, typos).
        command_type: ``DEVICE``, ``GROUP`` or ``DYNAMIC``; when None, the targets decide.
        device_type: ``active`` (default, online devices only), ``inactive`` or ``all``.
        schedule: ``IMMEDIATE`` (default), ``WINDOW`` or ``RECURRING``.
        schedule_args: Required by WINDOW and RECURRING (timezone-aware start and end); a
            mapping's keys the docs do not name are sent as given.

    Raises:
        ValidationError: Naming the field and the rule.

    Attributes:
        command: The command.
        command_args: Its arguments (those without a field in ``extra``).
        command_type: The command type, or None to infer it from the targets.
        device_type: Which devices of the targets receive it.
        schedule: When it runs.
        schedule_args: The schedule's arguments (None for IMMEDIATE without any).
        schedule_extra: Schedule arguments the docs do not name, sent as given.
    """

    command: Command
    command_args: CommandArgs
    command_type: CommandType | None
    device_type: DeviceType
    schedule: Schedule
    schedule_args: ScheduleArgs | None
    schedule_extra: Mapping[str, Any] = field(repr=False)

    def __init__(
        self,
        command: Command | str,
        *,
        command_args: CommandArgs | Mapping[str, Any] | None = None,
        command_type: CommandType | str | None = None,
        device_type: DeviceType | str = DeviceType.ACTIVE,
        schedule: Schedule | str = Schedule.IMMEDIATE,
        schedule_args: ScheduleArgs | Mapping[str, Any] | None = None,
    ) -> None:
        parsed = parse_command(command)
        kind = (
            None if command_type is None else parse_enum(command_type, CommandType, "command_type")
        )
        devices = parse_enum(device_type, DeviceType, "device_type")
        when = parse_enum(schedule, Schedule, "schedule")
        args = check_command_args(parsed, command_args)
        checked, extra = check_schedule_args(parsed, when, schedule_args)
        self.__attrs_init__(parsed, args, kind, devices, when, checked, extra)

    def __hash__(self) -> int:
        # By value, as equality is: the arguments are JSON (dicts inside), so the hash is of
        # their JSON text with sorted keys. A spec can key a dict or sit in a set.
        return hash(json.dumps(attrs.asdict(self), sort_keys=True, default=str))

    def with_command_type(self, command_type: CommandType | str | None) -> CommandSpec:
        """This command with another command type; the rest is valid already."""
        kind = (
            None if command_type is None else parse_enum(command_type, CommandType, "command_type")
        )
        spec = object.__new__(CommandSpec)
        spec.__attrs_init__(
            self.command,
            self.command_args,
            kind,
            self.device_type,
            self.schedule,
            self.schedule_args,
            self.schedule_extra,
        )
        return spec

    @classmethod
    def of(cls, spec: CommandSpec | None, fields: CommandFields) -> CommandSpec:
        """`spec`, or one built from the keyword form (exactly one of the two).

        Raises:
            ValidationError: Both or neither given, or bad fields.
        """
        unknown = sorted(set(fields) - _FIELD_NAMES)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(_FIELD_NAMES), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValidationError(
                unknown[0], f"is not an argument of a command (nor of this call){hint}", None
            )
        if spec is None:
            if "command" not in fields:
                raise ValidationError("command", "is required (or pass spec=CommandSpec(...))")
            return cls(**fields)
        if not isinstance(spec, CommandSpec):
            raise ValidationError("spec", "must be a CommandSpec", spec)
        if fields:
            given = ", ".join(sorted(fields))
            raise ValidationError("spec", f"give a CommandSpec or its fields ({given}), not both")
        return spec
