"""Esper's validation of a create body, independent of the client library's own checks.

Every problem found is reported (not just the first), each as ``"<field>: <rule>"``. Every field
is type-checked before it is used, so no body, however malformed, gets anything but a 400. The
rules are the ones ``docs/commands.md`` tabulates; this module keeps its own copy of them on
purpose (the simulator is an oracle for the client, so it must not borrow the client's rules).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMANDS",
    "DAYS",
    "MAX_DEVICES",
    "MAX_GROUPS",
    "Schedule",
    "ValidCreate",
    "ValidationFailed",
    "canonical_uuid",
    "parse_datetime",
    "validate_create",
]

MAX_DEVICES = 1000
MAX_GROUPS = 500
_INT32_MAX = 2**31 - 1

COMMAND_TYPES = ("DEVICE", "GROUP", "DYNAMIC")
DEVICE_TYPES = ("active", "inactive", "all")
SCHEDULES = ("IMMEDIATE", "WINDOW", "RECURRING")
TIME_TYPES = ("console", "device")
GRANT_STATES = (
    "PERMISSION_GRANT_STATE_DEFAULT",
    "PERMISSION_GRANT_STATE_DENIED",
    "PERMISSION_GRANT_STATE_GRANTED",
)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""Day names as ``schedule_args.days`` takes them (any case), Monday first as `weekday()`."""

# A rule looks at one present value and answers what is wrong with it (None: nothing).
_Rule = Callable[[Any], str | None]


class ValidationFailed(Exception):
    """The body broke one or more of Esper's rules; `errors` says which."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def canonical_uuid(value: object) -> str | None:
    """The canonical (lower-case, hyphenated) form of a UUID string, None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _is_int(value: object) -> bool:
    # JSON true/false arrive as bool, which is an int subclass in Python; Esper wants a number.
    return isinstance(value, int) and not isinstance(value, bool)


