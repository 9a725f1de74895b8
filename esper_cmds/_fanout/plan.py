"""The fan-out's plan: validated, de-duplicated targets cut into API-sized chunks.

Strictly private. The plan is a pure function of the inputs, so a re-run with the same inputs gets
the same chunks in the same order; that is what lets a journal say "chunk 17 is done".
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

from .._errors import ValidationError
from .._uuids import CANONICAL, all_canonical, texts_of_uuids
from .._validation import (
    MAX_DEVICES_PER_REQUEST,
    MAX_GROUPS_PER_REQUEST,
    build_create_payload,
    check_id_list,
    parse_enum,
    parse_uuid,
)
from ..models import CommandArgs, CommandType, ScheduleArgs

__all__ = ["Chunk", "Plan", "build_plan", "dedupe", "parse_targets"]

_FINGERPRINT_VERSION = 1


@frozen(repr=False)
class Chunk:
    """One create request of a fan-out: its position in the plan and its targets.

    Attributes:
        index: Position in the plan, from 0.
        devices: Device ids (DEVICE and DYNAMIC chunks), as lowercase UUID strings.
        groups: Group ids (GROUP chunks), as lowercase UUID strings.
    """

    index: int
    devices: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The chunk's ids, whichever kind they are."""
        return self.devices or self.groups

    def __repr__(self) -> str:
        # Compact: asyncio and trio render task results and locals with repr, and 1000 ids
        # each time would cost real time (and bury a traceback).
        kind = "devices" if self.devices else "groups"
        return f"Chunk(index={self.index}, {kind}={_summary(self.targets)})"


@frozen(repr=False)
class Plan:
    """Every chunk of a fan-out and the create body they share.

    Attributes:
        chunks: The chunks, in order.
        template: The validated create body without its targets.
        enterprise_id: The enterprise the chunks are sent to.
    """

    chunks: tuple[Chunk, ...]
    template: Mapping[str, Any]
    enterprise_id: uuid.UUID

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of the enterprise, the body and every chunk's targets.

        Computed when first asked for (a journal does), not with the plan: hashing 100,000 ids
        costs milliseconds a fan-out without a journal would spend before sending anything.
        """
        return _fingerprint(self.enterprise_id, self.template, self.chunks)

    @property
    def command_type(self) -> CommandType:
        """DEVICE, GROUP or DYNAMIC."""
        return CommandType(self.template["command_type"])

    def __repr__(self) -> str:
        # Compact, as for Chunk: a 100,000-device plan would otherwise render every id.
        targets = sum(len(c.targets) for c in self.chunks)
        return (
            f"Plan(chunks=<{len(self.chunks)} chunks, {targets} targets>,"
            f" template={self.template!r}, fingerprint={self.fingerprint!r})"
        )

    def payload(self, chunk: Chunk) -> dict[str, Any]:
        """The exact create body for `chunk`."""
        body = dict(self.template)
        if chunk.devices:
            body["devices"] = list(chunk.devices)
        else:
            body["groups"] = list(chunk.groups)
        return body

    def encoded_payload(self, chunk: Chunk) -> bytes:
        """`payload(chunk)` as JSON bytes, ~10x cheaper than encoding it.

        The template is encoded once; the ids are canonical UUID strings (hex digits and dashes:
        nothing to escape), so they are joined in as they are.
        """
        key, ids = ("devices", chunk.devices) if chunk.devices else ("groups", chunk.groups)
        return b"".join(
            (self._template_head, b'"', key.encode(), b'":["', '","'.join(ids).encode(), b'"]}')
        )

    @functools.cached_property
    def _template_head(self) -> bytes:
        """The template's JSON without its closing brace, ready for one more member."""
        text = json.dumps(self.template, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return (text[:-1] + ("," if self.template else "")).encode()


def _summary(ids: Sequence[str]) -> str:
    if len(ids) <= 2:
        return repr(ids)
    return f"<{len(ids)} ids: {ids[0]!r} … {ids[-1]!r}>"


def dedupe(ids: Iterable[uuid.UUID]) -> list[str]:
    """The ids as strings, each once, in the order first seen."""
    return list(dict.fromkeys(str(i) for i in ids))


def parse_targets(values: Iterable[uuid.UUID | str] | None, field: str) -> list[str]:
    """Validate every id (the error names its index) and drop repeats."""
    if values is None:
        return []
    check_id_list(values, field)
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


def build_plan(
    *,
    enterprise_id: uuid.UUID,
    command: object,
    devices: Sequence[str],
    groups: Sequence[str],
    command_type: CommandType | str | None,
    device_type: object,
    command_args: CommandArgs | Mapping[str, Any] | None,
    schedule: object,
    schedule_args: ScheduleArgs | Mapping[str, Any] | None,
    chunk_size: int | None,
) -> Plan:
    """Cut validated targets into chunks and validate the create body once, up front.

    Raises:
        ValidationError: No targets, devices and groups mixed, a bad chunk size, or a bad body.
    """
    if devices and groups:
        raise ValidationError(
            "groups",
            "cannot be combined with devices (pass resolve_groups=True to send to their devices)",
            None,
        )
    if not devices and not groups:
        raise ValidationError("devices", "at least one device or group is required", [])
    kind = (
        (CommandType.GROUP if groups else CommandType.DEVICE)
        if command_type is None
        else parse_enum(command_type, CommandType, "command_type")
    )
    if kind is CommandType.GROUP and not groups:
        raise ValidationError("groups", "a GROUP fan-out needs groups", [])
    if kind is not CommandType.GROUP and not devices:
        raise ValidationError(
            "devices",
            f"a {kind.value} fan-out needs devices (or groups with resolve_groups=True)",
            [],
        )
    targets, limit = (
        (groups, MAX_GROUPS_PER_REQUEST) if groups else (devices, MAX_DEVICES_PER_REQUEST)
    )
    size = limit if chunk_size is None else chunk_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
        raise ValidationError("chunk_size", f"must be an integer from 1 to {limit}", chunk_size)
    slices = [tuple(targets[i : i + size]) for i in range(0, len(targets), size)]
    chunks = tuple(
        Chunk(i, devices=s) if devices else Chunk(i, groups=s) for i, s in enumerate(slices)
    )
    # Validating a body with the first chunk's first id checks everything the chunks share
    # (command, args, schedule, types): the ids were parsed and de-duplicated already, and the
    # chunk size keeps every chunk within the API's limit.
    first = build_create_payload(
        command=command,  # type: ignore[arg-type]  # validated inside
        devices=chunks[0].devices[:1] or None,
        groups=chunks[0].groups[:1] or None,
        command_type=kind,
        device_type=device_type,  # type: ignore[arg-type]
        command_args=command_args,
        schedule=schedule,  # type: ignore[arg-type]
        schedule_args=schedule_args,
    )
    template = {k: v for k, v in first.items() if k not in ("devices", "groups")}
    return Plan(chunks, template, enterprise_id)


def _fingerprint(
    enterprise_id: uuid.UUID, template: Mapping[str, Any], chunks: Sequence[Chunk]
) -> str:
    digest = hashlib.sha256()
    header = {"v": _FINGERPRINT_VERSION, "enterprise": str(enterprise_id), "body": template}
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for chunk in chunks:
        digest.update(b"\n" + ",".join(chunk.targets).encode())
    return digest.hexdigest()
