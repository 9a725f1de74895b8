"""The fan-out journal: an append-only JSON-lines file that makes a crashed run resumable.

Strictly private. Records, one per line, each written whole and fsync'd before the fan-out goes on:

- ``{"type": "header", "fingerprint": ..., "fence": ...}`` first, describing the plan and the
  newest request that existed before the first run (see `reconcile`);
- ``{"type": "started", "chunk": i, "at": ...}`` before each create is sent;
- ``{"type": "created", "chunk": i, "request_id": ..., "at": ...}`` once the
  server's request is known (created, or found by reconciliation).

A re-run skips chunks with a "created" record and reconciles chunks whose last record is
"started". A line cut short by a crash (only ever the last one) is dropped.

The fan-out talks to its journal only through `OpenJournal` (and opens one through a
`JournalBackend`, or from a path for this file journal), so a journal kept elsewhere (Redis,
``esper_cmds.RedisJournal``) shares it between processes and hosts.

What makes it safe:

- **One writer.** A lock file beside the journal (``<journal>.lock``, never deleted) is locked
  (``flock``, exclusive) for as long as a run has the journal open; a second run, in this process
  or another, gets `JournalError` naming the holder instead of sending every chunk again. The lock
  is on the lock file rather than the journal so that deleting the journal under a running
  fan-out cannot let a second one in; the running one notices before its next record and writes
  the journal back whole, so a later run still finds every chunk it created (a journal replaced
  by another file stops the run instead). Locks are only as good as the filesystem's: keep
  journals on a local disk, not on NFS or SMB.
- **Whole records.** A record is written until every byte is down (a short write is continued);
  if the disk refuses part of it, the file is cut back to the last whole record and the run stops
  *before* the create the record announced is sent.
- **Only journals.** A path that is not a regular file (a device, a FIFO, a directory) is refused,
  and so is a file whose first line is not this fan-out's header: nothing is ever appended to
  someone else's file. A header cut short by a crash during the very first write (no create can
  have been sent yet) is recognised as this plan's and started afresh.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import stat
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.to_thread
from attrs import define, frozen

from .._errors import JournalError, JournalMismatchError
from ..models import CommandRequest
from .plan import Chunk, Plan
from .reconcile import Fence

if sys.platform != "win32":
    import fcntl

__all__ = [
    "ChunkState",
    "Journal",
    "JournalBackend",
    "JournalError",
    "JournalMismatchError",
    "OpenJournal",
]

logger = logging.getLogger("esper_cmds")

_VERSION = 1
_FIRST_LINE_LIMIT = 64 * 1024
"""Bytes read to check a file's first line before anything else is read (a header is ~300)."""


@frozen
class ChunkState:
    """What the journal knows about one chunk.

    Attributes:
        request_id: The request recorded as created, if any.
        started_at: When the latest create attempt began, if it has no "created" record.
    """

    request_id: uuid.UUID | None = None
    started_at: dt.datetime | None = None


_NOTHING_NEW = ChunkState()


class OpenJournal(Protocol):
    """An open journal of one plan, as the fan-out uses it (the file `Journal` is one).

    .. versionadded:: 0.1
    """

    @property
    def fence(self) -> Fence | None:
        """The fence of the fan-out's first run; None until `begin` is called on a new journal."""
        ...

    @property
    def states(self) -> Mapping[int, ChunkState]:
        """What the journal knew of each chunk when it was opened."""
        ...

    async def begin(self, fence: Fence) -> None:
        """Record `fence` for a new journal. A journal shared by several runs keeps the first
        run's fence, which `fence` then reads back."""
        ...

    def claim(
        self, chunk: Chunk, *, wait: bool = True
    ) -> AbstractAsyncContextManager[ChunkState | None]:
        """Hold `chunk` for this run while the block runs (no other run sends it meanwhile).

        Yields what *other* runs did to the chunk since this journal was opened: its request if
        one created it (nothing is to be sent), or when an attempt of theirs began if they left
        it in doubt (it is looked up on the server before anything is sent). While another
        live run holds the chunk, waits for it to let go; with `wait` False, yields None at
        once instead, holding nothing (the run comes back to the chunk later).

        Raises:
            JournalError: The claim cannot be taken or kept (the run stops).
        """
        ...

    async def started(self, chunk: Chunk, at: dt.datetime) -> None:
        """Record, durably, that a create for `chunk` is about to be sent."""
        ...

    async def created(self, chunk: Chunk, request: CommandRequest, at: dt.datetime) -> None:
        """Record, durably, the request that now exists for `chunk`."""
        ...

    async def aclose(self) -> None:
        """Release the journal."""
        ...


