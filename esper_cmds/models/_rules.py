"""The rules of a command value: its arguments, its schedule, enums by name, plain JSON.

Strictly private. The rules are the ones Esper's docs page states for each command; an error
names the field and the rule, so a bad run is refused whole instead of failing device by device.
`CommandSpec` applies them once, when it is built. This module reads only the models' leaves and
the errors: ``esper_cmds._validation`` (ids and targets) re-exports it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

import attrs

from .._errors import ValidationError
from ._commands import CommandArgs, ScheduleArgs
from ._enums import Command, CommandType, DeviceType, Schedule, TimeType

__all__ = [
    "check_command_args",
    "check_schedule_args",
    "parse_command",
    "parse_enum",
    "plain_json",
    "validate_command_args",
]

_Check = Callable[[str, Any], None]
_E = TypeVar("_E", Command, CommandType, DeviceType, Schedule, TimeType)


_MAX_JSON_DEPTH = 32


_INT_RANGE = range(-(2**63), 2**64)
"""Integers JSON parsers agree on (and Python can write: a 5,000-digit one it cannot)."""


def plain_json(field: str, value: object, *, _depth: int = 0) -> Any:
    """`value` as a fresh copy of plain JSON data, or a `ValidationError` naming where in it the
    fault is.

    Plain JSON is None, bool, an int of at most 64 bits, a finite float, a str that is valid
    Unicode (no lone surrogates), and lists and string-keyed mappings of those, at most 32
    levels deep (which also refuses a structure that contains itself). Anything else would fail
    to encode after validation, or be sent as something the caller did not mean (NaN is not
    JSON). The copy (dicts and lists of its own) is what a `CommandSpec` keeps, so changing the
    caller's objects afterwards cannot change what was checked.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value not in _INT_RANGE:
            raise ValidationError(field, "must be an integer of at most 64 bits", value)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                field, "must be a finite number (JSON has no NaN or infinity)", value
            )
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                field, "must be valid Unicode text (it holds a lone surrogate)", value
            ) from None
        return value
    if _depth >= _MAX_JSON_DEPTH:
        raise ValidationError(field, f"is nested more than {_MAX_JSON_DEPTH} levels deep", None)
    if isinstance(value, Mapping):
        copy: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(field, "keys must be strings", key)
            plain_json(f"{field} key", key)  # the key must be valid text as well
            copy[key] = plain_json(f"{field}.{key}", item, _depth=_depth + 1)
        return copy
    if isinstance(value, list | tuple):
        return [
            plain_json(f"{field}[{index}]", item, _depth=_depth + 1)
            for index, item in enumerate(value)
        ]
    raise ValidationError(
        field,
        f"must be JSON data (str, number, bool, list, mapping), not {type(value).__name__}",
        value,
    )


def parse_enum(value: object, enum_type: type[_E], field: str) -> _E:
    """An enum member from itself or its string in any case, or a `ValidationError`.

    The error lists the choices, or suggests the closest one when the value looks like a typo.
    """
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str) and value.isascii():
        folded = value.strip().casefold()
        for member in enum_type:
            if member.value.casefold() == folded:
                return member
        close = difflib.get_close_matches(
            folded, [m.value.casefold() for m in enum_type], n=1, cutoff=0.75
        )
        if close:
            match = next(m.value for m in enum_type if m.value.casefold() == close[0])
            raise ValidationError(field, f"is not one of the choices; did you mean {match}?", value)
    choices = ", ".join(m.value for m in enum_type)
    raise ValidationError(field, f"must be one of {choices}", value)


def parse_command(value: object) -> Command:
    """The command as a `Command` member (a member or its name in any case, e.g. ``"reboot"``)."""
    return parse_enum(value, Command, "command")


# -- per-argument checks -------------------------------------------------------------------------


