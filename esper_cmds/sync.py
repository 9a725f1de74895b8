"""A blocking facade over `esper_cmds.EsperClient`, for scripts and notebooks.

::

    from esper_cmds.sync import EsperClient

    with EsperClient(tenant="acme", api_key=KEY, enterprise_id=EID) as client:
        request = client.commands.create(command="REBOOT", devices=[device_id])
        for status in client.commands.statuses(request.id):
            print(status.device, status.state)

There is no second client: every call runs the async client's own method on an event loop that
this object keeps in a background thread (an anyio blocking portal), so retries, the rate limit,
fan-out and watching behave exactly as documented for `esper_cmds.EsperClient`. Because the loop
is its own, the facade works where a loop is already running in the calling thread, such as a
Jupyter notebook, where ``anyio.run`` would refuse to start.

Callbacks (``on_event``, a fan-out's ``on_progress``) run on the portal's thread, not the
caller's: keep them quick, and guard shared state with a lock if the caller's thread reads it.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
)
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from . import _client, _fanout, _watch
from ._resources import Commands as _AsyncCommands
from ._resources import Devices as _AsyncDevices
from ._resources import Groups as _AsyncGroups

if TYPE_CHECKING:
    from ._fanout import ChunkOutcome, FanOutResult, FanOutStream
    from ._pagination import AsyncPager
    from ._ratelimit import ClientStatistics
    from ._watch import StateChange, WatchChanges, WatchSummary
    from .models import Page

__all__ = [
    "Commands",
    "Devices",
    "EsperClient",
    "FanOutIterator",
    "Groups",
    "Pager",
    "WatchIterator",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")
_A = TypeVar("_A")
_C = TypeVar("_C", covariant=True)
_W = TypeVar("_W")

_BATCH = 500
"""Items handed across threads per round trip; also the most a listing holds ahead of you."""


class Pager(Generic[_T]):
    """A listing, iterated without ``async``: ``for item in pager``.

    The blocking twin of `esper_cmds.AsyncPager`; nothing is fetched until you iterate, and only
    a bounded number of items is held at a time.

    .. versionadded:: 0.1
    """

    def __init__(self, portal: BlockingPortal, pager: AsyncPager[_T]) -> None:
        self._portal = portal
        self._pager = pager

    def __repr__(self) -> str:
        return f"sync.Pager({self._pager!r})"

    def __iter__(self) -> Iterator[_T]:
        return _iterate(self._portal, self._pager.__aiter__)

    def pages(self, *, prefetch: int = 0) -> Iterator[Page[_T]]:
        """Whole pages in order; with `prefetch`, the next pages are already requested."""
        return _iterate(self._portal, functools.partial(self._pager.pages, prefetch=prefetch))

    def walk_back(self, page: Page[_T]) -> Iterator[Page[_T]]:
        """Follow ``previous`` from `page` back to the first page."""
        return _iterate(self._portal, functools.partial(self._pager.walk_back, page))

    def first_page(self) -> Page[_T]:
        """The first page only."""
        return self._portal.call(self._pager.first_page)

    def to_list(self, *, max_items: int) -> list[_T]:
        """At most `max_items` items as a list (stops fetching there)."""
        return self._portal.call(functools.partial(self._pager.to_list, max_items=max_items))


def _iterate(portal: BlockingPortal, start: Callable[[], AsyncIterator[_A]]) -> Iterator[_A]:
    """Run an async iteration in one task of the portal's loop and hand its items over in batches.

    One task does the whole iteration: an async generator that holds a task group across its
    yields (a prefetching pager) must be resumed by the task that started it, which stepping it
    with one ``portal.call`` per item would not do (trio refuses it). The stream's small buffer
    keeps memory bounded.
    """
    send, receive = portal.call(_stream)
    future = portal.start_task_soon(_pump, start, send)
    try:
        while True:
            batch = portal.call(_receive_batch, receive)
            if not batch:
                break
            yield from batch
        future.result()  # the iteration's own error, as itself
    finally:
        if not future.done():
            future.cancel()
        portal.call(receive.aclose)
        with contextlib.suppress(BaseException):
            future.exception()


async def _stream() -> tuple[MemoryObjectSendStream[Any], MemoryObjectReceiveStream[Any]]:
    return anyio.create_memory_object_stream[Any](_BATCH)


async def _pump(start: Callable[[], AsyncIterator[_A]], send: MemoryObjectSendStream[_A]) -> None:
    async with send:
        iterator = start()
        try:
            async for item in iterator:
                await send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the reader stopped early
        finally:
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()


async def _receive_batch(receive: MemoryObjectReceiveStream[_A]) -> list[_A]:
    """At least one item (waiting for it), plus whatever else is ready; [] at the end."""
    try:
        batch = [await receive.receive()]
    except anyio.EndOfStream:
        return []
    with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
        while len(batch) < _BATCH:
            batch.append(receive.receive_nowait())
    return batch


class _Resource(Generic[_C]):
    """Strictly private: one async resource, its methods called through the portal.

    Covariant: the facade of an `EsperClient` is a facade of each narrow port the client
    satisfies, so a helper typed on the port (``fan_out`` on its ``FanOutPort``) binds to it.
    """

    def __init__(self, portal: BlockingPortal, resource: _C) -> None:
        self._portal = portal
        self._resource = resource

    def __repr__(self) -> str:
        return f"sync.{type(self).__name__}()"


class _Blocking(Generic[_A, _P, _R]):
    """Strictly private: ``await resource.f(...)`` as a blocking ``facade.f(...)``.

    The signature is the async method's own (a ParamSpec), so the facade cannot drift from it.
    """

    def __init__(self, func: Callable[Concatenate[_A, _P], Awaitable[_R]]) -> None:
        self._func = func
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Blocking[_A, _P, _R]: ...
    @overload
    def __get__(self, obj: _Resource[_A], owner: type[Any]) -> Callable[_P, _R]: ...
    def __get__(
        self, obj: _Resource[_A] | None, owner: type[Any]
    ) -> _Blocking[_A, _P, _R] | Callable[_P, _R]:
        if obj is None:
            return self
        func, portal, resource = self._func, obj._portal, obj._resource

        def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            return portal.call(functools.partial(func, resource, *args, **kwargs))

        _signed(call, func, inspect.signature(func).return_annotation)
        return call


def _signed(call: Callable[..., Any], func: Callable[..., Any], returns: object) -> None:
    """Give `call` the signature of `func` without its first parameter (the bound resource),
    so ``help()`` and ``inspect.signature`` show the async method's own parameters."""
    signature = inspect.signature(func)
    parameters = list(signature.parameters.values())[1:]
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=returns
    )
    call.__doc__ = func.__doc__
    call.__name__ = getattr(func, "__name__", "call")