@runtime_checkable
class JournalBackend(Protocol):
    """Where a fan-out's journal is kept, other than a file (``fan_out(journal=...)``).

    .. versionadded:: 0.1
    """

    async def open(self, plan: Plan) -> OpenJournal:
        """Open the journal of `plan` (identified by its fingerprint).

        Raises:
            JournalMismatchError: What is stored there is not a journal of this plan.
            JournalError: The store cannot be reached.
        """
        ...


@define
class Journal:
    """An open, locked journal for one plan. Use `Journal.open`; close with `aclose`."""

    path: Path
    plan: Plan
    states: dict[int, ChunkState]
    fence: Fence | None
    """The fence of the journal's first run (reconciliation looks back to it); None until
    `begin` writes the header of a new journal."""
    _fd: int
    _lock_fd: int
    _identity: tuple[int, int]
    """The journal file's (device, inode), to notice it being deleted or replaced."""
    _size: int
    """The file's length after the last whole record: where to cut back to after a failure."""
    _lock: anyio.Lock
    _broken: str | None = None

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], plan: Plan, fence: Fence | None = None
    ) -> Journal:
        """Open (or create) the journal at `path` for `plan`, and lock it.

        A new (or empty) journal has no `fence` yet: it records `fence` if one is given, and
        otherwise `begin` must be called before the first create.

        Raises:
            JournalMismatchError: The file is a journal of another fan-out, or not a journal.
            JournalError: The file is in use by another run, or cannot be read or written.
        """
        journal = await anyio.to_thread.run_sync(cls._open_sync, Path(path), plan)
        if journal.fence is None and fence is not None:
            try:
                await journal.begin(fence)
            except BaseException:
                await journal.aclose()
                raise
        return journal

    @classmethod
    def _open_sync(cls, path: Path, plan: Plan) -> Journal:
        lock_fd = _open_regular(path.with_name(path.name + ".lock"))
        try:
            _lock(lock_fd, path)
            fd = _open_regular(path)
        except BaseException:
            os.close(lock_fd)
            raise
        try:
            info = os.fstat(fd)
            data = _read_journal(fd, path, plan)
            records = _parse(path, data.splitlines())
            size = len(data)
            if records and not data.endswith(b"\n"):
                # Drop the torn tail, or the next record would be glued onto it.
                size = data.rfind(b"\n") + 1
                _truncate(fd, path, size)
            states: dict[int, ChunkState] = {}
            fence: Fence | None = None
            if records:
                _check_header(path, records[0], plan)
                try:
                    fence = _fence_from(records[0])
                    for record in records[1:]:
                        _apply(record, states, len(plan.chunks))
                except (KeyError, TypeError, ValueError) as exc:
                    raise JournalMismatchError(f"{path} has a damaged record ({exc!r})") from None
            return cls(
                path,
                plan,
                states,
                fence,
                fd,
                lock_fd,
                (info.st_dev, info.st_ino),
                size,
                anyio.Lock(),
            )
        except BaseException:
            os.close(fd)
            os.close(lock_fd)
            raise

    async def begin(self, fence: Fence) -> None:
        """Write the header of a new journal, recording `fence`, durably."""
        if self.fence is not None:
            raise RuntimeError("the journal has its header already")  # a bug, not a user error
        header = _header_line(self.plan, fence)
        async with self._lock:
            await anyio.to_thread.run_sync(self._begin_sync, header)
        self.fence = fence

    def _begin_sync(self, header: bytes) -> None:
        self._write_sync(header)
        _sync_directory(self.path)  # the file's name must survive a crash as well as its bytes

    @asynccontextmanager
    async def claim(self, chunk: Chunk, *, wait: bool = True) -> AsyncIterator[ChunkState | None]:
        """Nothing to take: the lock keeps every other run out of the whole file."""
        yield _NOTHING_NEW

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
        """Close the file and release the lock."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
        if self._lock_fd >= 0:
            lock_fd, self._lock_fd = self._lock_fd, -1
            os.close(lock_fd)

    async def _append(self, record: dict[str, Any]) -> None:
        async with self._lock:
            await anyio.to_thread.run_sync(self._append_sync, record)

    def _append_sync(self, record: dict[str, Any]) -> None:
        self._write_sync(_line(record))

    def _write_sync(self, data: bytes) -> None:
        if self._broken is not None:
            raise JournalError(f"journal {self.path} is unusable after an earlier failure: "
                               f"{self._broken}")  # fmt: skip
        if self._fd < 0:
            raise JournalError(f"journal {self.path} is closed")
        self._check_still_there()
        try:
            view = memoryview(data)
            while view:
                # os.write may write part of the record (a full disk, a file size limit):
                # continue until all of it is down, or fail.
                written = os.write(self._fd, view)
                if written <= 0:
                    raise OSError(errno.EIO, "the write made no progress")
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            self._broken = f"a write failed ({exc})"
            try:
                # Cut back to the last whole record, so nothing half-written stays behind.
                os.ftruncate(self._fd, self._size)
                os.fsync(self._fd)
            except OSError:
                pass  # the torn tail is the last line, dropped when the journal is next opened
            raise JournalError(f"cannot write journal {self.path}: {exc}") from exc
        self._size += len(data)

    def _check_still_there(self) -> None:
        """Make sure the path still names this journal before a record is written.

        Deleted under a running fan-out (an operator tidying up), the journal is written back
        whole from what this run holds, so the run goes on and a later run still finds every
        chunk it created; the lock, on ``<journal>.lock``, kept any other run out meanwhile.
        Replaced by another file, it is not this run's to overwrite: the run stops.
        """
        try:
            here = os.stat(self.path)
        except FileNotFoundError:
            self._restore()
            return
        except OSError as exc:
            here = None
            why = str(exc)
        else:
            why = "it was replaced by another file"
        if here is None or (here.st_dev, here.st_ino) != self._identity:
            self._broken = f"the journal file changed under this run ({why})"
            raise JournalError(
                f"journal {self.path} was replaced while this run held it ({why}); stopping"
                " before anything else is sent"
            )

    def _restore(self) -> None:
        """Write the journal back at its path, whole, after it was deleted under this run."""
        try:
            data = os.pread(self._fd, self._size, 0)
            if len(data) != self._size:
                raise OSError(errno.EIO, "the deleted journal could not be read back whole")
            spare = self.path.with_name(f".{self.path.name}.{os.getpid()}.restore")
            fd = os.open(spare, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                os.replace(spare, self.path)
                _sync_directory(self.path)
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            self._broken = f"the journal was deleted and could not be written back ({exc})"
            raise JournalError(
                f"journal {self.path} was deleted while this run held it and could not be"
                f" written back ({exc}); stopping before anything else is sent"
            ) from exc
        os.close(self._fd)
        self._fd = fd
        info = os.fstat(fd)
        self._identity = (info.st_dev, info.st_ino)
        logger.warning("journal %s was deleted during the run; written back whole", self.path)


def _open_regular(path: Path) -> int:
    """Open `path` for reading and appending, creating it; refuse anything but a regular file."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    # Non-blocking, so a FIFO does not hang the open; it is refused just below anyway.
    flags |= getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise JournalError(f"cannot open journal {path}: {exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise JournalError(f"cannot open journal {path}: {exc}") from exc
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise JournalError(f"{path} is not a regular file; a journal must be one")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def _lock(fd: int, path: Path) -> None:
    """Take the journal's exclusive lock, or raise `JournalError` naming whoever holds it."""
    if sys.platform == "win32":
        raise JournalError("fan-out journals need POSIX file locks (flock), which Windows lacks")
    for attempt in (1, 2):
        try:
            # flock, not fcntl's record locks: those are per process, so a second run in this
            # very process would be let in.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            # Nobody listed: the holder let go between our try and the look, so try once more.
            if holder != "holder unknown" or attempt == 2:
                raise JournalError(
                    f"journal {path} is in use by another fan-out ({holder}); wait for it to"
                    " end, or give this run its own journal"
                ) from None
        except OSError as exc:
            raise JournalError(f"cannot lock journal {path}: {exc}") from exc
        else:
            return


def _holder(fd: int) -> str:
    """Who holds the lock: the process ``/proc/locks`` names for this file (Linux), if any."""
    try:
        info = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            table = locks.read()
    except OSError:
        return "holder unknown"
    # e.g. "3: FLOCK  ADVISORY  WRITE 4711 08:01:1234567 0 EOF"; the device is major:minor in hex.
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            pid = fields[4]
            return f"pid {pid}, in this process" if pid == str(os.getpid()) else f"pid {pid}"
    return "holder unknown"


def _read_journal(fd: int, path: Path, plan: Plan) -> bytes:
    """The whole file, once its first line shows it is this plan's journal (or empty)."""
    try:
        first = os.pread(fd, _FIRST_LINE_LIMIT, 0)
    except OSError as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    if not first:
        return b""
    end = first.find(b"\n")
    if end < 0:
        if len(first) >= _FIRST_LINE_LIMIT:
            raise JournalMismatchError(f"{path} is not a fan-out journal (its first line is huge)")
        prefix = _header_prefix(plan)
        if prefix.startswith(first) or first.startswith(prefix):
            # This plan's header, cut short by a crash: no create is sent before the header is
            # durable, so nothing was sent. Start afresh.
            _truncate(fd, path, 0)
            return b""
        raise JournalMismatchError(
            f"{path} is not a fan-out journal for this run (it does not start with one's"
            " header); nothing was written to it"
        )
    try:
        header = json.loads(first[:end])
    except ValueError:
        raise JournalMismatchError(
            f"{path} is not a fan-out journal (line 1 is not JSON); nothing was written to it"
        ) from None
    if not isinstance(header, dict) or header.get("type") != "header":
        raise JournalMismatchError(
            f"{path} is not a fan-out journal (line 1 is not a journal header); nothing was"
            " written to it"
        )
    _check_header(path, header, plan)
    chunks: list[bytes] = []
    offset = 0
    try:
        while part := os.pread(fd, 1 << 20, offset):
            chunks.append(part)
            offset += len(part)
    except OSError as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    return b"".join(chunks)


def _truncate(fd: int, path: Path, size: int) -> None:
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as exc:
        raise JournalError(f"cannot repair journal {path}: {exc}") from exc


def _sync_directory(path: Path) -> None:
    try:
        fd = os.open(path.parent if str(path.parent) else Path("."), os.O_RDONLY)
    except OSError:
        return  # not every platform can open a directory; the file itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def _header(plan: Plan) -> dict[str, Any]:
    return {
        "type": "header",
        "version": _VERSION,
        "fingerprint": plan.fingerprint,
        "command": plan.spec.command.value,
        "command_type": plan.command_type.value,
        "chunks": len(plan.chunks),
        "targets": sum(len(c.targets) for c in plan.chunks),
    }


def _header_line(plan: Plan, fence: Fence) -> bytes:
    # The fence goes last: everything before it is fixed by the plan, which is what lets a
    # header torn by a crash be recognised (`_header_prefix`).
    return _line({**_header(plan), "fence": _fence_record(fence)})


def _header_prefix(plan: Plan) -> bytes:
    """The start of this plan's header line, the same whatever the fence."""
    return _line(_header(plan)).rstrip(b"}\n") + b',"fence":'


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


def _fence_record(fence: Fence) -> dict[str, Any]:
    return {
        "created_on": None if fence.created_on is None else fence.created_on.isoformat(),
        "request_id": None if fence.request_id is None else str(fence.request_id),
        "request_ids": sorted(str(i) for i in fence.request_ids),
    }


def _fence_from(header: dict[str, Any]) -> Fence:
    raw = header["fence"]
    created_on, request_id = raw["created_on"], raw["request_id"]
    return Fence(
        None if created_on is None else dt.datetime.fromisoformat(created_on),
        None if request_id is None else uuid.UUID(request_id),
        frozenset(uuid.UUID(i) for i in raw.get("request_ids", ())),  # absent in older journals
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
