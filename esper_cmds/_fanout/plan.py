"""The fan-out's plan: validated, de-duplicated targets cut into API-sized chunks.

Strictly private. The plan is a pure function of the inputs, so a re-run with the same inputs gets
the same chunks in the same order; that is what lets a journal say "chunk 17 is done".
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Sequence

import attrs
from attrs import frozen

from .._errors import ValidationError
from .._validation import (
    MAX_DEVICES_PER_REQUEST,
    MAX_GROUPS_PER_REQUEST,
    CheckedIds,
    target_kind,
)
from ..models import CommandSpec, CommandType

__all__ = ["Chunk", "Plan", "build_plan"]

_FINGERPRINT_VERSION = 2  # 2: digests the typed command value, not its JSON


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
    """Every chunk of a fan-out and the command they share.

    Attributes:
        chunks: The chunks, in order.
        spec: The validated command.
        command_type: DEVICE, GROUP or DYNAMIC (the spec's, or implied by the targets).
        enterprise_id: The enterprise the chunks are sent to.
    """

    chunks: tuple[Chunk, ...]
    spec: CommandSpec
    command_type: CommandType
    enterprise_id: uuid.UUID

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of the enterprise, the command and every chunk's targets.

        Computed when first asked for (a journal does), not with the plan: hashing 100,000 ids
        costs milliseconds a fan-out without a journal would spend before sending anything.
        """
        return _fingerprint(self)

    @functools.cached_property
    def targeted_spec(self) -> CommandSpec:
        """The spec with its command type settled, as each chunk's create takes it."""
        if self.spec.command_type is self.command_type:
            return self.spec
        return self.spec.with_command_type(self.command_type)

    def __repr__(self) -> str:
        # Compact, as for Chunk: a 100,000-device plan would otherwise render every id.
        targets = sum(len(c.targets) for c in self.chunks)
        return (
            f"Plan(chunks=<{len(self.chunks)} chunks, {targets} targets>,"
            f" spec={self.spec!r}, fingerprint={self.fingerprint!r})"
        )


def _summary(ids: Sequence[str]) -> str:
    if len(ids) <= 2:
        return repr(ids)
    return f"<{len(ids)} ids: {ids[0]!r} … {ids[-1]!r}>"


def build_plan(
    *,
    enterprise_id: uuid.UUID,
    spec: CommandSpec,
    devices: Sequence[str],
    groups: Sequence[str],
    chunk_size: int | None,
) -> Plan:
    """Cut targets (as `parse_targets` returns them) into chunks for `spec`.

    Raises:
        ValidationError: No targets, targets that do not fit the command type, a bad chunk size.
    """
    kind = target_kind(spec.command_type, devices=bool(devices), groups=bool(groups), many=True)
    targets, limit = (
        (groups, MAX_GROUPS_PER_REQUEST)
        if kind is CommandType.GROUP
        else (devices, MAX_DEVICES_PER_REQUEST)
    )
    size = limit if chunk_size is None else chunk_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
        raise ValidationError("chunk_size", f"must be an integer from 1 to {limit}", chunk_size)
    # The ids were checked and de-duplicated (parse_targets); each chunk's create trusts that.
    slices = [CheckedIds(targets[i : i + size]) for i in range(0, len(targets), size)]
    chunks = tuple(
        Chunk(i, groups=s) if kind is CommandType.GROUP else Chunk(i, devices=s)
        for i, s in enumerate(slices)
    )
    return Plan(chunks, spec, kind, enterprise_id)


def _fingerprint(plan: Plan) -> str:
    digest = hashlib.sha256()
    header = {
        "v": _FINGERPRINT_VERSION,
        "enterprise": str(plan.enterprise_id),
        "command_type": plan.command_type.value,
        # The spec as sent: a command type spelt out or inferred from the targets is the same.
        "spec": attrs.asdict(plan.targeted_spec),
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for chunk in plan.chunks:
        digest.update(b"\n" + ",".join(chunk.targets).encode())
    return digest.hexdigest()