def _string(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be a boolean"


def _integer(allowed: Callable[[int], bool], rule: str) -> _Rule:
    def check(value: Any) -> str | None:
        return None if _is_int(value) and allowed(value) else f"must be {rule}"

    return check


def _choice(*choices: str) -> _Rule:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in choices:
            return None
        return f"must be one of {', '.join(choices)}"

    return check


def _structure(value: Any) -> str | None:
    if isinstance(value, dict | list) and value:
        return None
    return "must be a non-empty JSON object or list"


def _timezone(value: Any) -> str | None:
    if isinstance(value, str) and _known_timezone(value):
        return None
    return "must be an IANA timezone name such as Europe/Berlin"


def _known_timezone(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_LOCALE = re.compile(r"[a-z]{2}(_[A-Z][a-z]{3})?_[A-Z]{2}")


def _locale(value: Any) -> str | None:
    if isinstance(value, str) and _LOCALE.fullmatch(value):
        return None
    return "must be a locale xx[_Zzzz]_yy such as en_US or zh_Hans_CN"


_PACKAGE: dict[str, _Rule] = {"package_name": _string}
_WIFI_APS: dict[str, _Rule] = {"wifi_access_points": _structure}
_STATIC_ADDRESSES = ("static_ip", "primary_dns", "subnet_mask", "gateway")

COMMANDS: dict[str, tuple[dict[str, _Rule], dict[str, _Rule]] | None] = {
    "ADD_TO_WHITELIST": (_PACKAGE, {}),
    "ADD_WIFI_AP": (_WIFI_APS, {}),
    "CLEAR_APP_DATA": (_PACKAGE, {}),
    "INSTALL": ({"app_version": _string}, {}),
    "LOCK": None,
    "REBOOT": None,
    "REMOVE_FROM_WHITELIST": (_PACKAGE, {}),
    "REMOVE_WIFI_AP": (_WIFI_APS, {}),
    "SET_APP_PERMISSION": (
        {**_PACKAGE, "grant_state": _choice(*GRANT_STATES), "permission": _string},
        {},
    ),
    "SET_APP_STATE": ({"app_state": _choice("SHOW", "HIDE", "DISABLE"), **_PACKAGE}, {}),
    "SET_BLUETOOTH_STATE": ({"bluetooth_state": _boolean}, {}),
    "SET_BRIGHTNESS_SCALE": (
        {"brightness_value": _integer(lambda v: 1 <= v <= 100, "an integer from 1 to 100")},
        {},
    ),
    "SET_DEVICE_LOCKDOWN_STATE": (
        {"state": _choice("LOCKED", "UNLOCKED"), "message": _string},
        {},
    ),
    "SET_GPS_STATE": ({"gps_state": _integer(lambda v: 0 <= v <= 4, "0, 1, 2, 3 or 4")}, {}),
    "SET_KIOSK_APP": (_PACKAGE, {}),
    "SET_NEW_POLICY": ({"policy_url": _string}, {}),
    "SET_ROTATION_STATE": ({"rotate_state": _integer(lambda v: 0 <= v <= 2, "0, 1 or 2")}, {}),
    "SET_SCREEN_OFF_TIMEOUT": (
        {
            "screen_off_timeout": _integer(
                lambda v: v == -1 or 5000 <= v <= 1_800_000,
                "-1 or an integer from 5000 to 1800000",
            )
        },
        {},
    ),
    "SET_STREAM_VOLUME": (
        {
            "stream": _integer(lambda v: 0 <= v <= 3, "0, 1, 2 or 3"),
            "volume_level": _integer(lambda v: 0 <= v <= 100, "an integer from 0 to 100"),
        },
        {},
    ),
    "SET_TIMEZONE": ({"timezone_string": _timezone}, {}),
    "SET_WIFI_STATE": (
        {"wifi_state": _boolean},
        {
            "wifi_revert_timeout": _integer(
                lambda v: 1 <= v <= _INT32_MAX, f"an integer from 1 to {_INT32_MAX}"
            )
        },
    ),
    "UNINSTALL": (_PACKAGE, {}),
    "UPDATE_DEVICE_CONFIG": None,
    "UPDATE_HEARTBEAT": None,
    "UPDATE_LATEST_DPC": None,
    "WIPE": None,
    "RESET_LOCKSCREEN_PASSWORD": ({"new_lockscreen_password": _string}, {}),
    "UPDATE_BLUEPRINT": None,
    "CAPTURE_SCREENSHOT": ({}, {"tag": _string}),
    "NOTIFY_DEVICE": ({"title": _string, "message": _string}, {"url": _string}),
    "SET_DEVICE_LANGUAGE": ({"locale": _locale}, {}),
    "SET_ETHERNET_SETTINGS": None,
    # The static addresses are required only when DHCP is off (see _static_ip).
    "SET_STATIC_IP": (
        {"interface": _string, "dhcp_enabled": _boolean},
        {**dict.fromkeys(_STATIC_ADDRESSES, _string), "secondary_dns": _string},
    ),
    "BEEP_DEVICE": None,
    "SET_APP_NOTIFICATIONS": (
        {"app_notifications_state": _choice("ENABLED", "DISABLED"), **_PACKAGE},
        {},
    ),
    "USE_ONLY_SAVED_WIFI_AP": ({"use_only_saved_ap": _boolean}, {}),
    "CONVERGE": None,
}
"""The 37 commands of the docs page: (required, optional) argument rules, or None where the docs
name no arguments (anything is accepted and stored). Keys a command does not name are stored
as sent, as a JSON field would store them."""


def _check_command_args(command: str, args: Mapping[str, Any]) -> list[str]:
    rules = COMMANDS[command]
    if rules is None:
        return []
    required, optional = rules
    errors: list[str] = []
    if command == "SET_STATIC_IP" and args.get("dhcp_enabled") is False:
        required = {**required, **{k: optional[k] for k in _STATIC_ADDRESSES}}
    for name, rule in required.items():
        value = args.get(name)
        if value is None:
            errors.append(f"command_args.{name}: this field is required")
        elif (problem := rule(value)) is not None:
            errors.append(f"command_args.{name}: {problem}")
    for name, rule in optional.items():
        value = args.get(name)
        if name not in required and value is not None and (problem := rule(value)) is not None:
            errors.append(f"command_args.{name}: {problem}")
    return errors


@dataclass(frozen=True, slots=True)
class Schedule:
    """A WINDOW or RECURRING schedule, parsed: when it may fire, and in whose clock."""

    start: float
    end: float
    recurring: bool
    days: frozenset[int] | None
    """Weekdays (Monday 0) the command may fire on; None for every day."""
    window: tuple[int, int] | None
    """The daily window as seconds after local midnight (end <= start crosses midnight)."""
    time_type: str
    """``console`` (the simulator's console timezone) or ``device`` (each device's own)."""


@dataclass(frozen=True, slots=True)
class ValidCreate:
    """A create body that passed validation, with defaults filled in and ids de-duplicated."""

    command_type: str
    devices: tuple[str, ...]
    groups: tuple[str, ...]
    device_type: str
    command: str
    command_args: dict[str, Any]
    schedule: str
    schedule_args: dict[str, Any]
    timing: Schedule | None
    """The parsed WINDOW or RECURRING schedule (None for IMMEDIATE)."""


def parse_datetime(value: object) -> float | None:
    """POSIX seconds for ISO-8601 text with a timezone; None for anything else (naive too)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError):
        return None


_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")


def _time_of_day(value: object) -> int | None:
    if not isinstance(value, str) or not (match := _TIME_OF_DAY.fullmatch(value)):
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)


def _uuids(
    name: str, value: object, limit: int, errors: list[str], known: Mapping[str, object]
) -> tuple[tuple[str, ...], bool]:
    """The distinct ids of `value` in canonical form, and whether all of them are `known`."""
    if value is None:
        return (), True
    if not isinstance(value, list):
        errors.append(f"{name}: must be a list of UUIDs")
        return (), True
    if len(value) > limit:
        errors.append(f"{name}: ensure this field has no more than {limit} elements")
    # Fast path: clients send known ids in canonical form, and a known id is its own canonical
    # form, so one set comparison replaces parsing a thousand UUIDs. Anything else (another
    # spelling, an unknown or invalid id, a non-string) takes the parsing path below.
    try:
        distinct = dict.fromkeys(value)
    except TypeError:  # an unhashable item (a JSON object or list): not a UUID
        pass
    else:
        if known.keys() >= distinct.keys():
            return tuple(distinct), True
    out: list[str] = []
    seen: set[str] = set()
    for item in value:
        canonical = canonical_uuid(item)
        if canonical is None:
            errors.append(f"{name}: {_short(item)} is not a valid UUID")
            continue
        if canonical not in seen:
            seen.add(canonical)
            out.append(canonical)
    return tuple(out), False


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _choice_field(
    body: Mapping[str, Any],
    name: str,
    choices: tuple[str, ...],
    default: str | None,
    errors: list[str],
) -> str:
    value = body.get(name)
    if value is None:
        if default is None:
            errors.append(f"{name}: this field is required")
            return ""
        return default
    if not isinstance(value, str) or value not in choices:
        errors.append(f"{name}: {_short(value)} is not a valid choice ({', '.join(choices)})")
        return ""
    return value


def _check_schedule_args(
    schedule: str, command: object, args: Mapping[str, Any], errors: list[str]
) -> Schedule | None:
    """Check `args` (for every schedule); parse them for WINDOW and RECURRING."""
    scheduled = schedule in ("WINDOW", "RECURRING")
    name = args.get("name")
    if name is not None and _string(name) is not None:
        errors.append("schedule_args.name: must be a non-empty string")
    moments: dict[str, float | None] = {}
    for key in ("start_datetime", "end_datetime"):
        value = args.get(key)
        moments[key] = moment = None if value is None else parse_datetime(value)
        if value is None:
            if scheduled:
                errors.append(f"schedule_args.{key}: required for a {schedule} schedule")
        elif moment is None:
            errors.append(f"schedule_args.{key}: must be an ISO-8601 date-time with a timezone")
    start, end = moments["start_datetime"], moments["end_datetime"]
    if start is not None and end is not None and end <= start:
        errors.append("schedule_args.end_datetime: must be after start_datetime")
    time_type = args.get("time_type")
    if time_type is not None and (not isinstance(time_type, str) or time_type not in TIME_TYPES):
        errors.append(f"schedule_args.time_type: must be one of {', '.join(TIME_TYPES)}")
    window: list[int | None] = []
    for key in ("window_start_time", "window_end_time"):
        value = args.get(key)
        parsed = None if value is None else _time_of_day(value)
        if value is not None and parsed is None:
            errors.append(f"schedule_args.{key}: must be a time of day HH:MM or HH:MM:SS")
        window.append(parsed)
    given = [args.get("window_start_time") is not None, args.get("window_end_time") is not None]
    if given[0] != given[1]:
        missing = "window_end_time" if given[0] else "window_start_time"
        errors.append(f"schedule_args.{missing}: required with the other window time")
    elif window[0] is not None and window[0] == window[1]:
        errors.append("schedule_args.window_end_time: must differ from window_start_time")
    days = args.get("days")
    weekdays: frozenset[int] | None = None
    if days is not None:
        if not isinstance(days, list) or not days:
            errors.append("schedule_args.days: must be a non-empty list of day names")
        elif not all(isinstance(d, str) and d.isascii() and d.lower() in DAYS for d in days):
            errors.append("schedule_args.days: each day must be a day name such as Monday")
        else:
            weekdays = frozenset(DAYS.index(d.lower()) for d in days)
    if command == "NOTIFY_DEVICE" and scheduled:
        errors.extend(
            f"schedule_args.{key}: required for a scheduled NOTIFY_DEVICE"
            for key in ("name", "time_type")
            if args.get(key) is None
        )
    if not scheduled or start is None or end is None or errors:
        return None
    daily = (window[0], window[1]) if window[0] is not None and window[1] is not None else None
    return Schedule(
        start=start,
        end=end,
        recurring=schedule == "RECURRING",
        days=weekdays,
        window=daily,
        time_type=time_type if isinstance(time_type, str) else "console",
    )


def validate_create(
    body: object,
    *,
    known_devices: Mapping[str, object],
    known_groups: Mapping[str, object],
) -> ValidCreate:
    """Check a create body as Esper does; raise `ValidationFailed` listing every problem."""
    if not isinstance(body, dict):
        raise ValidationFailed(["body: must be a JSON object"])
    errors: list[str] = []
    command_type = _choice_field(body, "command_type", COMMAND_TYPES, None, errors)
    device_type = _choice_field(body, "device_type", DEVICE_TYPES, "active", errors)
    schedule = _choice_field(body, "schedule", SCHEDULES, "IMMEDIATE", errors)

    command = body.get("command")
    if command is None:
        errors.append("command: this field is required")
    elif not isinstance(command, str) or command not in COMMANDS:
        errors.append(f"command: {_short(command)} is not a valid choice")

    devices, devices_known = _uuids(
        "devices", body.get("devices"), MAX_DEVICES, errors, known_devices
    )
    groups, groups_known = _uuids("groups", body.get("groups"), MAX_GROUPS, errors, known_groups)
    if not devices_known:
        errors.extend(f"devices: unknown device {d}" for d in devices if d not in known_devices)
    if not groups_known:
        errors.extend(f"groups: unknown group {g}" for g in groups if g not in known_groups)
    raw_devices, raw_groups = body.get("devices"), body.get("groups")
    if command_type == "DEVICE":
        if not raw_devices:
            errors.append("devices: a DEVICE request needs at least one device")
        if raw_groups:
            errors.append("groups: a DEVICE request takes no groups")
    elif command_type == "GROUP":
        if not raw_groups:
            errors.append("groups: a GROUP request needs at least one group")
        if raw_devices:
            errors.append("devices: a GROUP request takes no devices")
    elif command_type == "DYNAMIC" and not raw_devices:
        errors.append("devices: a DYNAMIC request needs at least one device")

    args = body.get("command_args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        errors.append("command_args: must be a JSON object")
        args = {}
    elif isinstance(command, str) and command in COMMANDS:
        errors.extend(_check_command_args(command, args))

    schedule_args = body.get("schedule_args")
    if schedule_args is None:
        schedule_args = {}
    timing = None
    if not isinstance(schedule_args, dict):
        errors.append("schedule_args: must be a JSON object")
        schedule_args = {}
    else:
        timing = _check_schedule_args(schedule, command, schedule_args, errors)

    if errors:
        raise ValidationFailed(errors)
    return ValidCreate(
        command_type=command_type,
        devices=devices,
        groups=groups,
        device_type=device_type,
        command=str(command),
        command_args=args,
        schedule=schedule,
        schedule_args=schedule_args,
        timing=timing,
    )