def _text(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string", value)


def _flag(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValidationError(field, "must be a boolean (true or false)", value)


def _integer(low: int, high: int, *also: int) -> _Check:
    def check(field: str, value: Any) -> None:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if not is_int or not (low <= value <= high or value in also):
            extra = "".join(f" or {v}" for v in also)
            raise ValidationError(field, f"must be an integer from {low} to {high}{extra}", value)

    return check


def _choice(*allowed: str) -> _Check:
    def check(field: str, value: Any) -> None:
        if value not in allowed:
            raise ValidationError(field, f"must be one of {', '.join(allowed)}", value)

    return check


def _access_points(field: str, value: Any) -> None:
    # The SDK types it as a JSON object; Esper's examples send a list of access points.
    if not isinstance(value, Mapping | list | tuple) or not value:
        raise ValidationError(field, "must be a non-empty JSON object or list", value)


def _timezone(field: str, value: Any) -> None:
    _text(field, value)
    if not _is_iana_timezone(value):
        raise ValidationError(field, "must be an IANA timezone name such as Europe/Berlin", value)


def _is_iana_timezone(name: str) -> bool:
    # ZoneInfo also opens paths; these never name a zone in the IANA database.
    if name.startswith("/") or ".." in name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_LOCALE = re.compile(r"[a-z]{2}(_[A-Z][a-z]{3})?_[A-Z]{2}")


def _locale(field: str, value: Any) -> None:
    if not isinstance(value, str) or not _LOCALE.fullmatch(value):
        raise ValidationError(field, "must be a locale like en_US or zh_Hans_CN", value)


_GRANT_STATES = _choice(
    "PERMISSION_GRANT_STATE_DEFAULT",
    "PERMISSION_GRANT_STATE_DENIED",
    "PERMISSION_GRANT_STATE_GRANTED",
)

_STATIC_ADDRESSES = ("static_ip", "primary_dns", "subnet_mask", "gateway")

# command -> (required arguments, optional arguments), each with its check. A command listed here
# takes no other argument (a stray key is a typo, refused with a suggestion); a command not listed
# has no arguments the docs name, and takes anything. docs/commands.md is this table in prose.
_RULES: dict[Command, tuple[dict[str, _Check], dict[str, _Check]]] = {
    Command.ADD_TO_WHITELIST: ({"package_name": _text}, {}),
    Command.CLEAR_APP_DATA: ({"package_name": _text}, {}),
    Command.REMOVE_FROM_WHITELIST: ({"package_name": _text}, {}),
    Command.SET_KIOSK_APP: ({"package_name": _text}, {}),
    Command.UNINSTALL: ({"package_name": _text}, {}),
    Command.ADD_WIFI_AP: ({"wifi_access_points": _access_points}, {}),
    Command.REMOVE_WIFI_AP: ({"wifi_access_points": _access_points}, {}),
    Command.INSTALL: ({"app_version": _text}, {}),
    Command.SET_APP_PERMISSION: (
        {"package_name": _text, "grant_state": _GRANT_STATES, "permission": _text},
        {},
    ),
    Command.SET_APP_STATE: (
        {"package_name": _text, "app_state": _choice("SHOW", "HIDE", "DISABLE")},
        {},
    ),
    Command.SET_APP_NOTIFICATIONS: (
        {"package_name": _text, "app_notifications_state": _choice("ENABLED", "DISABLED")},
        {},
    ),
    Command.SET_BLUETOOTH_STATE: ({"bluetooth_state": _flag}, {}),
    Command.USE_ONLY_SAVED_WIFI_AP: ({"use_only_saved_ap": _flag}, {}),
    Command.SET_BRIGHTNESS_SCALE: ({"brightness_value": _integer(1, 100)}, {}),
    Command.SET_DEVICE_LOCKDOWN_STATE: (
        {"state": _choice("LOCKED", "UNLOCKED"), "message": _text},
        {},
    ),
    Command.SET_GPS_STATE: ({"gps_state": _integer(0, 4)}, {}),
    Command.SET_ROTATION_STATE: ({"rotate_state": _integer(0, 2)}, {}),
    Command.SET_SCREEN_OFF_TIMEOUT: ({"screen_off_timeout": _integer(5000, 1_800_000, -1)}, {}),
    Command.SET_STREAM_VOLUME: ({"stream": _integer(0, 3), "volume_level": _integer(0, 100)}, {}),
    Command.SET_NEW_POLICY: ({"policy_url": _text}, {}),
    Command.SET_TIMEZONE: ({"timezone_string": _timezone}, {}),
    Command.RESET_LOCKSCREEN_PASSWORD: ({"new_lockscreen_password": _text}, {}),
    Command.CAPTURE_SCREENSHOT: ({}, {"tag": _text}),
    Command.NOTIFY_DEVICE: ({"title": _text, "message": _text}, {"url": _text}),
    Command.SET_DEVICE_LANGUAGE: ({"locale": _locale}, {}),
    Command.SET_WIFI_STATE: (
        {"wifi_state": _flag},
        {"wifi_revert_timeout": _integer(1, 2**31 - 1)},
    ),
    # The static addresses are required only when DHCP is off (see validate_command_args); the
    # docs never restrict their text, so any non-empty string is sent (a hostname DNS, say).
    Command.SET_STATIC_IP: (
        {"interface": _text, "dhcp_enabled": _flag},
        {**dict.fromkeys(_STATIC_ADDRESSES, _text), "secondary_dns": _text},
    ),
}


def validate_command_args(command: Command, args: Mapping[str, Any]) -> None:
    """Check `args` against what `command` takes; raise `ValidationError` on a fault.

    An argument the command does not take is refused, with the closest known name suggested;
    every missing required argument is named in one error. Commands without documented
    arguments accept any (Esper stores what it does not use).
    """
    rules = _RULES.get(command)
    if rules is None:
        return
    required, optional = rules
    if command is Command.SET_STATIC_IP and args.get("dhcp_enabled") is False:
        required = {**required, **{k: optional[k] for k in _STATIC_ADDRESSES}}
    known = required.keys() | optional.keys()
    for name in args:
        if name not in known:
            raise ValidationError(
                f"command_args.{name}", _unknown_argument(command, name, sorted(known)), args[name]
            )
    missing = [name for name in required if args.get(name) is None]
    if len(missing) == 1:
        raise ValidationError(f"command_args.{missing[0]}", f"is required by {command.value}")
    if missing:
        names = ", ".join(missing)
        raise ValidationError("command_args", f"{names} are required by {command.value}")
    for name, check in required.items():
        check(f"command_args.{name}", args[name])
    for name, check in optional.items():
        if name not in required and args.get(name) is not None:
            check(f"command_args.{name}", args[name])


def _unknown_argument(command: Command, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"is not an argument of {command.value}; did you mean {close[0]}?"
    takes = ", ".join(known) if known else "no arguments"
    return f"is not an argument of {command.value} (it takes {takes})"


def check_command_args(
    command: Command, command_args: CommandArgs | Mapping[str, Any] | None
) -> CommandArgs:
    """The command's arguments checked against its rules, as a `CommandArgs`.

    A mapping's keys that name a field go in that field, the rest in ``extra``, values as given
    (no coercion: a wrong type was refused by the rules, or is sent as it came).
    """
    if command_args is None:
        command_args = {}
    if isinstance(command_args, CommandArgs):
        args = {
            a.name: getattr(command_args, a.name)
            for a in attrs.fields(CommandArgs)
            if a.name != "extra" and getattr(command_args, a.name) is not None
        }
        args.update(command_args.extra)
    elif isinstance(command_args, Mapping):
        for key in command_args:
            if not isinstance(key, str):
                raise ValidationError("command_args", "keys must be strings", key)
        args = dict(command_args)
    else:
        raise ValidationError("command_args", "must be a CommandArgs or a mapping", command_args)
    args = plain_json("command_args", args)  # a copy: the caller's objects stay theirs
    validate_command_args(command, args)
    known = {k: v for k, v in args.items() if k in _ARG_FIELDS and v is not None}
    return CommandArgs(**known, extra={k: v for k, v in args.items() if k not in known})


_ARG_FIELDS = frozenset(a.name for a in attrs.fields(CommandArgs)) - {"extra"}

_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?")


def check_schedule_args(
    command: Command, schedule: Schedule, schedule_args: ScheduleArgs | Mapping[str, Any] | None
) -> tuple[ScheduleArgs | None, dict[str, Any]]:
    """The schedule's arguments checked, and the keys the docs do not name (sent as given)."""
    checked, extra = _schedule_args(schedule, schedule_args)
    if command is Command.NOTIFY_DEVICE and schedule is not Schedule.IMMEDIATE:
        # Esper's docs: a scheduled message also needs a schedule name and a time type.
        for name in ("name", "time_type"):
            if (checked is None or getattr(checked, name) is None) and extra.get(name) is None:
                raise ValidationError(
                    f"schedule_args.{name}", "is required by a scheduled NOTIFY_DEVICE", None
                )
    return checked, extra


def _schedule_args(
    schedule: Schedule, schedule_args: ScheduleArgs | Mapping[str, Any] | None
) -> tuple[ScheduleArgs | None, dict[str, Any]]:
    if schedule_args is None:
        if schedule is not Schedule.IMMEDIATE:
            raise ValidationError(
                "schedule_args", f"is required by the {schedule.value} schedule", None
            )
        return None, {}
    typed, extra = _split_schedule_args(schedule_args)
    start = _schedule_time(schedule, "start_datetime", typed.start_datetime)
    end = _schedule_time(schedule, "end_datetime", typed.end_datetime)
    typed = attrs.evolve(typed, start_datetime=start, end_datetime=end)
    if typed.time_type is not None:
        time_type = parse_enum(typed.time_type, TimeType, "schedule_args.time_type")
        typed = attrs.evolve(typed, time_type=time_type)
    if typed.name is not None:
        _text("schedule_args.name", typed.name)
    if typed.days is not None:
        typed = attrs.evolve(typed, days=_days(typed.days))
    if start is not None and end is not None and end <= start:
        raise ValidationError("schedule_args.end_datetime", "must be after start_datetime", end)
    _check_window(typed.window_start_time, typed.window_end_time)
    # The typed fields were checked above; only free text can still hold what JSON cannot.
    checked = plain_json("schedule_args", {**extra, "name": typed.name})
    return typed, {k: v for k, v in checked.items() if k in extra}


def _split_schedule_args(
    schedule_args: ScheduleArgs | Mapping[str, Any],
) -> tuple[ScheduleArgs, dict[str, Any]]:
    """A `ScheduleArgs`, and a mapping's keys the docs do not name (sent as given; Esper stores
    them)."""
    if isinstance(schedule_args, ScheduleArgs):
        return schedule_args, {}
    if not isinstance(schedule_args, Mapping):
        raise ValidationError("schedule_args", "must be a ScheduleArgs or a mapping", schedule_args)
    for key in schedule_args:
        if not isinstance(key, str):
            raise ValidationError("schedule_args", "keys must be strings", key)
    known = {k: v for k, v in schedule_args.items() if k in _SCHEDULE_FIELDS}
    extra = {k: v for k, v in schedule_args.items() if k not in _SCHEDULE_FIELDS}
    return ScheduleArgs(**known), extra


def _check_window(opens: Any, closes: Any) -> None:
    """A daily window: both ends or neither, each a time of day, and not the same time."""
    for name, value in (("window_start_time", opens), ("window_end_time", closes)):
        if value is not None and (not isinstance(value, str) or not _TIME_OF_DAY.fullmatch(value)):
            raise ValidationError(
                f"schedule_args.{name}", "must be a time of day HH:MM[:SS]", value
            )
    if (opens is None) != (closes is None):
        missing = "window_end_time" if closes is None else "window_start_time"
        raise ValidationError(
            f"schedule_args.{missing}", "is required with the other window time", None
        )
    if opens is not None and closes is not None and _seconds(opens) == _seconds(closes):
        raise ValidationError(
            "schedule_args.window_end_time", "must differ from window_start_time", closes
        )


_SCHEDULE_FIELDS = frozenset(a.name for a in attrs.fields(ScheduleArgs))


def _seconds(time_of_day: str) -> int:
    parts = [int(p) for p in time_of_day.split(":")]
    return parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)


def _schedule_time(schedule: Schedule, name: str, value: Any) -> dt.datetime | None:
    if value is None:
        if schedule is not Schedule.IMMEDIATE:
            raise ValidationError(
                f"schedule_args.{name}", f"is required by the {schedule.value} schedule", None
            )
        return None
    return _aware_datetime(f"schedule_args.{name}", value)


def _aware_datetime(field: str, value: Any) -> dt.datetime:
    """A timezone-aware datetime from itself or its ISO-8601 text."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(field, "must be a datetime or ISO-8601 text", value) from None
    if not isinstance(value, dt.datetime):
        raise ValidationError(field, "must be a datetime or ISO-8601 text", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, "must be timezone-aware (a naive time is ambiguous)", value)
    return value


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _days(value: Any) -> tuple[str, ...]:
    """``days`` as a tuple of day names; a bare string would be sent as a list of letters."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError("schedule_args.days", "must be a list of day names", value)
    unordered = isinstance(value, AbstractSet)
    days = tuple(value)
    if not days:
        raise ValidationError("schedule_args.days", "must name at least one day", value)
    for i, day in enumerate(days):
        if not isinstance(day, str) or not day.isascii() or day.lower() not in _DAYS:
            raise ValidationError(
                f"schedule_args.days[{i}]", "must be a day name such as Monday", day
            )
    if unordered:  # a set's order changes from process to process: the week's, always
        days = tuple(sorted(days, key=lambda day: _DAYS.index(day.lower())))
    return days