class _Streaming(Generic[_A, _P, _T, _W]):
    """Strictly private: ``async with helper(client, ...) as x`` as a blocking ``with``.

    `wrap` turns what the async block yields into its blocking twin (an iterator that steps it
    through the portal). The signature is the helper's own, as for `_Blocking`.
    """

    def __init__(
        self,
        func: Callable[Concatenate[_A, _P], AbstractAsyncContextManager[_T]],
        wrap: Callable[[BlockingPortal, _T], _W],
    ) -> None:
        self._func = func
        self._wrap = wrap
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Streaming[_A, _P, _T, _W]: ...
    @overload
    def __get__(
        self, obj: _Resource[_A], owner: type[Any]
    ) -> Callable[_P, AbstractContextManager[_W]]: ...
    def __get__(
        self, obj: _Resource[_A] | None, owner: type[Any]
    ) -> _Streaming[_A, _P, _T, _W] | Callable[_P, AbstractContextManager[_W]]:
        if obj is None:
            return self
        func, wrap, portal, resource = self._func, self._wrap, obj._portal, obj._resource

        @contextlib.contextmanager
        def call(*args: _P.args, **kwargs: _P.kwargs) -> Iterator[_W]:
            # Entered on the loop's thread: the block's task group belongs to that loop.
            with portal.wrap_async_context_manager(func(resource, *args, **kwargs)) as value:
                yield wrap(portal, value)

        _signed(call, func, AbstractContextManager)
        return call


class _Paging(Generic[_A, _P, _T]):
    """Strictly private: ``resource.list(...)`` returning a blocking `Pager`."""

    def __init__(self, func: Callable[Concatenate[_A, _P], AsyncPager[_T]]) -> None:
        self._func = func
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Paging[_A, _P, _T]: ...
    @overload
    def __get__(self, obj: _Resource[_A], owner: type[Any]) -> Callable[_P, Pager[_T]]: ...
    def __get__(
        self, obj: _Resource[_A] | None, owner: type[Any]
    ) -> _Paging[_A, _P, _T] | Callable[_P, Pager[_T]]:
        if obj is None:
            return self
        func, portal, resource = self._func, obj._portal, obj._resource

        def call(*args: _P.args, **kwargs: _P.kwargs) -> Pager[_T]:
            # Building the pager validates the arguments; nothing is fetched until iteration.
            pager = portal.call(functools.partial(_build, func, resource, *args, **kwargs))
            return Pager(portal, pager)

        return call


async def _build(func: Callable[..., _R], *args: Any, **kwargs: Any) -> _R:
    """Call `func` on the loop's thread (objects that bind to a loop are made there)."""
    return func(*args, **kwargs)


class Commands(_Resource[_AsyncCommands]):
    """Command requests and their statuses (`esper_cmds.EsperClient.commands`, blocking).

    .. versionadded:: 0.1
    """

    create = _Blocking(_AsyncCommands.create)
    list = _Paging(_AsyncCommands.list)
    statuses = _Paging(_AsyncCommands.statuses)


class Devices(_Resource[_AsyncDevices]):
    """The device listing and per-device command history, blocking.

    .. versionadded:: 0.1
    """

    list = _Paging(_AsyncDevices.list)
    command_history = _Paging(_AsyncDevices.command_history)


class Groups(_Resource[_AsyncGroups]):
    """The device-group listing, blocking.

    .. versionadded:: 0.1
    """

    list = _Paging(_AsyncGroups.list)


