"""Esper's validation of a create body, independent of the client library's own checks.

Every problem found is reported (not just the first), each as ``"<field>: <rule>"``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMANDS",
    "MAX_DEVICES",
    "MAX_GROUPS",
    "ValidCreate",
    "ValidationFailed",
    "parse_datetime",
    "validate_create",
]

MAX_DEVICES = 1000
MAX_GROUPS = 500

COMMAND_TYPES = ("DEVICE", "GROUP", "DYNAMIC")
DEVICE_TYPES = ("active", "inactive", "all")
SCHEDULES = ("IMMEDIATE", "WINDOW", "RECURRING")
TIME_TYPES = ("console", "device")
GRANT_STATES = (
    "PERMISSION_GRANT_STATE_DEFAULT",
    "PERMISSION_GRANT_STATE_DENIED",
    "PERMISSION_GRANT_STATE_GRANTED",
)

_Check = Callable[[Mapping[str, Any]], list[str]]


class ValidationFailed(Exception):
    """The body broke one or more of Esper's rules; `errors` says which."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _is_int(value: object) -> bool:
    # JSON true/false arrive as bool, which is an int subclass in Python; Esper wants a number.
    return isinstance(value, int) and not isinstance(value, bool)


def _string(name: str) -> _Check:
    def check(args: Mapping[str, Any]) -> list[str]:
        value = args.get(name)
        if value is None:
            return [f"command_args.{name}: this field is required"]
        if not isinstance(value, str) or not value.strip():
            return [f"command_args.{name}: must be a non-empty string"]
        return []

    return check


def _boolean(name: str) -> _Check:
    def check(args: Mapping[str, Any]) -> list[str]:
        value = args.get(name)
        if value is None:
            return [f"command_args.{name}: this field is required"]
        if not isinstance(value, bool):
            return [f"command_args.{name}: must be a boolean"]
        return []

    return check


def _integer(name: str, allowed: Callable[[int], bool], rule: str) -> _Check:
    def check(args: Mapping[str, Any]) -> list[str]:
        value = args.get(name)
        if value is None:
            return [f"command_args.{name}: this field is required"]
        if not _is_int(value) or not allowed(value):
            return [f"command_args.{name}: must be {rule}"]
        return []

    return check


def _choice(name: str, choices: tuple[str, ...]) -> _Check:
    def check(args: Mapping[str, Any]) -> list[str]:
        value = args.get(name)
        if value is None:
            return [f"command_args.{name}: this field is required"]
        if value not in choices:
            return [f"command_args.{name}: must be one of {', '.join(choices)}"]
        return []

    return check


def _structure(name: str) -> _Check:
    def check(args: Mapping[str, Any]) -> list[str]:
        value = args.get(name)
        if value is None:
            return [f"command_args.{name}: this field is required"]
        if not isinstance(value, dict | list) or not value:
            return [f"command_args.{name}: must be a non-empty JSON object or list"]
        return []

    return check


def _optional(check: _Check, name: str) -> _Check:
    def wrapped(args: Mapping[str, Any]) -> list[str]:
        return check(args) if args.get(name) is not None else []

    return wrapped


def _static_ip(args: Mapping[str, Any]) -> list[str]:
    errors = _string("interface")(args) + _boolean("dhcp_enabled")(args)
    # A static address is only needed when DHCP is off.
    if args.get("dhcp_enabled") is False:
        for name in ("static_ip", "primary_dns", "subnet_mask", "gateway"):
            errors += _string(name)(args)
    return errors


_PACKAGE = _string("package_name")
_WIFI_APS = _structure("wifi_access_points")

