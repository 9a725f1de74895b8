"""The one place that knows how the API's JSON maps onto the models.

Strictly private: the transport calls `decode`, validation calls `unstructure`; models never see
JSON. The rules, whichever reader applies them:

- datetimes are ISO-8601 text (``Z`` accepted, one without an offset read as UTC, aware
  datetimes written with their offset; a fraction finer than a microsecond is rounded half up on
  its seventh digit); UUIDs are text, and
  a UUID field sent as a resource URL (the OpenAPI types ``CommandStatus.device`` as one) reads as
  the URL's trailing id;
- unknown keys are ignored; an enum value the library does not know is kept as its string;
- lists and ``command_args`` sent as ``null`` read as empty; ``None`` fields are left out of
  what is sent;
- nothing is coerced: ``"false"`` is not a bool, ``30.9`` is not an int, ``5`` is not a str.

A value of the wrong type fails the whole response where the library acts on it: a page's
envelope, ids, states, commands, targets, timestamps and totals (guessing any of those could make
a fan-out resend or a watch stop early). In a field the library only carries for the caller
(`_CARRIED`), it does not: the field reads as None (or empty) and the item keeps the raw JSON in
``unparsed``, so one odd item never fails its page. A ``command_args`` value that does not fit
its field is kept as sent in ``CommandArgs.extra``.

Two readers apply the rules:

- `structure` (cattrs) reads already-decoded JSON. It is the reference: it reads every shape the
  rules allow.
- `decode` reads response bytes straight into the models in C (msgspec) for the shapes the API
  normally sends, and hands anything else (an odd value, a resource URL for an id, a NaN) to
  ``structure(json.loads(body))``. Both give equal models for the same JSON; tests compare them.
"""

from __future__ import annotations

import collections.abc
import contextlib
import datetime as dt
import enum
import gc
import json
import re
import sys
import sysconfig
import threading
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import repeat
from typing import Annotated, Any, TypeVar, get_args, get_origin

import attrs
import cattrs
import msgspec
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import ValidationError
from ._uuids import uuid_from_text, uuids_from_texts
from .models import (
    CommandArgs,
    CommandRequest,
    CommandSpec,
    CommandStatus,
    CommandType,
    Device,
    DeviceGroup,
)

__all__ = [
    "NotJSONError",
    "converter",
    "decode",
    "encode_create",
    "structure",
    "unstructure",
]

T = TypeVar("T")

# Device fields whose JSON key is camelCase (the rest of the API is snake_case).
_DEVICE_RENAMES = {
    "software_info": "softwareInfo",
    "hardware_info": "hardwareInfo",
    "network_info": "networkInfo",
    "memory_info": "memoryInfo",
    "audio_constraints": "audioConstraints",
}
_RENAMES: dict[type, dict[str, str]] = {Device: _DEVICE_RENAMES}

_UNPARSED = "unparsed"


def _fields_but(cls: type, *names: str) -> frozenset[str]:
    return frozenset(a.name for a in attrs.fields(cls) if a.name not in {*names, _UNPARSED})


_CARRIED: dict[type, frozenset[str]] = {
    # Reconciliation matches on command, types and targets, the watch on states and totals.
    CommandRequest: frozenset(
        {"enterprise", "command_args", "schedule", "schedule_args", "issued_by"}
    ),
    CommandStatus: frozenset({"reason"}),
    Device: _fields_but(Device, "id"),
    DeviceGroup: _fields_but(DeviceGroup, "id", "name"),
}
"""Per listed model, the fields where a value of the wrong type reads as None (or empty), the
raw JSON kept in the item's ``unparsed``, instead of failing the response."""

# What a structure hook raises for a value that does not fit its type.
_ODD_VALUE = (TypeError, ValueError, KeyError, AttributeError)


class NotJSONError(ValueError):
    """The body is not JSON at all (as opposed to JSON of the wrong shape)."""


