"""`RedisJournal`: one fan-out journal in Redis, shared by every run of the same fan-out.

The file journal's lock keeps one run per file; several hosts running the same fan-out (a job
retried elsewhere, or work split on purpose) share this one instead, and create each chunk once
between them. Keys, all on one cluster slot (the plan's fingerprint is their hash tag):

- ``<prefix>:journal:{<fingerprint>}``, a hash: ``header`` (the plan's identity and the first run's
  fence, as in the file journal) and one field per chunk, ``c:<index>``: ``s|<run>|<time>`` when
  a create is about to be sent, ``r|<request id>|<time>|<run>`` once the request is known
  (final). A run is named ``<host>:<pid>:<random>``.
- ``<prefix>:journal:{<fingerprint>}:claim:<index>``: the run working on a chunk, taken with
  ``SET NX`` and an expiry that the holder's heartbeat pushes back while it works.

A chunk is sent only by the run holding its claim, and only after its "started" record is in the
hash; a run that finds a claim expired (its holder died) takes the chunk over through the same
lookup on the server as a resume after a crash, so a create that went out is adopted, not sent
again. A run that finds the chunk created by another reports it as resumed. Every script checks
and writes in one step (Lua), so two runs cannot both win.

Needs the optional extra ``esper-cmds[redis]`` (coredis).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from ._fanout.journal import (
    ChunkState,
    JournalError,
    JournalMismatchError,
    _fence_from,
    _fence_record,
    _header,
)
from ._redis import _check_url, _safe_url, check_key_prefix, connect
from ._validation import in_range

if TYPE_CHECKING:
    import coredis

    from ._fanout.plan import Chunk, Plan
    from ._fanout.reconcile import Fence
    from .models import CommandRequest

__all__ = ["RedisJournal"]

logger = logging.getLogger("esper_cmds")

_VERSION = 1

# KEYS: hash, claim. ARGV: chunk field, run token, claim ms.
# {"done", record} if created; {"mine", record or ""} once claimed; {"held", holder} otherwise.
_CLAIM = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and string.sub(rec, 1, 2) == 'r|' then return {'done', rec} end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'mine', rec or ''} end
return {'held', redis.call('GET', KEYS[2]) or ''}
"""

# KEYS: claim. ARGV: run token, claim ms. 1 if the claim is still this run's (and extended).
_HEARTBEAT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: hash, claim. ARGV: chunk field, record, keep ms, run token.
# 1 once written; 0 if the claim is not this run's (nothing is written, nothing may be sent).
_STARTED = """
if redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: hash. ARGV: chunk field, record, keep ms. Returns the chunk's final record: a "created"
# record is never overwritten (the first request found for a chunk is its request).
_CREATED = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and string.sub(rec, 1, 2) == 'r|' then return rec end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return ARGV[2]
"""

# KEYS: claim. ARGV: run token. Lets go of the claim if it is still this run's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: hash. ARGV: header, keep ms. Writes the header unless a run wrote one first; returns it.
_BEGIN = """
redis.call('HSETNX', KEYS[1], 'header', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[1], 'header')
"""


@attrs.frozen
class RedisJournal:
    """A fan-out journal kept in Redis, shared by every process and host running the fan-out.

    ::

        journal = RedisJournal("redis://cache:6379/0")
        result = await client.fan_out(command="REBOOT", devices=ids, journal=journal)

    Runs of the same fan-out (the same inputs, so the same plan) share one journal wherever they
    run: each chunk is created by exactly one of them and every run reports every chunk (those
    another run created as resumed). A run that dies mid-chunk leaves a claim that expires after
    `claim_ttl`; the chunk is then looked up on the server before anything is sent again.

    Args:
        url: The Redis URL (``redis://``, ``rediss://`` or ``unix://``); no repr shows its
            password.
        prefix: The prefix of the keys.
        timeout: Seconds each Redis call may take before Redis counts as away: the run stops
            with `JournalError` (resumable with the same journal once Redis is back).
        claim_ttl: Seconds a chunk's claim outlives its holder's last heartbeat (sent every
            third of it): how long a dead run's chunks wait before another run takes them over.
        poll: Seconds between looks at a chunk another live run is working on.
        keep: Seconds the journal is kept after its last write.

    .. versionadded:: 0.1
    """

    url: str = attrs.field(validator=_check_url, repr=lambda url: repr(_safe_url(url)))
    prefix: str = attrs.field(default="esper-cmds", validator=check_key_prefix)
    timeout: float = attrs.field(default=2.0, validator=in_range(0, above=True))
    claim_ttl: float = attrs.field(default=30.0, validator=in_range(0.1))
    poll: float = attrs.field(default=0.25, validator=in_range(0, above=True))
    keep: float = attrs.field(default=7 * 24 * 3600.0, validator=in_range(1))

    async def open(self, plan: Plan) -> _OpenRedisJournal:
        """Connect and read the journal of `plan` (see `JournalBackend.open`).

        Raises:
            JournalMismatchError: The key holds something that is not a journal of this plan.
            JournalError: Redis cannot be reached.
        """
        # One attempt per call: a journal that cannot be written stops the run.
        client = connect(self.url, self.timeout, JournalError, "RedisJournal")
        stack = AsyncExitStack()
        try:
            await stack.enter_async_context(client)
            journal = _OpenRedisJournal(client, stack, self, plan)
            await journal._read()
        except BaseException:
            await _close(stack)
            raise
        return journal


