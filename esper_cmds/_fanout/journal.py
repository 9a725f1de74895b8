"""The fan-out journal: an append-only JSON-lines file that makes a crashed run resumable.

Strictly private. Records, one per line, each flushed and fsync'd before the fan-out goes on:

- ``{"type": "header", "fingerprint": ..., "fence": ...}`` first, describing the plan and the
  newest request that existed before the first run (see `reconcile`);
- ``{"type": "started", "chunk": i, "at": ...}`` before each create is sent;
- ``{"type": "created", "chunk": i, "request_id": ..., "at": ...}`` once the
  server's request is known (created, or found by reconciliation).

A re-run skips chunks with a "created" record and reconciles chunks whose last record is
"started". A line cut short by a crash (only ever the last one) is ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from attrs import define, frozen

from .._errors import EsperError
from ..models import CommandRequest
from .plan import Chunk, Plan
from .reconcile import Fence

__all__ = ["ChunkState", "Journal", "JournalError", "JournalMismatchError"]

_VERSION = 1


class JournalError(EsperError):
    """The journal file cannot be read or written; the fan-out stops rather than go on blind."""


class JournalMismatchError(JournalError, ValueError):
    """The journal was written for other inputs (or is not a fan-out journal): it is refused."""


@frozen
class ChunkState:
    """What the journal knows about one chunk.

    Attributes:
        request_id: The request recorded as created, if any.
        started_at: When the latest create attempt began, if it has no "created" record.
    """

    request_id: uuid.UUID | None = None
    started_at: dt.datetime | None = None


@define
class Journal:
    """An open journal for one plan. Use `Journal.open`; close with `aclose`."""

    path: Path
    states: dict[int, ChunkState]
    fence: Fence
    """The fence of the journal's first run: reconciliation looks back to it."""
    _fd: int
    _lock: anyio.Lock

    @classmethod
    async def open(cls, path: str | os.PathLike[str], plan: Plan, fence: Fence) -> Journal:
        """Open (or create) the journal at `path` for `plan`; a new one records `fence`.

        Raises:
            JournalMismatchError: The file is a journal of another fan-out, or not a journal.
            JournalError: The file cannot be read or written.
        """
        return await anyio.to_thread.run_sync(cls._open_sync, Path(path), plan, fence)

    @classmethod
    def _open_sync(cls, path: Path, plan: Plan, fence: Fence) -> Journal:
        try:
            data = path.read_bytes() if path.exists() else b""
        except OSError as exc:
            raise JournalError(f"cannot read journal {path}: {exc}") from exc
        records = _parse(path, data.splitlines())
        try:
            if records and not data.endswith(b"\n"):
                # Drop the torn tail, or the next record would be glued onto it.
                os.truncate(path, data.rfind(b"\n") + 1)
        except OSError as exc:
            raise JournalError(f"cannot repair journal {path}: {exc}") from exc
        states: dict[int, ChunkState] = {}
        if records:
            _check_header(path, records[0], plan)
            try:
                fence = _fence_from(records[0])
                for record in records[1:]:
                    _apply(record, states, len(plan.chunks))
            except (KeyError, TypeError, ValueError) as exc:
                raise JournalMismatchError(f"{path} has a damaged record ({exc!r})") from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        journal = cls(path, states, fence, fd, anyio.Lock())
        if not records:
            journal._append_sync({**_header(plan), "fence": _fence_record(fence)})
        return journal

    async def started(self, chunk: Chunk, at: dt.datetime) -> None:
        """Record, durably, that a create for `chunk` is about to be sent."""
        await self._append({"type": "started", "chunk": chunk.index, "at": at.isoformat()})
        self.states[chunk.index] = ChunkState(started_at=at)

    async def created(self, chunk: Chunk, request: CommandRequest, at: dt.datetime) -> None:
        """Record, durably, the request that now exists for `chunk`."""
        record: dict[str, Any] = {
            "type": "created",
            "chunk": chunk.index,
            "request_id": str(request.id),
            "at": at.isoformat(),
        }
        await self._append(record)
        self.states[chunk.index] = ChunkState(request_id=request.id)

    async def aclose(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    async def _append(self, record: dict[str, Any]) -> None:
        async with self._lock:
            await anyio.to_thread.run_sync(self._append_sync, record)

    def _append_sync(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            os.write(self._fd, data)
            os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot write journal {self.path}: {exc}") from exc


def _header(plan: Plan) -> dict[str, Any]:
    return {
        "type": "header",
        "version": _VERSION,
        "fingerprint": plan.fingerprint,
        "command": plan.template["command"],
        "command_type": plan.template["command_type"],
        "chunks": len(plan.chunks),
        "targets": sum(len(c.targets) for c in plan.chunks),
    }


def _describe(header: dict[str, Any]) -> str:
    return (
        f"{header.get('command')} {header.get('command_type')} to {header.get('targets')} targets"
        f" in {header.get('chunks')} chunks, fingerprint {str(header.get('fingerprint'))[:12]}"
    )


def _parse(path: Path, lines: list[bytes]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):
                break  # the last write was cut short by a crash; it never took effect
            raise JournalMismatchError(
                f"{path} line {number} is not JSON: not a fan-out journal, or damaged"
            ) from None
        if not isinstance(record, dict) or "type" not in record:
            raise JournalMismatchError(f"{path} line {number} is not a fan-out journal record")
        records.append(record)
    return records


def _check_header(path: Path, header: dict[str, Any], plan: Plan) -> None:
    if header.get("type") != "header" or header.get("version") != _VERSION:
        raise JournalMismatchError(f"{path} is not a fan-out journal (version {_VERSION})")
    if header.get("fingerprint") != plan.fingerprint:
        raise JournalMismatchError(
            f"journal {path} was written for another fan-out ({_describe(header)}), not this one"
            f" ({_describe(_header(plan))}); resume with the original inputs, or use a new"
            " journal file"
        )


def _fence_record(fence: Fence) -> dict[str, str | None]:
    return {
        "created_on": None if fence.created_on is None else fence.created_on.isoformat(),
        "request_id": None if fence.request_id is None else str(fence.request_id),
    }


def _fence_from(header: dict[str, Any]) -> Fence:
    raw = header["fence"]
    created_on, request_id = raw["created_on"], raw["request_id"]
    return Fence(
        None if created_on is None else dt.datetime.fromisoformat(created_on),
        None if request_id is None else uuid.UUID(request_id),
    )


def _apply(record: dict[str, Any], states: dict[int, ChunkState], chunk_count: int) -> None:
    index = record.get("chunk")
    if not isinstance(index, int) or not 0 <= index < chunk_count:
        return
    if states.get(index, ChunkState()).request_id is not None:
        return  # created is final
    if record["type"] == "started":
        states[index] = ChunkState(started_at=dt.datetime.fromisoformat(record["at"]))
    elif record["type"] == "created":
        states[index] = ChunkState(request_id=uuid.UUID(record["request_id"]))