class FanOutIterator:
    """A running fan-out's outcomes, one per chunk as it settles: ``for outcome in stream``.

    .. versionadded:: 0.1
    """

    def __init__(self, portal: BlockingPortal, stream: FanOutStream) -> None:
        self._portal = portal
        self._stream = stream

    def __iter__(self) -> Iterator[ChunkOutcome]:
        while True:
            try:
                yield self._portal.call(self._stream.__anext__)
            except StopAsyncIteration:
                return

    def wait(self) -> FanOutResult:
        """Consume the remaining outcomes and return the result."""
        return self._portal.call(self._stream.wait)

    @property
    def result(self) -> FanOutResult:
        """The result, once every outcome was read."""
        return self._stream.result


class WatchIterator:
    """A running watch's state changes: ``for change in changes``, then `summary`.

    .. versionadded:: 0.1
    """

    def __init__(self, portal: BlockingPortal, changes: WatchChanges) -> None:
        self._portal = portal
        self._changes = changes

    def __iter__(self) -> Iterator[StateChange]:
        while True:
            try:
                yield self._portal.call(self._changes.__anext__)
            except StopAsyncIteration:
                return

    @property
    def summary(self) -> WatchSummary:
        """Where every request stands now (final once iteration has ended)."""
        return self._changes.summary

    def wait(self) -> WatchSummary:
        """Consume the remaining changes and return the final summary."""
        return self._portal.call(self._changes.wait)


class EsperClient(_Resource[_client.EsperClient]):
    """The blocking twin of `esper_cmds.EsperClient`: the same arguments, resources and helpers.

    ::

        with EsperClient() as client:  # ESPER_API_KEY, ESPER_TENANT, ESPER_ENTERPRISE_ID
            result = client.fan_out(command="REBOOT", devices=device_ids)
            with client.watch(result.request_ids, timeout=600) as changes:
                for change in changes:
                    print(change.device, change.new_state)

    Use it in a ``with`` block, or call `close`: it owns a thread running an event loop.

    Args:
        backend: The event loop of that thread, ``"asyncio"`` (default) or ``"trio"``.
        backend_options: Options for `anyio.run` of that backend.
        **options: Every keyword of `esper_cmds.EsperClient` (``api_key``, ``tenant``,
            ``base_url``, ``enterprise_id``, ``transport``, ``retry``, ``rate_limit``,
            ``on_event``, ...). ``on_event`` runs on the loop's thread.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        backend: str = "asyncio",
        backend_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal(
            backend, dict(backend_options) if backend_options else None
        )
        portal = self._portal_cm.__enter__()
        self._portal = portal
        self._closed = False
        try:
            # Made on the loop's thread, and opened there: its pool belongs to that loop.
            client = portal.call(functools.partial(_build, _client.EsperClient, **options))
            portal.call(client.__aenter__)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise
        self._resource = client
        self.aclient: _client.EsperClient = client
        """The async client underneath (for use inside the loop through `portal`)."""
        self.commands = Commands(portal, client.commands)
        """Command requests and their statuses."""
        self.devices = Devices(portal, client.devices)
        """The device listing and per-device command history."""
        self.groups = Groups(portal, client.groups)
        """The device-group listing."""

    @property
    def portal(self) -> BlockingPortal:
        """The portal to the client's loop: ``client.portal.call(async_fn, ...)``."""
        return self._portal

    def __repr__(self) -> str:
        return f"sync.{self.aclient!r}"

    def __enter__(self) -> EsperClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the loop's thread (``with`` does this for you)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self.aclient.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def statistics(self) -> ClientStatistics:
        """Where the client's pacing and concurrency stand now (see
        `esper_cmds.EsperClient.statistics`): read on the loop's thread, which owns them.

        .. versionadded:: 0.1
        """
        statistics: ClientStatistics = self._portal.call(_build, self.aclient.statistics)
        return statistics

    def clear_pause(self) -> None:
        """End the client-wide pause a 429 imposed (see `esper_cmds.EsperClient.clear_pause`)."""
        self._portal.call(_build, self.aclient.clear_pause)

    fan_out = _Blocking(_fanout.fan_out)
    """`esper_cmds.EsperClient.fan_out`, blocking: the same arguments (``spec=`` or the
    command's fields) and result; an ``on_progress`` callback runs on the loop's thread (sync or
    async)."""
    fan_out_iter = _Streaming(_fanout.fan_out_iter, FanOutIterator)
    """`esper_cmds.EsperClient.fan_out_iter`, blocking: ``with client.fan_out_iter(...) as
    stream: for outcome in stream``."""
    watch = _Streaming(_watch.watch, WatchIterator)
    """`esper_cmds.EsperClient.watch`, blocking: ``with client.watch(ids, timeout=...) as
    changes: for change in changes``. Polling runs on the loop's thread while the block runs,
    whatever the caller does; its time is the client's ``clock``, ``sleep`` and ``random``."""
    wait = _Blocking(_watch.wait)
    """`esper_cmds.EsperClient.wait`, blocking: until every device of one request is done."""