def _union_members(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        return get_args(tp)
    return ()


def _enum_member_type(tp: Any) -> type[enum.Enum] | None:
    return next(
        (m for m in _union_members(tp) if isinstance(m, type) and issubclass(m, enum.Enum)),
        None,
    )


def _is_open_enum(tp: Any) -> bool:
    """``SomeEnum | str`` (optionally ``| None``): an enum the server may extend."""
    return str in _union_members(tp) and _enum_member_type(tp) is not None


def _open_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    enum_type = _enum_member_type(tp)
    assert enum_type is not None
    members = {m.value: m for m in enum_type}
    allows_none = type(None) in _union_members(tp)

    def structure_open_enum(value: Any, _: Any) -> Any:
        if value is None and allows_none:
            return None
        if not isinstance(value, str):
            msg = f"expected a string for {enum_type.__name__}, got {type(value).__name__}"
            raise TypeError(msg)
        # A value added to the API after this release is kept: it must not fail the page.
        return members.get(value, value)

    return structure_open_enum


def _exact(tp: type, *also: type) -> Callable[[Any, Any], Any]:
    """A hook taking values of exactly `tp` (or `also`), never converting: cattrs' own calls
    ``bool("false")`` (True) and ``int(30.9)`` (30). bool is an int, and no int here."""
    accepted = (tp, *also)

    def structure_exact(value: Any, _: Any) -> Any:
        if type(value) not in accepted:
            msg = f"expected {tp.__name__}, got {type(value).__name__}"
            raise TypeError(msg)
        return tp(value) if also else value

    return structure_exact


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return value


_LONG_FRACTION = re.compile(r"\.(\d{7,})")


def _structure_datetime(value: Any, _: Any) -> dt.datetime:
    if not isinstance(value, str):
        msg = f"expected an ISO-8601 string, got {type(value).__name__}"
        raise TypeError(msg)
    # RFC 3339 allows a lowercase z (fromisoformat does not before 3.12; msgspec does).
    text = value[:-1] + "Z" if value.endswith("z") else value
    longer = _LONG_FRACTION.search(text)
    if longer is None:
        return _aware(dt.datetime.fromisoformat(text))
    # Finer than microseconds: rounded half up on the seventh digit, as msgspec does, where
    # fromisoformat truncates; the two readers must agree.
    digits = longer.group(1)
    moment = dt.datetime.fromisoformat(text[: longer.start(1) + 6] + text[longer.end(1) :])
    if digits[6] >= "5":
        try:
            moment += dt.timedelta(microseconds=1)
        except OverflowError:
            raise ValueError(f"{value!r} rounds past the largest datetime") from None
    return _aware(moment)


def _aware(moment: dt.datetime) -> dt.datetime:
    # A time without an offset is the server's, which keeps UTC; naive and aware datetimes
    # cannot even be compared (reconciliation and watch compare them), so every model holds
    # aware ones.
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=dt.UTC)


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


def _is_json_object(tp: Any) -> bool:
    """``Mapping[str, Any]``: a JSON object kept as decoded."""
    return get_origin(tp) in (Mapping, collections.abc.Mapping, dict) and get_args(tp) == (
        str,
        Any,
    )