COMMANDS: dict[str, tuple[_Check, ...]] = {
    "ADD_TO_WHITELIST": (_PACKAGE,),
    "ADD_WIFI_AP": (_WIFI_APS,),
    "CLEAR_APP_DATA": (_PACKAGE,),
    "INSTALL": (_string("app_version"),),
    "LOCK": (),
    "REBOOT": (),
    "REMOVE_FROM_WHITELIST": (_PACKAGE,),
    "REMOVE_WIFI_AP": (_WIFI_APS,),
    "SET_APP_PERMISSION": (_PACKAGE, _choice("grant_state", GRANT_STATES), _string("permission")),
    "SET_APP_STATE": (_choice("app_state", ("SHOW", "HIDE", "DISABLE")), _PACKAGE),
    "SET_BLUETOOTH_STATE": (_boolean("bluetooth_state"),),
    "SET_BRIGHTNESS_SCALE": (
        _integer("brightness_value", lambda v: 1 <= v <= 100, "an integer from 1 to 100"),
    ),
    "SET_DEVICE_LOCKDOWN_STATE": (_choice("state", ("LOCKED", "UNLOCKED")), _string("message")),
    "SET_GPS_STATE": (_integer("gps_state", lambda v: 0 <= v <= 4, "0, 1, 2, 3 or 4"),),
    "SET_KIOSK_APP": (_PACKAGE,),
    "SET_NEW_POLICY": (_string("policy_url"),),
    "SET_ROTATION_STATE": (_integer("rotate_state", lambda v: 0 <= v <= 2, "0, 1 or 2"),),
    "SET_SCREEN_OFF_TIMEOUT": (
        _integer(
            "screen_off_timeout",
            lambda v: v == -1 or 5000 <= v <= 1_800_000,
            "-1 or an integer from 5000 to 1800000",
        ),
    ),
    "SET_STREAM_VOLUME": (
        _integer("stream", lambda v: 0 <= v <= 3, "0, 1, 2 or 3"),
        _integer("volume_level", lambda v: 0 <= v <= 100, "an integer from 0 to 100"),
    ),
    "SET_TIMEZONE": (_string("timezone_string"),),
    "SET_WIFI_STATE": (_boolean("wifi_state"),),
    "UNINSTALL": (_PACKAGE,),
    "UPDATE_DEVICE_CONFIG": (),
    "UPDATE_HEARTBEAT": (),
    "UPDATE_LATEST_DPC": (),
    "WIPE": (),
    "RESET_LOCKSCREEN_PASSWORD": (_string("new_lockscreen_password"),),
    "UPDATE_BLUEPRINT": (),
    "CAPTURE_SCREENSHOT": (_optional(_string("tag"), "tag"),),
    "NOTIFY_DEVICE": (_string("title"), _string("message"), _optional(_string("url"), "url")),
    # The docs do not name the argument keys of the next three, so nothing is required of them.
    "SET_DEVICE_LANGUAGE": (),
    "SET_ETHERNET_SETTINGS": (),
    "SET_STATIC_IP": (_static_ip,),
    "BEEP_DEVICE": (),
    "SET_APP_NOTIFICATIONS": (
        _choice("app_notifications_state", ("ENABLED", "DISABLED")),
        _PACKAGE,
    ),
    "USE_ONLY_SAVED_WIFI_AP": (_boolean("use_only_saved_ap"),),
    "CONVERGE": (),
}
"""The 37 commands of the docs page and the checks on each one's ``command_args``."""


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
    start: float | None
    end: float | None


def parse_datetime(value: object) -> float | None:
    """POSIX seconds for an ISO-8601 string (naive means UTC, as the SDK sends), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


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
        try:
            canonical = str(uuid.UUID(item)) if isinstance(item, str) else None
        except ValueError:
            canonical = None
        if canonical is None:
            errors.append(f"{name}: {item!r} is not a valid UUID")
            continue
        if canonical not in seen:
            seen.add(canonical)
            out.append(canonical)
    return tuple(out), False


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
    if value not in choices:
        errors.append(f"{name}: {value!r} is not a valid choice ({', '.join(choices)})")
        return ""
    return str(value)


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
    elif command not in COMMANDS:
        errors.append(f"command: {command!r} is not a valid choice")

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
        for check in COMMANDS[command]:
            errors.extend(check(args))

    schedule_args = body.get("schedule_args")
    if schedule_args is None:
        schedule_args = {}
    start = end = None
    if not isinstance(schedule_args, dict):
        errors.append("schedule_args: must be a JSON object")
        schedule_args = {}
    elif schedule in ("WINDOW", "RECURRING"):
        for name in ("start_datetime", "end_datetime"):
            if schedule_args.get(name) is None:
                errors.append(f"schedule_args.{name}: required for a {schedule} schedule")
            elif parse_datetime(schedule_args[name]) is None:
                errors.append(f"schedule_args.{name}: not an ISO-8601 date-time")
        start = parse_datetime(schedule_args.get("start_datetime"))
        end = parse_datetime(schedule_args.get("end_datetime"))
        if start is not None and end is not None and end <= start:
            errors.append("schedule_args.end_datetime: must be after start_datetime")
        time_type = schedule_args.get("time_type")
        if time_type is not None and time_type not in TIME_TYPES:
            errors.append(f"schedule_args.time_type: {time_type!r} is not a valid choice")

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
        start=start,
        end=end,
    )