async def _close(stack: AsyncExitStack) -> None:
    import coredis.exceptions

    try:
        await stack.aclose()
    except (coredis.exceptions.RedisError, OSError) as exc:  # a connection already gone
        logger.debug("closing the Redis journal's connection: %r", exc)


class _OpenRedisJournal:
    """Strictly private: one run's handle on a Redis journal (see `OpenJournal`)."""

    def __init__(
        self, client: coredis.Redis[bytes], stack: AsyncExitStack, store: RedisJournal, plan: Plan
    ) -> None:
        self._client = client
        self._stack = stack
        self._store = store
        self._plan = plan
        # Names this run in the claims it holds and the "started" records it writes, so a claim
        # is extended and released only by its holder, and its own records are not news to it.
        self._token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        tag = f"{store.prefix}:journal:{{{plan.fingerprint}}}"
        self._hash = tag
        self._claim_prefix = f"{tag}:claim:"
        self._claim_ms = max(1, math.ceil(store.claim_ttl * 1000))
        self._keep_ms = max(1, math.ceil(store.keep * 1000))
        self._scripts = {
            name: client.register_script(text)
            for name, text in (
                ("claim", _CLAIM),
                ("heartbeat", _HEARTBEAT),
                ("started", _STARTED),
                ("created", _CREATED),
                ("release", _RELEASE),
                ("begin", _BEGIN),
            )
        }
        self.fence: Fence | None = None
        self.states: dict[int, ChunkState] = {}
        self._closed = False
        # One call at a time: coredis opens a further pooled connection inside whichever task
        # needs one, and that connection's cancel scope must not outlive the task.
        self._one_at_a_time = anyio.Lock()

    def __repr__(self) -> str:
        return f"<RedisJournal {_safe_url(self._store.url)} {self._hash}>"

    async def _read(self) -> None:
        raw = await self._redis(self._client.hgetall(self._hash))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        header = fields.pop("header", None)
        if header is not None:
            self.fence = self._check_header(header)
        elif fields:
            raise JournalMismatchError(f"{self!r} has chunk records but no header: not a journal")
        for name, record in fields.items():
            index = _index(name)
            if index is None or not 0 <= index < len(self._plan.chunks):
                raise JournalMismatchError(
                    f"{self!r} has a field {name!r} of no chunk of this plan"
                )
            state = _state(record)
            if state is None:
                raise JournalMismatchError(f"{self!r} has a damaged record {record!r}")
            self.states[index] = state

    def _check_header(self, text: str) -> Fence:
        try:
            header = json.loads(text)
            if header.get("version") != _VERSION or header.get("fingerprint") != (
                self._plan.fingerprint
            ):
                raise ValueError("not this plan's header")
            return _fence_from(header)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise JournalMismatchError(
                f"{self!r} is not a fan-out journal of this plan (version {_VERSION}): {exc}"
            ) from None

    async def begin(self, fence: Fence) -> None:
        """Record `fence` unless a run began the journal first; either way, adopt the first."""
        header = {**_header(self._plan), "version": _VERSION, "fence": _fence_record(fence)}
        text = json.dumps(header, separators=(",", ":"))
        stored = await self._call("begin", (self._hash,), (text, self._keep_ms))
        self.fence = self._check_header(_text(stored))

    @asynccontextmanager
    async def claim(self, chunk: Chunk, *, wait: bool = True) -> AsyncIterator[ChunkState | None]:
        """Hold `chunk` while the block runs, waiting while another live run holds it (or, with
        `wait` False, yielding None at once, holding nothing)."""
        key = f"{self._claim_prefix}{chunk.index}"
        field = f"c:{chunk.index}"
        while True:
            kind, value = await self._call(
                "claim", (self._hash, key), (field, self._token, self._claim_ms)
            )
            if _text(kind) == "done":
                state = _state(_text(value))
                if state is None:
                    raise JournalMismatchError(f"{self!r} has a damaged record {value!r}")
                yield state  # created by another run: nothing to hold
                return
            if _text(kind) == "mine":
                break
            if not wait:
                yield None  # another run is on it: the caller comes back later
                return
            await anyio.sleep(self._store.poll)  # another run is on it: see how it ends
        news = _news(_text(value), self._token)
        lost: list[JournalError] = []
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._heartbeat, key, chunk, lost, tg.cancel_scope)
                try:
                    yield news
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self._call("release", (key,), (self._token,))
                except JournalError as exc:  # the claim expires by itself
                    logger.debug("could not release the claim on chunk %d: %s", chunk.index, exc)
        if lost:
            raise lost[0]

    async def _heartbeat(
        self, key: str, chunk: Chunk, lost: list[JournalError], scope: anyio.CancelScope
    ) -> None:
        """Push the claim's expiry back every third of it; stop the chunk if it cannot be kept.

        A failed heartbeat is tried again until the claim is about to expire: only then could
        another run take the chunk, so only then must this one stop working on it.
        """
        ttl = self._store.claim_ttl
        kept_at = anyio.current_time()
        delay = ttl / 3
        while True:
            await anyio.sleep(delay)
            try:
                held = await self._call("heartbeat", (key,), (self._token, self._claim_ms))
            except JournalError as exc:
                if anyio.current_time() - kept_at < ttl * 2 / 3:
                    delay = ttl / 10
                    continue
                lost.append(exc)
                scope.cancel()
                return
            if not held:
                lost.append(
                    JournalError(
                        f"{self!r}: the claim on chunk {chunk.index} expired and another run"
                        " took it; this run stopped so the chunk is not sent twice"
                    )
                )
                scope.cancel()
                return
            kept_at = anyio.current_time()
            delay = ttl / 3

    async def started(self, chunk: Chunk, at: dt.datetime) -> None:
        """Record the attempt, if this run still holds the chunk's claim (else stop the run)."""
        record = f"s|{self._token}|{at.isoformat()}"
        key = f"{self._claim_prefix}{chunk.index}"
        written = await self._call(
            "started", (self._hash, key), (f"c:{chunk.index}", record, self._keep_ms, self._token)
        )
        if not written:
            raise JournalError(
                f"{self!r}: this run no longer holds chunk {chunk.index} (its claim expired);"
                " stopping before the create is sent"
            )
        self.states[chunk.index] = ChunkState(started_at=at)

    async def created(self, chunk: Chunk, request: CommandRequest, at: dt.datetime) -> None:
        """Record the chunk's request (a request recorded first by another run is kept)."""
        record = f"r|{request.id}|{at.isoformat()}|{self._token}"
        final = _text(
            await self._call("created", (self._hash,), (f"c:{chunk.index}", record, self._keep_ms))
        )
        state = _state(final)
        if state is not None and state.request_id != request.id:
            logger.error(
                "%r: chunk %d has request %s recorded, and this run found %s as well",
                self, chunk.index, state.request_id, request.id,
            )  # fmt: skip
        self.states[chunk.index] = ChunkState(request_id=request.id)

    async def aclose(self) -> None:
        """Close the connection (claims are released as each chunk ends)."""
        if not self._closed:
            self._closed = True
            # Not shielded: the connection's own cancel scope must be the innermost one here.
            await _close(self._stack)

    async def _call(self, name: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        return await self._redis(self._scripts[name](keys=list(keys), args=list(args)))

    async def _redis(self, call: Any) -> Any:
        import coredis.exceptions

        where = _safe_url(self._store.url)
        try:
            with anyio.fail_after(self._store.timeout):
                async with self._one_at_a_time:
                    return await call
        except TimeoutError:
            raise JournalError(
                f"the fan-out journal in Redis at {where} did not answer within"
                f" {self._store.timeout:g} s; the run stopped (run it again with the same journal"
                " once Redis is back: nothing is sent twice)"
            ) from None
        except (coredis.exceptions.RedisError, OSError) as exc:
            raise JournalError(
                f"the fan-out journal in Redis at {where} cannot be used"
                f" ({type(exc).__name__}: {exc}); the run stopped (run it again with the same"
                " journal once Redis is back: nothing is sent twice)"
            ) from None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _index(name: str) -> int | None:
    if not name.startswith("c:") or not name[2:].isdigit():
        return None
    return int(name[2:])


def _state(record: str) -> ChunkState | None:
    """A chunk's state from its record (`None`: not a record)."""
    kind, _, rest = record.partition("|")
    try:
        if kind == "r":
            return ChunkState(request_id=uuid.UUID(rest.partition("|")[0]))
        if kind == "s":
            return ChunkState(started_at=dt.datetime.fromisoformat(rest.partition("|")[2]))
    except ValueError:
        return None
    return None


def _news(record: str, token: str) -> ChunkState:
    """What another run left on a chunk this run has just claimed: an attempt in doubt, if any."""
    if not record.startswith("s|") or record.split("|", 2)[1] == token:
        return ChunkState()
    return _state(record) or ChunkState()