def _structure_json_object(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return dict(value)


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
        if not isinstance(value, list | tuple):
            # Iterating a str or a mapping would silently make a tuple of characters or keys.
            msg = f"expected a list, got {type(value).__name__}"
            raise TypeError(msg)
        if of_uuids and type(value) is list and (ids := uuids_from_texts(value)) is not None:
            return ids
        return structure_items(value, tp)

    return structure_tuple


def _item_hook(cls: type, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Structure one listed item: strict fields raise, carried fields that do not fit read as
    their default and keep their raw JSON in ``unparsed``."""
    hints = typing.get_type_hints(cls)
    carried = _CARRIED[cls]
    renames = _RENAMES.get(cls, {})
    plan = [
        (
            a.name,
            renames.get(a.name, a.name),
            conv.get_structure_hook(hints[a.name]),
            hints[a.name],
            a.name in carried,
            a.default is attrs.NOTHING,
        )
        for a in attrs.fields(cls)
        if a.name != _UNPARSED
    ]
    name = cls.__name__

    def structure_item(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {name}, got {type(value).__name__}")
        kwargs: dict[str, Any] = {}
        unparsed: dict[str, Any] = {}
        for field, key, hook, tp, tolerant, required in plan:
            if key not in value:
                if required:
                    raise KeyError(f"{name} without {key!r}")
                continue
            raw = value[key]
            if not tolerant:
                kwargs[field] = hook(raw, tp)
                continue
            try:
                kwargs[field] = hook(raw, tp)
            except _ODD_VALUE:
                unparsed[key] = raw  # the field keeps its default (None or empty)
        return cls(**kwargs, unparsed=unparsed)

    return structure_item


def _is_model(tp: Any) -> bool:
    return attrs.has(get_origin(tp) or tp)


def _model_hook(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    structure_fields = make_dict_structure_fn(tp, conv)
    name = getattr(get_origin(tp) or tp, "__name__", str(tp))

    def structure_model(value: Any, _: Any) -> Any:
        # cattrs' own function would read a str as an object without keys ("in" on a str).
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {name}, got {type(value).__name__}")
        return structure_fields(value, tp)

    return structure_model


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=False)
    conv.register_structure_hook_factory(_is_model, lambda tp: _model_hook(tp, conv))
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _exact(int))
    conv.register_structure_hook(bool, _exact(bool))
    conv.register_structure_hook(float, _exact(float, int))
    conv.register_structure_hook_func(_is_json_object, _structure_json_object)
    conv.register_structure_hook(dt.datetime, _structure_datetime)
    conv.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    conv.register_structure_hook(uuid.UUID, _structure_uuid)
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_structure_hook_factory(_is_open_enum, _open_enum_hook)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, lambda tp: _tuple_hook(tp, conv))

    arg_types = typing.get_type_hints(CommandArgs)
    arg_types.pop("extra")

    def structure_command_args(value: Any, _: Any) -> CommandArgs:
        if value is None:
            return CommandArgs()
        if not isinstance(value, Mapping):
            msg = f"expected an object for command_args, got {type(value).__name__}"
            raise TypeError(msg)
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, item in value.items():
            tp = arg_types.get(key)
            try:
                if tp is not None:
                    known[key] = conv.structure(item, tp)
                    continue
            except _ODD_VALUE:
                pass
            extra[key] = item  # no field, or not of its type: kept and sent back as it came
        return CommandArgs(**known, extra=extra)

    conv.register_structure_hook(CommandArgs, structure_command_args)
    for cls in _CARRIED:
        conv.register_structure_hook(cls, _item_hook(cls, conv))

    # StrEnum members are str subclasses, so the str hook would win without this: send plain str.
    conv.register_unstructure_hook(enum.StrEnum, lambda member: member.value)

    def unstructure_command_args(args: CommandArgs) -> dict[str, Any]:
        out = {
            name: conv.unstructure(getattr(args, name))
            for name in sorted(arg_types)
            if getattr(args, name) is not None
        }
        out.update(args.extra)
        return out

    conv.register_unstructure_hook(CommandArgs, unstructure_command_args)

    def item_unstructure(cls: type) -> Callable[[Any], dict[str, Any]]:
        renames = {name: override(rename=key) for name, key in _RENAMES.get(cls, {}).items()}
        fields: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls,
            conv,
            _cattrs_omit_if_default=True,
            **renames,  # type: ignore[arg-type]
            unparsed=override(omit=True),
        )

        def unstructure_item(item: Any) -> dict[str, Any]:
            out = fields(item)
            out.update(item.unparsed)  # what did not fit goes back as it came
            return out

        return unstructure_item

    for cls in _CARRIED:
        conv.register_unstructure_hook(cls, item_unstructure(cls))
    # Every other model: leave out fields still at their default (None, empty), as the SDK does.
    conv.register_unstructure_hook_factory(
        attrs.has,
        lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True),
    )
    return conv


converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Build a model (or ``Page[Model]``) from decoded JSON: the reference reader."""
    return converter.structure(data, cls)


def unstructure(value: Any) -> Any:
    """Turn a model into JSON-ready data, leaving out unset fields."""
    return converter.unstructure(value)


def _json_text(value: Any) -> str:
    """Compact JSON text that is valid UTF-8, as httpx's ``json=`` writes it.

    Validation keeps such values out of a `CommandSpec`; this is the last guard before bytes go
    out. A value JSON cannot hold (NaN, infinity, an object of no JSON type, a lone surrogate)
    is a `ValidationError` on ``request``: nothing is sent.
    """
    why: str | None = None
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        text.encode()  # a lone surrogate passes dumps and fails here
        return text
    except (ValueError, TypeError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        why = f"{type(exc).__name__}: {exc}"
    raise ValidationError("request", f"cannot be encoded as JSON ({why})", None)


def create_body(spec: CommandSpec, kind: CommandType) -> dict[str, Any]:
    """The JSON of a create without its targets (the same for every chunk of a fan-out)."""
    body: dict[str, Any] = {
        "command_type": kind.value,
        "device_type": spec.device_type.value,
        "command": spec.command.value,
        "command_args": unstructure(spec.command_args),
        "schedule": spec.schedule.value,
    }
    if spec.schedule_args is not None:
        schedule_args: dict[str, Any] = unstructure(spec.schedule_args)
        for key, value in spec.schedule_extra.items():
            schedule_args.setdefault(key, value)
        body["schedule_args"] = schedule_args
    return body


def encode_create(
    spec: CommandSpec, kind: CommandType, devices: Sequence[str], groups: Sequence[str]
) -> tuple[dict[str, Any], bytes]:
    """A create's body, as JSON data (for an error to report) and as the bytes to send.

    The ids are canonical UUID text (as validation leaves them): hex digits and dashes, nothing
    to escape, so they are joined in as they are, for 1000 of them ~10x cheaper than encoding.
    """
    template, head = _template(spec, kind)
    key, ids = ("devices", devices) if devices else ("groups", groups)
    body = {**template, key: list(ids)}
    return body, "".join((head, ',"', key, '":["', '","'.join(ids), '"]}')).encode()


def _template(spec: CommandSpec, kind: CommandType) -> tuple[dict[str, Any], str]:
    """The body without targets, and its JSON without the closing brace.

    Encoded afresh for every create (~20 µs): a cache keyed by the spec would send a stale
    body after a caller changed a mapping inside it.
    """
    template = create_body(spec, kind)
    text = _json_text(template)
    return template, text[:-1]


# --- decode: response bytes straight into the models, in C ------------------------------------
#
# msgspec decodes JSON into attrs classes itself (UUIDs and datetimes included) and calls their
# ``__attrs_post_init__``, but it cannot express two of the rules: an open enum (``CommandState |
# str`` is a union it refuses) and ``null`` for a list. So it decodes into a *shadow* of each
# model: a subclass adding no slots, whose annotations say ``str`` and ``tuple[...] | None``
# there, and whose ``__attrs_post_init__`` maps the string to its member, reads ``null`` as
# empty, and then assigns the instance's ``__class__`` to the model itself. Same slots, so
# CPython allows the assignment; what comes out is an ordinary instance of the model, equal to
# the one `structure` builds. A shadow with nothing to fix but its class and ``unparsed`` (a
# status, as the API sends it) has no post-init: whatever holds it (a page's results, or
# `decode` itself) finishes all its items at once, in C (`_finisher`), where a Python call per
# item cost a fifth of a page's decode. msgspec reads an attrs field from the JSON key of its
# name; for Device's camelCase keys the shadow also carries the model's slot descriptors under
# those keys.
#
# Every shape the shadows cannot express, msgspec refuses, and `decode` hands the body to
# `structure`. Three shadow sets are tried in turn (`_TIERS`): enums as msgspec reads them (only
# the values this release knows), then open enums, then ids read as text (resource URLs).

_set_class = object.__dict__["__class__"].__set__


_FieldPlan: typing.TypeAlias = tuple[Any, str | None, Callable[..., Any] | None]
"""A field's wire type, the kind of `_Fix` it needs after decoding (None: none) and its function."""


@attrs.frozen
class _Fix:
    """One post-decode step for one field."""

    field: str
    kind: str  # a key of `_FIX_LINES`
    function: Callable[..., Any] | None = None


_FIX_LINES = {
    # An open enum's text: its member, when this release knows the value.
    "member": ("value = self.{field}", "set_{i}(self, fix_{i}(value, value))"),
    # ``unparsed``, which msgspec does not fill (see `_Shadows._shadow`).
    "empty_dict": ("set_{i}(self, {{}})",),
    "empty_if_null": ("if self.{field} is None:", "    set_{i}(self, ())"),
    "call": ("set_{i}(self, fix_{i}(self.{field}))",),
    # Models without a post-init of their own (`_finisher`): finished here, all at once.
    "finish_each": (
        "value = self.{field}",
        "if value is None:",
        "    set_{i}(self, ())",
        "else:",
        "    fix_{i}(value)",
    ),
    "finish_one": ("value = self.{field}", "if value is not None:", "    fix_{i}((value,))"),
}


class _Shadows:
    """The decode-only types for one way of reading enums (only the values this release knows,
    decoded to members by msgspec, or any text) and ids (as UUIDs, or as text that may be a
    resource URL)."""

    def __init__(self, *, ids_as_text: bool, known_values: bool = False) -> None:
        self._ids_as_text = ids_as_text
        self._known_values = known_values
        self._readers: dict[Any, Callable[[bytes], Any] | None] = {}
        self._shadows: dict[Any, type] = {}
        self._finishers: dict[type, _Finish] = {}

    def reader(self, cls: Any) -> Callable[[bytes], Any] | None:
        """A function decoding a body into `cls`, or None when the shadows do not cover it."""
        if cls in self._readers:
            return self._readers[cls]
        reader: Callable[[bytes], Any] | None
        try:
            wire = self._wire(cls)
        except NotImplementedError:
            reader = None
        else:
            reader = msgspec.json.Decoder(wire).decode
            finish = self._finishers.get(wire)
            if finish is not None:
                reader = _finished(reader, finish)
        self._readers[cls] = reader
        return reader

    def _wire(self, tp: Any) -> Any:
        """What msgspec decodes for model `tp`: a shadow, which is a `tp` once decoded (its
        post-init having run)."""
        origin = get_origin(tp)
        if origin is not None and attrs.has(origin):
            names = [p.__name__ for p in typing.cast(Any, origin).__parameters__]
            return self._shadow(origin, dict(zip(names, get_args(tp), strict=True)))
        if isinstance(tp, type) and attrs.has(tp):
            return self._shadow(tp, {})
        raise NotImplementedError(tp)

    def _plain(self, tp: Any) -> bool:
        """Whether msgspec reads `tp` exactly as `structure` does, with nothing to fix."""
        if tp is uuid.UUID:
            return not self._ids_as_text
        return tp in (str, int, bool, float, dt.datetime, Any, type(None)) or _is_json_object(tp)

    def _field(self, tp: Any) -> _FieldPlan:
        """The wire type of a field of type `tp`, and how to fix it after decoding: the kind of
        `_Fix` (None: nothing to fix) and its function."""
        members = _union_members(tp)
        # msgspec would read a time without an offset as a naive datetime; refused here, such a
        # body takes the `structure` path, which reads it as UTC.
        if tp is dt.datetime:
            return _AWARE, None, None
        if set(members) == {dt.datetime, type(None)}:
            return _AWARE | None, None, None
        if self._plain(tp) or (members and all(self._plain(m) for m in members)):
            return tp, None, None
        if _is_open_enum(tp):
            return self._enum_field(tp, members)
        if tp is CommandArgs:
            return dict[str, Any] | None, "call", _finish_command_args
        if tp is uuid.UUID:
            return str, "call", _uuid_from_text_or_link
        if _is_homogeneous_tuple(tp):
            return self._tuple_field(tp)
        if len(members) == 2 and type(None) in members:
            return self._optional_field(tp, next(m for m in members if m is not type(None)))
        return self._model_field(tp)

    def _enum_field(self, tp: Any, members: tuple[Any, ...]) -> _FieldPlan:
        """An open enum: its members where only known values come, else text looked up after."""
        enum_type = _enum_member_type(tp)
        assert enum_type is not None
        optional = type(None) in members
        if self._known_values:
            return (enum_type | None) if optional else enum_type, None, None
        lookup = {m.value: m for m in enum_type}.get
        return (str | None) if optional else str, "member", lookup

    def _tuple_field(self, tp: Any) -> _FieldPlan:
        """``tuple[X, ...]``: null read as empty; ids as text turned into UUIDs after."""
        item = get_args(tp)[0]
        if item is uuid.UUID and self._ids_as_text:
            return tuple[str, ...] | None, "call", _uuid_tuple
        if self._plain(item):
            return tp | None, "empty_if_null", None
        wire = self._wire(item)
        finish = self._finishers.get(wire)
        kind = "empty_if_null" if finish is None else "finish_each"
        return tuple[wire, ...] | None, kind, finish  # type: ignore[valid-type]

    def _optional_field(self, tp: Any, inner: Any) -> _FieldPlan:
        """``X | None`` for an `inner` X that is not plain."""
        if _is_homogeneous_tuple(inner) and self._plain(get_args(inner)[0]):
            return tp, None, None  # null stays None here
        if attrs.has(inner):
            wire, kind, finish = self._model_field(inner)
            return wire | None, kind, finish
        return self._model_field(tp)

    def _model_field(self, tp: Any) -> _FieldPlan:
        if attrs.has(tp):
            wire = self._wire(tp)
            finish = self._finishers.get(wire)
            return wire, None if finish is None else "finish_one", finish
        raise NotImplementedError(tp)  # not in the models today: `structure` reads it

    def _shadow(self, cls: type, params: dict[str, Any]) -> type:
        key = (cls, tuple(params.items()))
        if key in self._shadows:
            return self._shadows[key]
        hints = typing.get_type_hints(cls)
        renames = _RENAMES.get(cls, {})
        annotations: dict[str, Any] = {}
        decoded: list[attrs.Attribute[Any]] = []
        fixes: list[_Fix] = []
        namespace: dict[str, Any] = {}
        for a in attrs.fields(cls):
            if a.name == _UNPARSED:
                # Not a field to msgspec (it reads the fields from ``__attrs_attrs__``): filling
                # its default is msgspec's slow path, which cost ~15 % of a page's decode. The
                # post-init sets it; a key of that name in the JSON is ignored, as by `structure`.
                fixes.append(_Fix(a.name, "empty_dict"))
                continue
            tp = _substitute(hints[a.name], params)
            wire, kind, function = self._field(tp)
            json_key = renames.get(a.name, a.name)
            if json_key != a.name:
                # msgspec reads an attrs field from the JSON key of its name, with no renames:
                # the shadow names the model's own slot descriptor after the JSON key as well.
                namespace[json_key] = vars(cls)[a.name]
                annotations[json_key] = wire
                decoded.append(a.evolve(name=json_key))
            else:
                if wire != hints[a.name]:
                    annotations[a.name] = wire
                decoded.append(a)
            if kind is not None:
                fixes.append(_Fix(a.name, kind, function))
        # Nothing to fix but the class and ``unparsed``: no post-init, finished in bulk.
        bulk = all(fix.kind == "empty_dict" for fix in fixes)
        namespace.update(
            {
                "__slots__": (),
                "__annotations__": annotations,
                "__attrs_attrs__": tuple(decoded),
                "__module__": cls.__module__,
                "__qualname__": f"_Shadow{cls.__qualname__}",
            }
        )
        if not bulk:
            namespace["__attrs_post_init__"] = _post_init(cls, fixes)
        shadow = type(f"_Shadow{cls.__name__}", (cls,), namespace)
        if bulk:
            self._finishers[shadow] = _finisher(cls, fixes)
        self._shadows[key] = shadow
        return shadow


_AWARE = Annotated[dt.datetime, msgspec.Meta(tz=True)]


def _substitute(tp: Any, params: dict[str, Any]) -> Any:
    """`tp` with the type variables of a generic model (``Page[T]``) replaced."""
    if isinstance(tp, TypeVar):
        return params.get(tp.__name__, Any)
    if params and _is_homogeneous_tuple(tp):
        return tuple[_substitute(get_args(tp)[0], params), ...]  # type: ignore[misc]
    return tp


def _post_init(cls: type, fixes: list[_Fix]) -> Callable[[Any], None]:
    """``__attrs_post_init__`` for a shadow of `cls`: generated, as cattrs generates its hooks,
    because it runs once per decoded item and a loop over `fixes` would cost as much again."""
    namespace: dict[str, Any] = {"set_class": _set_class, "cls": cls}
    lines = ["def __attrs_post_init__(self):", "    set_class(self, cls)"]
    for i, fix in enumerate(fixes):
        namespace[f"set_{i}"] = vars(cls)[fix.field].__set__
        namespace[f"fix_{i}"] = fix.function
        lines.extend(f"    {line.format(field=fix.field, i=i)}" for line in _FIX_LINES[fix.kind])
    exec("\n".join(lines), namespace)  # the source is built above from field names only
    function: Callable[[Any], None] = namespace["__attrs_post_init__"]
    return function


_Finish: typing.TypeAlias = Callable[[Sequence[Any]], None]
"""Finishes decoded shadows of one model, all at once (see `_finisher`)."""

_consume: Callable[[Iterator[Any]], None] = collections.deque(maxlen=0).extend
"""Runs an iterator to its end, in C."""


def _finisher(cls: type, fixes: list[_Fix]) -> _Finish:
    """For a shadow of `cls` with no post-init (its fixes are all ``empty_dict``): what makes a
    sequence of them instances of `cls`, each field fixed, in a few passes of ``map`` in C
    rather than a Python call per item."""
    setters = [vars(cls)[fix.field].__set__ for fix in fixes]

    def finish(items: Sequence[Any]) -> None:
        _consume(map(_set_class, items, repeat(cls)))
        for setter in setters:
            _consume(map(setter, items, iter(dict, None)))  # a new dict for each

    return finish


def _finished(decode: Callable[[bytes], Any], finish: _Finish) -> Callable[[bytes], Any]:
    """`decode` for a shadow without a post-init, finished as it comes out."""

    def read(content: bytes) -> Any:
        value = decode(content)
        finish((value,))
        return value

    return read


def _finish_command_args(value: Any) -> CommandArgs:
    if type(value) is CommandArgs:
        return value  # the default, when the key is missing
    return converter.structure(value, CommandArgs)


def _uuid_from_text_or_link(value: str) -> uuid.UUID:
    return _structure_uuid(value, None)


def _uuid_tuple(value: Any) -> tuple[uuid.UUID, ...]:
    return converter.structure(value, tuple[uuid.UUID, ...])


# Tried in turn: enums read by msgspec itself (no Python per value), then open enums (a value
# added to the API after this release is kept as its text), then ids that may be resource URLs.
_TIERS = (
    _Shadows(ids_as_text=False, known_values=True),
    _Shadows(ids_as_text=False),
    _Shadows(ids_as_text=True),
)


# 3.14's collector is incremental (its counts and ``collect(1)`` mean something else); a
# free-threaded build's has no generations at all.
_GENERATIONAL = sys.version_info < (3, 14) and not sysconfig.get_config_var("Py_GIL_DISABLED")

_PROMOTED_FROM = 32 * 1024
"""A body at least this large (a page of ~130 statuses or ~15 devices) is placed in the oldest
generation as it is decoded (see `_collector_paused`); a smaller one is not worth a collection."""

# Telling whether another thread ran during a decode takes a per-thread CPU clock as fine as
# the wall clock; Windows' counts in 15.6 ms ticks (whatever its stated resolution).
_PROMOTING = (
    _GENERATIONAL
    and sys.platform != "win32"
    and time.get_clock_info("thread_time").resolution <= 1e-6
)

_ANOTHER_THREAD_RAN = 5e-6
"""Seconds by which a decode's wall-clock time may exceed its thread's CPU time before another
thread is taken to have held the GIL meanwhile (without one, the two differ by under 1 µs;
a hand-over of the GIL alone takes longer)."""


@contextlib.contextmanager
def _collector_paused(size: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while a body of `size` bytes becomes objects, and
    keep it from walking them afterwards.

    A page of 500 statuses makes 2,000 objects the collector tracks (each status and its three
    UUIDs), none of them garbage and none part of a cycle: reference counting frees them when
    the page is let go. Left to itself, the collector walks every one of them at least once
    (the young collection their allocation sets off), which for a listing read page by page
    costs about a third of what decoding does, and a page still alive at a middle-generation
    collection is promoted to the oldest generation, where enough of them set off full
    collections of the whole process (30-50 ms each with a heap of 40,000 objects).

    So, for a large body, the young generations are collected first (what the collector was
    about to do; it leaves them empty), the body is decoded with the collector paused, and the
    new objects, now all there is in the young generations, are moved to the oldest with
    ``gc.freeze()`` and ``gc.unfreeze()`` (two list splices: every tracked object goes to the
    permanent generation and back into the oldest). They are walked again only by a full
    collection, as any long-lived object is; freed by reference counting, they leave it at no
    cost. A small body is only decoded paused; if the middle generation is due, it is
    collected first, for the reason above. Reference counting is unaffected, and the collector
    resumes (if it was running) on the way out.

    "All there is in the young generations" holds only if no other thread ran meanwhile: the
    collector's pause is the whole process's, and another thread's young objects, garbage
    included, would be moved to the oldest generation with the page, where nothing counts them
    towards a full collection (a thread making garbage while pages were decoded grew the heap
    without bound). So the move is made only if the decode's wall-clock time shows no wait for
    the GIL (`_ANOTHER_THREAD_RAN`); otherwise the page stays young and is collected as any
    object is. If another thread may have slipped in during the move itself (a few bytecodes,
    timed apart; with threads to slip in), a full collection clears what it may have left. An
    application that froze objects itself (``gc.get_freeze_count()``, before a fork) is left
    alone throughout: unfreezing would undo what it did.
    """
    if not gc.isenabled():
        yield
        return
    young, middle, _ = gc.get_threshold()
    promote = _PROMOTING and size >= _PROMOTED_FROM and gc.get_freeze_count() == 0
    # The order of the clock reads moves the figure by well under a microsecond.
    began, began_cpu = (time.perf_counter(), time.thread_time()) if promote else (0.0, 0.0)
    if promote or (_GENERATIONAL and young and gc.get_count()[1] > middle):
        gc.collect(1)
    gc.disable()
    try:
        yield
        if promote and gc.get_freeze_count() == 0:
            checked, checked_cpu = time.perf_counter(), time.thread_time()
            if _alone(began, began_cpu, checked, checked_cpu):
                gc.freeze()
                gc.unfreeze()
                # Only the move's own few microseconds, and only with other threads to have
                # run: a full collection is dear, and the OS's noise alone sets this off.
                now, now_cpu = time.perf_counter(), time.thread_time()
                if not _alone(checked, checked_cpu, now, now_cpu) and threading.active_count() > 1:
                    gc.collect()
    finally:
        gc.enable()


def _alone(began: float, began_cpu: float, now: float, now_cpu: float) -> bool:
    """Whether this thread held the GIL all along from `began` to `now` (wall clock), given
    its CPU time at both (`began_cpu`, `now_cpu`)."""
    return (now - began) - (now_cpu - began_cpu) < _ANOTHER_THREAD_RAN


def decode(content: bytes, cls: type[T]) -> T:
    """Build a model (or ``Page[Model]``) from a JSON body.

    Raises:
        NotJSONError: The body is not JSON.
        TypeError, ValueError, KeyError: JSON of a shape the rules refuse.
    """
    with _collector_paused(len(content)):
        for tier in _TIERS:
            reader = tier.reader(cls)
            if reader is None:
                break
            try:
                return reader(content)  # type: ignore[no-any-return]
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                continue  # not a shape the C path takes: the next tier, then the reference
        try:
            data = json.loads(content)
        except (ValueError, RecursionError) as exc:
            raise NotJSONError(str(exc)) from None
        return converter.structure(data, cls)
