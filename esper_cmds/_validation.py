"""Checks of ids and targets, and the shared numeric validator; the command rules re-exported.

Strictly private. The rules of a command value are in ``models._rules`` (`CommandSpec` applies
them); the rules of whom it goes to (ids, counts, the command type against the targets) are here,
the one place for a create and a fan-out alike.
"""

from __future__ import annotations

import math
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import attrs

from ._errors import ValidationError
from ._uuids import CANONICAL, all_canonical, texts_of_uuids
from .models import CommandType
from .models._rules import (
    check_command_args,
    check_schedule_args,
    parse_command,
    parse_enum,
    validate_command_args,
)

__all__ = [
    "MAX_DEVICES_PER_REQUEST",
    "MAX_GROUPS_PER_REQUEST",
    "CheckedIds",
    "check_command_args",
    "check_id_list",
    "check_schedule_args",
    "in_range",
    "parse_command",
    "parse_enum",
    "parse_targets",
    "parse_uuid",
    "parse_uuids",
    "request_targets",
    "target_kind",
    "validate_command_args",
]

MAX_DEVICES_PER_REQUEST = 1000
MAX_GROUPS_PER_REQUEST = 500


def parse_uuid(value: object, field: str) -> uuid.UUID:
    """A UUID from a `uuid.UUID` or its string form, or a `ValidationError` naming `field`."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationError(field, "must be a UUID like 5b7c1e0a-0d4e-4a57-9a3c-0c1d2e3f4a5b", value)


def parse_uuids(values: Iterable[object] | None, field: str) -> list[uuid.UUID]:
    """Parse each id, refusing a bare string (it would be iterated character by character)."""
    if values is None:
        return []
    check_id_list(values, field)
    return [parse_uuid(v, f"{field}[{i}]") for i, v in enumerate(values)]


def check_id_list(values: object, field: str) -> None:
    """Refuse what is not a list of ids: one id alone, a number, a mapping."""
    if isinstance(values, str | bytes | uuid.UUID):
        raise ValidationError(field, "must be a list of UUIDs, not a single value", values)
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise ValidationError(field, "must be a list of UUIDs", values)


def in_range(
    low: float,
    high: float = math.inf,
    *,
    integer: bool = False,
    above: bool = False,
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator refusing, with `ValidationError` naming the field, anything but a
    number (an integer if `integer`) from `low` (exclusive if `above`) to `high`; never NaN."""
    finite = high >= sys.float_info.max
    kinds = "an integer" if integer else ("a finite number" if finite else "a number")
    bound = f"more than {low:g}" if above else f"{low:g} or more"
    limit = "" if finite or high == math.inf else f" and at most {high:g}"
    rule = f"must be {kinds}, {bound}{limit}"

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        wanted = int if integer else (int, float)
        ok = (
            not isinstance(value, bool)
            and isinstance(value, wanted)
            and value == value
            and (value > low if above else value >= low)
            and value <= high
            and (not finite or math.isfinite(value))  # the rule says finite: so is infinity out
        )
        if not ok:
            raise ValidationError(attribute.name, rule, value)

    return check


def target_kind(
    command_type: CommandType | str | None, *, devices: bool, groups: bool, many: bool = False
) -> CommandType:
    """The command type: as given (checked against the targets) or implied by them.

    The one place of the target rules, for a create and a fan-out (`many`) alike.
    """
    what = "fan-out" if many else "request"
    if command_type is None:
        if devices and groups:
            hint = "pass resolve_groups=True to send to their devices" if many else "pass one"
            raise ValidationError("groups", f"cannot be combined with devices ({hint})", None)
        if groups:
            return CommandType.GROUP
        if devices:
            return CommandType.DEVICE
        raise ValidationError("devices", "at least one device or group is required", [])
    kind = parse_enum(command_type, CommandType, "command_type")
    if kind is CommandType.GROUP:
        if not groups:
            raise ValidationError("groups", f"a GROUP {what} needs at least one group", [])
        if devices:
            raise ValidationError("devices", f"must be empty for a GROUP {what}", None)
    else:
        if not devices:
            hint = " (or groups with resolve_groups=True)" if many else ""
            raise ValidationError(
                "devices", f"a {kind.value} {what} needs at least one device{hint}", []
            )
        if groups:
            raise ValidationError("groups", f"must be empty for a {kind.value} {what}", None)
    return kind


class CheckedIds(tuple[str, ...]):
    """Ids `parse_targets` gave: canonical text, each once. A fan-out's chunks hold them, so the
    create of each chunk does not check 1000 ids a second time (~0.3 ms a chunk)."""

    __slots__ = ()


def parse_targets(values: Iterable[uuid.UUID | str] | None, field: str) -> list[str]:
    """Every id validated (the error names its index), as canonical text, each once."""
    if values is None:
        return []
    if isinstance(values, CheckedIds):
        return list(values)
    check_id_list(values, field)
    ids = _canonical_ids(values, field)
    if isinstance(values, AbstractSet):
        # A set's order changes from process to process (string hashing is salted): sorted,
        # the same set makes the same chunks and journal fingerprint in every run and on every
        # host, so a resume or a second host finds the journal instead of sending again.
        ids.sort()
    return ids


def _canonical_ids(values: Iterable[uuid.UUID | str], field: str) -> list[str]:
    items = values if isinstance(values, list | tuple) else list(values)
    # Ids already in canonical form (what the API returns) skip uuid.UUID(): for 100,000 of
    # them a bulk check costs a few milliseconds. Anything else is parsed one by one, through
    # the shared parser and its error.
    if all_canonical(items):
        return list(dict.fromkeys(items))
    if set(map(type, items)) == {uuid.UUID}:  # e.g. ids from ``client.devices.list()``
        return texts_of_uuids(items)  # type: ignore[arg-type]  # all UUID, just checked
    out: list[str] = []
    for i, value in enumerate(items):
        if isinstance(value, str) and CANONICAL.fullmatch(value):
            out.append(value)
        else:
            out.append(str(parse_uuid(value, f"{field}[{i}]")))
    return list(dict.fromkeys(out))


def _not_obviously_too_many(values: object, field: str, limit: int) -> None:
    """Refuse a list far over the per-request limit before parsing every id of it (a million
    ids would take seconds); repeats, which are sent once, are allowed for."""
    if not isinstance(values, list | tuple | set | frozenset) or len(values) <= limit:
        return
    distinct = {str(v).lower() for v in values}
    if len(distinct) > limit:
        raise ValidationError(
            field, f"at most {limit} per request (use fan_out for more)", len(distinct)
        )


def request_targets(
    command_type: CommandType | str | None,
    devices: Iterable[uuid.UUID | str] | None,
    groups: Iterable[uuid.UUID | str] | None,
) -> tuple[CommandType, list[str], list[str]]:
    """One create's targets: the kind, and the device and group ids (each once, within limits)."""
    _not_obviously_too_many(devices, "devices", MAX_DEVICES_PER_REQUEST)
    _not_obviously_too_many(groups, "groups", MAX_GROUPS_PER_REQUEST)
    device_ids = parse_targets(devices, "devices")
    group_ids = parse_targets(groups, "groups")
    for field, ids, limit in (
        ("devices", device_ids, MAX_DEVICES_PER_REQUEST),
        ("groups", group_ids, MAX_GROUPS_PER_REQUEST),
    ):
        if len(ids) > limit:
            raise ValidationError(
                field, f"at most {limit} per request (use fan_out for more)", len(ids)
            )
    kind = target_kind(command_type, devices=bool(device_ids), groups=bool(group_ids))
    return kind, device_ids, group_ids
