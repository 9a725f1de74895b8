"""The one place that knows how the API's JSON maps onto the models.

Strictly private: resources and the transport call `structure` and `unstructure`; models
never see JSON. Rules: ISO-8601 datetimes (``Z`` accepted, one without an offset read as UTC,
aware datetimes written with their offset), UUIDs as strings, ``None`` fields left out of what is
sent, unknown keys ignored on the way in, and an enum value the library does not know kept as its
string instead of failing the response. Lists and ``command_args`` sent as ``null`` read as
empty, and a UUID field sent as a resource URL (the OpenAPI types ``CommandStatus.device`` as one)
reads as the URL's trailing id.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._uuids import all_hex_ids, uuid_from_text, uuids_from_texts
from .models import CommandArgs, CommandRequest, Device

__all__ = ["DeferredDevices", "converter", "structure", "unstructure"]

T = TypeVar("T")

_COMMAND_ARG_FIELDS = frozenset(a.name for a in attrs.fields(CommandArgs) if a.name != "extra")

# Device fields whose JSON key is camelCase (the rest of the API is snake_case).
_DEVICE_RENAMES = {
    "software_info": "softwareInfo",
    "hardware_info": "hardwareInfo",
    "network_info": "networkInfo",
    "memory_info": "memoryInfo",
    "audio_constraints": "audioConstraints",
}


def _union_members(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        return get_args(tp)
    return ()


def _is_open_enum(tp: Any) -> bool:
    """``SomeEnum | str`` (optionally ``| None``): an enum the server may extend."""
    members = _union_members(tp)
    return str in members and any(isinstance(m, type) and issubclass(m, enum.Enum) for m in members)


def _open_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    enum_type = next(
        m for m in _union_members(tp) if isinstance(m, type) and issubclass(m, enum.Enum)
    )
    allows_none = type(None) in _union_members(tp)

    def structure_open_enum(value: Any, _: Any) -> Any:
        if value is None and allows_none:
            return None
        if not isinstance(value, str):
            msg = f"expected a string for {enum_type.__name__}, got {type(value).__name__}"
            raise TypeError(msg)
        try:
            return enum_type(value)
        except ValueError:
            return (
                value  # a value added to the API after this release: keep it, don't fail the page
            )

    return structure_open_enum


def _structure_datetime(value: Any, _: Any) -> dt.datetime:
    if not isinstance(value, str):
        msg = f"expected an ISO-8601 string, got {type(value).__name__}"
        raise TypeError(msg)
    when = dt.datetime.fromisoformat(value)
    # A time without an offset is the server's, which keeps UTC; naive and aware datetimes
    # cannot even be compared, so every model holds aware ones.
    return when if when.utcoffset() is not None else when.replace(tzinfo=dt.UTC)


def _unstructure_datetime(value: dt.datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _structure_uuid(value: Any, _: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        msg = f"expected a UUID string, got {type(value).__name__}"
        raise TypeError(msg)
    if value.startswith(("http://", "https://")):
        # A hyperlinked DRF field: ``https://…/device/<uuid>/`` names the same object.
        value = value.rstrip("/").rsplit("/", 1)[-1]
    return uuid_from_text(value)


@attrs.frozen(repr=False)
class DeferredDevices:
    """A command request decoded without its device ids, which are kept as the server's text.

    A create answer lists all its targets: decoded, a fan-out to 100,000 devices makes 100,000
    UUID objects (CPU in the hot loop, and garbage-collector passes over them all) that most
    callers never read. `complete` makes them when one does.

    Attributes:
        request: The request; its ``devices`` are empty when `device_ids` holds them.
        device_ids: The device ids as the server wrote them (checked canonical), or None when
            they are in ``request.devices`` already.
    """

    request: CommandRequest
    device_ids: tuple[str, ...] | None = None

    def complete(self) -> CommandRequest:
        """The request with its device ids decoded."""
        if self.device_ids is None:
            return self.request
        devices = uuids_from_texts(self.device_ids)
        if devices is None:  # not reached for checked ids; kept as the general path
            devices = converter.structure(list(self.device_ids), tuple[uuid.UUID, ...])
        return attrs.evolve(self.request, devices=devices)

    def __repr__(self) -> str:
        deferred = "" if self.device_ids is None else f", {len(self.device_ids)} device ids"
        return f"DeferredDevices(request_id={str(self.request.id)!r}{deferred})"


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    structure_items = homogenous_tuple_structure_factory(tp, conv)
    # A create answer lists its 1000 device ids: decoded in bulk, about twice as fast.
    of_uuids = get_args(tp)[0] is uuid.UUID

    def structure_tuple(value: Any, _: Any) -> Any:
        if value is None:
            return ()  # a nullable list column: no items
        if isinstance(value, str | bytes | Mapping):
            # Iterating these would silently make a tuple of characters or keys.
            msg = f"expected a list, got {type(value).__name__}"
            raise TypeError(msg)
        if of_uuids and type(value) is list and (ids := uuids_from_texts(value)) is not None:
            return ids
        return structure_items(value, tp)

    return structure_tuple


def _structure_command_args(value: Any, _: Any) -> CommandArgs:
    if value is None:
        return CommandArgs()
    if not isinstance(value, Mapping):
        msg = f"expected an object for command_args, got {type(value).__name__}"
        raise TypeError(msg)
    known = {k: v for k, v in value.items() if k in _COMMAND_ARG_FIELDS}
    extra = {k: v for k, v in value.items() if k not in _COMMAND_ARG_FIELDS}
    return CommandArgs(**known, extra=extra)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=False)
    conv.register_structure_hook(dt.datetime, _structure_datetime)
    conv.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    conv.register_structure_hook(uuid.UUID, _structure_uuid)
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_structure_hook_factory(_is_open_enum, _open_enum_hook)
    conv.register_structure_hook(CommandArgs, _structure_command_args)

    def structure_deferred(value: Any, _: Any) -> DeferredDevices:
        if isinstance(value, Mapping):
            devices = value.get("devices")
            if type(devices) is list and devices and all_hex_ids(devices):
                # ``null`` reads as no devices; the ids wait in a tuple of str, which the
                # garbage collector stops tracking.
                request = conv.structure({**value, "devices": None}, CommandRequest)
                return DeferredDevices(request, tuple(devices))
        return DeferredDevices(conv.structure(value, CommandRequest))

    conv.register_structure_hook(DeferredDevices, structure_deferred)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, lambda tp: _tuple_hook(tp, conv))
    renames: dict[str, Any] = {name: override(rename=key) for name, key in _DEVICE_RENAMES.items()}
    conv.register_structure_hook(Device, make_dict_structure_fn(Device, conv, **renames))
    # StrEnum members are str subclasses, so the str hook would win without this: send plain str.
    conv.register_unstructure_hook(enum.StrEnum, lambda member: member.value)

    def unstructure_command_args(args: CommandArgs) -> dict[str, Any]:
        out = {
            name: conv.unstructure(getattr(args, name))
            for name in sorted(_COMMAND_ARG_FIELDS)
            if getattr(args, name) is not None
        }
        out.update(args.extra)
        return out

    conv.register_unstructure_hook(CommandArgs, unstructure_command_args)
    conv.register_unstructure_hook(
        Device,
        make_dict_unstructure_fn(Device, conv, _cattrs_omit_if_default=True, **renames),
    )
    # Every other model: leave out fields still at their default (None, empty), as the SDK does.
    conv.register_unstructure_hook_factory(
        attrs.has,
        lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True),
    )
    return conv


converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Build a model (or ``Page[Model]``) from decoded JSON."""
    return converter.structure(data, cls)


def unstructure(value: Any) -> Any:
    """Turn a model into JSON-ready data, leaving out unset fields."""
    return converter.unstructure(value)
