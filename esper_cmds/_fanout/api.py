"""`fan_out` and `fan_out_iter`: one command to any number of devices or groups.

Strictly private; the names are re-exported from ``esper_cmds``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Concatenate, ParamSpec, Unpack

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._errors import ValidationError
from .._validation import parse_targets
from ..models import CommandFields, CommandSpec, CommandType
from .journal import Journal, JournalBackend, OpenJournal
from .outcome import ChunkOutcome, Failed, FanOutResult, Resumed
from .plan import Plan, build_plan
from .port import FanOutPort
from .reconcile import Fence, take_fence
from .runner import ChunkRetry, Job, ProgressCallback, Runner
from .targets import resolve_groups as resolve_group_members

__all__ = ["FanOutStream", "fan_out", "fan_out_iter"]

JournalPath = str | os.PathLike[str]
JournalSpec = JournalPath | JournalBackend

logger = logging.getLogger("esper_cmds")


class FanOutStream:
    """The outcomes of a running fan-out, as they complete (see `fan_out_iter`)."""

    def __init__(self, receive: MemoryObjectReceiveStream[ChunkOutcome]) -> None:
        self._receive = receive
        self._result: FanOutResult | None = None
        self._error: BaseException | None = None

    def __aiter__(self) -> AsyncIterator[ChunkOutcome]:
        return self

    async def __anext__(self) -> ChunkOutcome:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None

    async def wait(self) -> FanOutResult:
        """Consume the remaining outcomes and return the whole result."""
        async for _ in self:
            pass
        assert self._result is not None  # the stream ends only after the result is set
        return self._result

    @property
    def result(self) -> FanOutResult:
        """The whole result, once the stream is exhausted."""
        if self._result is None:
            raise RuntimeError("the fan-out is still running: exhaust the stream first")
        return self._result


@asynccontextmanager
async def fan_out_iter(
    client: FanOutPort,
    *,
    spec: CommandSpec | None = None,
    devices: Iterable[uuid.UUID | str] | None = None,
    groups: Iterable[uuid.UUID | str] | None = None,
    resolve_groups: bool = False,
    chunk_size: int | None = None,
    concurrency: int = 8,
    journal: JournalSpec | None = None,
    on_progress: ProgressCallback | None = None,
    retry: ChunkRetry | None = None,
    **fields: Unpack[CommandFields],
) -> AsyncIterator[FanOutStream]:
    """`fan_out` as a stream: ``async for`` over each chunk's outcome as it completes.

    ::

        async with client.fan_out_iter(command="REBOOT", devices=ids) as outcomes:
            async for outcome in outcomes:
                print(outcome.chunk.index, type(outcome).__name__)
        print(outcomes.result.totals)

    Leaving the block before the stream is exhausted cancels the chunks still running (with a
    journal, a re-run picks up where this one stopped). Arguments as for `fan_out`; bad input
    raises on entry, before anything is sent.
    """
    _check_options(concurrency, journal, on_progress, retry, resolve_groups)
    plan = await _plan(
        client,
        CommandSpec.of(spec, fields),
        devices=devices,
        groups=groups,
        resolve_groups=resolve_groups,
        chunk_size=chunk_size,
        concurrency=concurrency,
    )
    opened, fence = await _open_journal(client, plan, journal)
    jobs = _jobs(plan, opened)
    settings = _Settings(
        client, plan, concurrency, retry or ChunkRetry(), journal, opened, on_progress, fence
    )
    send, receive = anyio.create_memory_object_stream[ChunkOutcome](concurrency)
    stream = FanOutStream(receive)
    try:
        body_error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(settings.produce, jobs, send, stream)
            with receive:
                try:
                    yield stream
                except Exception as exc:
                    # Re-raised below, outside the task group, so the caller gets its own
                    # exception back rather than an ExceptionGroup around it.
                    body_error = exc
            tg.cancel_scope.cancel()  # only has work left to cancel if the caller left early
        if body_error is not None:
            raise body_error
    finally:
        if opened is not None:
            await opened.aclose()


def _check_options(
    concurrency: object, journal: object, on_progress: object, retry: object, resolve: object
) -> None:
    if not isinstance(resolve, bool):  # "yes" or "no" would both read as true
        raise ValidationError("resolve_groups", "must be True or False", resolve)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError("concurrency", "must be a positive integer", concurrency)
    if journal is not None and not isinstance(journal, str | os.PathLike | JournalBackend):
        raise ValidationError(
            "journal", "must be a path (str or os.PathLike) or a RedisJournal", journal
        )
    if on_progress is not None and not callable(on_progress):
        raise ValidationError("on_progress", "must be callable", on_progress)
    if retry is not None and not isinstance(retry, ChunkRetry):
        raise ValidationError("retry", "must be a ChunkRetry", retry)


async def _open_journal(
    client: FanOutPort, plan: Plan, journal: JournalSpec | None
) -> tuple[OpenJournal | None, Fence]:
    """The journal, open and locked, and the fence its requests are told apart by.

    The journal is locked before anything is read from the server, so a second run on the same
    file is refused before it costs a call; a new journal records the fence first.
    """
    opened = None if journal is None else await _open_backend(journal, plan)
    try:
        if opened is not None and opened.fence is not None:
            return opened, opened.fence  # the first run's: its requests must not look like others'
        fence = await take_fence(client.commands)
        if opened is not None:
            await opened.begin(fence)
            # A shared journal keeps the fence of whichever run began it first.
            fence = opened.fence or fence
    except BaseException:
        if opened is not None:
            await opened.aclose()
        raise
    return opened, fence


async def _open_backend(journal: JournalSpec, plan: Plan) -> OpenJournal:
    # Paths first: a `Path` has an ``open`` method too, which would pass for a backend's.
    if isinstance(journal, str | os.PathLike):
        return await Journal.open(journal, plan)
    return await journal.open(plan)


def _jobs(plan: Plan, journal: OpenJournal | None) -> list[Job]:
    """A job per chunk, with what the journal knows of it."""
    jobs: list[Job] = []
    for chunk in plan.chunks:
        state = None if journal is None else journal.states.get(chunk.index)
        if state is None:
            jobs.append(Job(chunk))
        else:
            jobs.append(Job(chunk, request_id=state.request_id, in_doubt_since=state.started_at))
    return jobs


class _Settings:
    """Everything a run (and a later retry of its failures) needs."""

    def __init__(
        self,
        client: FanOutPort,
        plan: Plan,
        concurrency: int,
        retry: ChunkRetry,
        where: JournalSpec | None,
        journal: OpenJournal | None,
        on_progress: ProgressCallback | None,
        fence: Fence,
    ) -> None:
        self.client = client
        self.plan = plan
        self.concurrency = concurrency
        self.retry = retry
        self.journal_path = where
        self.journal = journal
        self.on_progress = on_progress
        self.fence = fence
        # Chunks that have a request, from any run of this fan-out: a retry of an old result
        # (or two retries at once) must not send them again, journal or not.
        self.settled: dict[int, ChunkOutcome] = {}
        self.retrying = anyio.Lock()

    def runner(
        self, journal: OpenJournal | None, emit: MemoryObjectSendStream[ChunkOutcome] | None
    ) -> Runner:
        return Runner(
            self.client,
            self.plan,
            concurrency=self.concurrency,
            retry=self.retry,
            journal=journal,
            on_progress=self.on_progress,
            emit=emit,
            fence=self.fence,
        )

    async def produce(
        self, jobs: Sequence[Job], send: MemoryObjectSendStream[ChunkOutcome], stream: FanOutStream
    ) -> None:
        with send:
            try:
                outcomes = await self.runner(self.journal, send).run(jobs)
            except Exception as exc:  # surfaces from the stream, not as an ExceptionGroup
                stream._error = exc
                return
            stream._result = self._result(outcomes)

    def _result(self, outcomes: Mapping[int, ChunkOutcome]) -> FanOutResult:
        self.settled.update((i, o) for i, o in outcomes.items() if not isinstance(o, Failed))
        ordered = tuple(outcomes[c.index] for c in self.plan.chunks)
        if ordered and all(isinstance(o, Resumed) for o in ordered):
            self._nothing_sent()
        return FanOutResult(self.plan, ordered, retry=self.retry_failed)

    def _nothing_sent(self) -> None:
        """Say why a run sent nothing: an earlier run had done it all (a journal reused by
        mistake, perhaps), or other runs sharing the journal did it while this one ran (what a
        shared journal is for)."""
        known = {} if self.journal is None else self.journal.states
        chunks = len(self.plan.chunks)
        if all(getattr(known.get(c.index), "request_id", None) for c in self.plan.chunks):
            logger.warning(
                "nothing was sent: journal %s says every chunk (%d) was created by an earlier"
                " run; use one journal per intended run",
                self.journal_path, chunks,
            )  # fmt: skip
        else:
            logger.info(
                "nothing was sent by this run: other runs sharing journal %s created every"
                " chunk (%d) while it ran",
                self.journal_path, chunks,
            )  # fmt: skip

    async def retry_failed(self, previous: FanOutResult) -> FanOutResult:
        async with self.retrying:  # one retry at a time: the second sees what the first made
            merged = {o.chunk.index: o for o in previous.outcomes}
            merged.update(self.settled)
            journal = (
                None
                if self.journal_path is None
                else await _open_backend(self.journal_path, self.plan)
            )
            try:
                jobs = []
                for failed in previous.failed:
                    index = failed.chunk.index
                    known = None if journal is None else journal.states.get(index)
                    if index in self.settled:
                        continue
                    if known is not None and known.request_id is not None:
                        merged[index] = Resumed(failed.chunk, known.request_id)
                        continue
                    jobs.append(
                        Job(failed.chunk, in_doubt_since=failed.in_doubt_since, error=failed.error)
                    )
                merged.update(await self.runner(journal, None).run(jobs))
            finally:
                if journal is not None:
                    await journal.aclose()
            return self._result(merged)


async def _plan(
    client: FanOutPort,
    spec: CommandSpec,
    *,
    devices: Iterable[uuid.UUID | str] | None,
    groups: Iterable[uuid.UUID | str] | None,
    resolve_groups: bool,
    chunk_size: int | None,
    concurrency: int,
) -> Plan:
    device_ids = parse_targets(devices, "devices")
    group_ids = parse_targets(groups, "groups")
    if resolve_groups:
        if spec.command_type is CommandType.GROUP:
            raise ValidationError(
                "command_type", "cannot be GROUP with resolve_groups=True", spec.command_type
            )
        if not group_ids:
            raise ValidationError("groups", "resolve_groups=True needs at least one group", [])
        # The command was validated with the spec, before any listing is sent.
        members = await resolve_group_members(client.devices, group_ids, concurrency=concurrency)
        if not members and not device_ids:
            raise ValidationError("groups", "the groups have no devices", group_ids)
        device_ids = list(dict.fromkeys([*device_ids, *members]))
        group_ids = []
    return build_plan(
        enterprise_id=client.enterprise_id,
        spec=spec,
        devices=device_ids,
        groups=group_ids,
        chunk_size=chunk_size,
    )


_P = ParamSpec("_P")


_Run = Callable[Concatenate[FanOutPort, _P], Coroutine[Any, Any, FanOutResult]]


def _consumed(
    iterate: Callable[Concatenate[FanOutPort, _P], AbstractAsyncContextManager[FanOutStream]],
) -> Callable[[Callable[..., Any]], _Run[_P]]:
    """`iterate`'s signature on a function that runs it to the end and returns the result.

    The decorated function gives only its docstring; the parameters are `iterate`'s, written
    once.
    """

    def wrap(documented: Callable[..., Any]) -> _Run[_P]:
        async def run(client: FanOutPort, /, *args: _P.args, **kwargs: _P.kwargs) -> FanOutResult:
            async with iterate(client, *args, **kwargs) as outcomes:
                return await outcomes.wait()

        functools.update_wrapper(run, documented)
        del run.__wrapped__  # type: ignore[attr-defined]  # `documented` has no parameters
        signature = inspect.signature(iterate)
        run.__signature__ = signature.replace(return_annotation=FanOutResult)  # type: ignore[attr-defined]
        return run

    return wrap


@_consumed(fan_out_iter)
def fan_out() -> None:  # pragma: no cover - only its docstring is used
    """Send one command to any number of devices or groups, each exactly once.

    Give the command as a `CommandSpec` (``spec=``) or as its fields (``command="REBOOT"``,
    ``command_args``, ``command_type``, ``device_type``, ``schedule``, ``schedule_args``: see
    `CommandSpec`); it is validated once, before anything is sent. The targets are validated
    and de-duplicated, cut into API-sized chunks (a deterministic plan: the same inputs give
    the same chunks), and the chunks are created by `concurrency` workers through
    ``client.commands.create``, so the client's rate limit and retries apply. A create whose
    answer was lost is looked up on the server before anything is sent again.

    Args:
        client: An open `EsperClient`.
        spec: The command, validated already (or give its fields as keywords).
        devices: Device ids (DEVICE chunks of up to 1000, or DYNAMIC with ``command_type``).
        groups: Group ids (GROUP chunks of up to 500), or with `resolve_groups` their devices.
        resolve_groups: Send to the groups' current devices (listed through
            ``client.devices.list(group=...)``) instead of to the groups.
        chunk_size: Targets per request; defaults to the API's maximum (1000 devices, 500 groups).
        concurrency: Chunks in flight at once.
        journal: A file recording the plan and each created request. Re-running with the same
            file after a crash skips what was created and reconciles what was in flight. A
            `RedisJournal` instead keeps it in Redis, shared by every run of the same fan-out
            on any host: each chunk is created by one of them, and each reports every chunk.
        on_progress: Called with a `FanOutProgress` after each chunk (sync or async).
        retry: Attempts per chunk and the backoff between them (slept with the client's
            ``sleep``, jittered with its ``random``).
        **fields: `CommandSpec`'s arguments, instead of `spec`.

    Returns:
        One outcome per chunk; failures are values (see `FanOutResult.raise_for_failures`).

    Raises:
        ValidationError: Bad input (the field names the offending id's index); nothing was sent.
        JournalMismatchError: The journal belongs to a fan-out with other inputs.
        JournalError: The journal could not be written; the run stopped.
    """
