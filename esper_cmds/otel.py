"""OpenTelemetry traces and metrics for an `EsperClient` (``pip install 'esper-cmds[otel]'``).

::

    from esper_cmds.otel import EsperInstrumentation

    otel = EsperInstrumentation()  # the global tracer and meter providers, or pass your own
    async with otel.client(tenant="acme") as client:  # EsperClient(...), instrumented
        await client.fan_out(command="REBOOT", devices=device_ids)

Spans (all ``INTERNAL``; an HTTP instrumentation such as ``opentelemetry-instrumentation-httpx``
adds the ``CLIENT`` span of each attempt beneath them):

- ``esper.commands.create``, ``esper.commands.list``, ``esper.commands.statuses``: one per call;
  a listing's span covers its iteration (from the first page to the last one read) and counts
  the items read. Retries are span events (``esper.retry``, with ``esper.resend_count``), and so
  are 429 pauses (``esper.pause``) and waits on the client's own rate limit
  (``esper.rate_limit.wait``), on the span of the call that saw them.
- ``esper.fan_out``: the whole fan-out, with one child ``esper.fan_out.chunk`` per chunk
  (``esper.chunk.outcome``: created, reconciled, resumed or failed; ``esper.chunk.reconciled``
  and ``esper.chunk.resumed`` mark a lost answer found on the server and a chunk a journal already
  had) beside the creates and the reconciliation look-ups themselves.
- ``esper.watch``: the whole watch, with one child ``esper.watch.round`` per polling round.

Metrics (from the client's events): ``esper.calls``, ``esper.retries``, ``esper.give_ups``,
``esper.pauses``, ``esper.pause.duration``, ``esper.rate_limit.waits``,
``esper.rate_limit.wait.duration`` and ``esper.rate_limit.rate``.

The API key is never recorded. The enterprise id is left out of every attribute (paths show
``{enterprise_id}``) unless ``record_enterprise_id=True``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.trace import Span, Status, StatusCode, Tracer, TracerProvider

# The public names only (the package is loaded before this module): what users see, and what
# they are given, is what is traced.
from . import CommandSpec as _CommandSpec
from . import Created as _Created
from . import EsperClient as _EsperClient
from . import Failed as _Failed
from . import GiveUpEvent as _GiveUpEvent
from . import PauseEvent as _PauseEvent
from . import RateChangeEvent as _RateChangeEvent
from . import RateWaitEvent as _RateWaitEvent
from . import Reconciled as _Reconciled
from . import RetryEvent as _RetryEvent

if TYPE_CHECKING:
    from ._client import EsperClient
    from ._fanout import ChunkOutcome, FanOutProgress, FanOutResult
    from ._pagination import AsyncPager
    from ._ratelimit import TransportEvent
    from ._resources import Commands
    from ._watch import WatchChanges
    from .models import Page

__all__ = ["EsperInstrumentation"]

_SCOPE = "esper_cmds"
_VERSION = "0.1"
_T = TypeVar("_T")

_Attributes = dict[str, str | int | float | bool]


class EsperInstrumentation:
    """Traces and metrics for any number of clients, on the providers you choose.

    Either build the client through it (`client`), or pass `on_event` to the client yourself and
    then `instrument` it::

        otel = EsperInstrumentation(tracer_provider=provider)
        client = otel.instrument(EsperClient(on_event=otel.on_event))

    Args:
        tracer_provider: Where spans go (default: the global provider).
        meter_provider: Where metrics go (default: the global provider).
        record_enterprise_id: Put the enterprise id in attributes (``esper.enterprise_id``) and
            paths. Off by default: traces often leave the team that owns the key.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        record_enterprise_id: bool = False,
    ) -> None:
        self.tracer: Tracer = trace.get_tracer(_SCOPE, _VERSION, tracer_provider=tracer_provider)
        meter: Meter = metrics.get_meter(_SCOPE, _VERSION, meter_provider=meter_provider)
        self._record_enterprise_id = record_enterprise_id
        self._enterprise_ids: set[str] = set()
        self._calls = meter.create_counter(
            "esper.calls", unit="{call}", description="Client calls, by operation"
        )
        self._retries = meter.create_counter(
            "esper.retries", unit="{retry}", description="Requests sent again after a failure"
        )
        self._give_ups = meter.create_counter(
            "esper.give_ups", unit="{request}", description="Requests that failed for good"
        )
        self._pauses = meter.create_counter(
            "esper.pauses", unit="{pause}", description="Client-wide pauses after a 429"
        )
        self._pause_seconds = meter.create_histogram(
            "esper.pause.duration", unit="s", description="Length of each client-wide pause"
        )
        self._waits = meter.create_counter(
            "esper.rate_limit.waits",
            unit="{call}",
            description="Calls that waited on the client's own rate limit past the threshold",
        )
        self._wait_seconds = meter.create_histogram(
            "esper.rate_limit.wait.duration",
            unit="s",
            description="How long those calls waited for their turn",
        )
        self._rate: float | None = None
        meter.create_observable_gauge(
            "esper.rate_limit.rate",
            callbacks=[self._observe_rate],
            unit="{call}/s",
            description="The client's current pace (after 429 cuts and recovery)",
        )

    # -- wiring --------------------------------------------------------------------------------

    def client(
        self, *, on_event: Callable[[TransportEvent], None] | None = None, **options: Any
    ) -> EsperClient:
        """An instrumented `EsperClient`: the same arguments; your `on_event` is called too."""
        hook = self.on_event
        if on_event is not None:
            user = on_event

            def hook(event: TransportEvent) -> None:
                self.on_event(event)
                user(event)

        return self.instrument(_EsperClient(on_event=hook, **options))

    def instrument(self, client: EsperClient) -> EsperClient:
        """Trace `client`'s commands, fan-outs and watches; returns the same client.

        Spans come from wrappers installed on this client object (and on the views its
        ``with_options`` makes). Events reach spans and metrics only if the client was built
        with ``on_event=instrumentation.on_event`` (`client` does that).
        """
        eid = str(client.enterprise_id)
        self._enterprise_ids.add(eid)
        base: _Attributes = {"esper.enterprise_id": eid} if self._record_enterprise_id else {}
        traced = _TracedCommands(self, client.commands, base)
        # Instance attributes: fan-out and watch reach the traced commands through the client.
        client.commands = cast("Commands", traced)
        vars(client)["fan_out"] = functools.partial(self._fan_out, client, base)
        vars(client)["watch"] = functools.partial(self._watch, client, base)
        # A view (another retry policy) is traced too, and its fan-outs use its own policy.
        vars(client)["with_options"] = functools.partial(self._with_options, client)
        return client

    def _with_options(self, client: EsperClient, /, **options: Any) -> EsperClient:
        return self.instrument(type(client).with_options(client, **options))

    def on_event(self, event: TransportEvent) -> None:
        """The client's ``on_event`` hook: metrics, and events on the current span."""
        span = trace.get_current_span()
        if isinstance(event, _RetryEvent):
            labels = {"http.request.method": event.method, "esper.failure": event.failure.value}
            self._retries.add(1, labels)
            span.add_event(
                "esper.retry",
                {
                    **labels,
                    "esper.path": self._path(event.path),
                    "esper.resend_count": event.attempt,
                    "esper.delay": event.delay,
                },
            )
        elif isinstance(event, _GiveUpEvent):
            self._give_ups.add(
                1,
                {
                    "http.request.method": event.method,
                    "esper.failure": event.failure.value,
                    "esper.action": event.action.value,
                },
            )
            span.add_event(
                "esper.give_up",
                {
                    "esper.path": self._path(event.path),
                    "esper.failure": event.failure.value,
                    "esper.attempts": event.attempt,
                },
            )
        elif isinstance(event, _PauseEvent):
            self._pauses.add(1, {"http.response.status_code": event.status_code})
            self._pause_seconds.record(event.seconds)
            span.add_event(
                "esper.pause",
                {"esper.pause.seconds": event.seconds, "http.response.status_code": 429},
            )
        elif isinstance(event, _RateWaitEvent):
            self._waits.add(1)
            self._wait_seconds.record(event.seconds)
            span.add_event(
                "esper.rate_limit.wait",
                {"esper.wait.seconds": event.seconds, "esper.rate": event.rate},
            )
        elif isinstance(event, _RateChangeEvent):
            self._rate = event.new_rate
            span.add_event(
                "esper.rate_limit.change",
                {"esper.rate.old": event.old_rate, "esper.rate.new": event.new_rate},
            )

    # -- helpers -------------------------------------------------------------------------------

    def _observe_rate(self, options: CallbackOptions) -> Iterable[Observation]:
        if self._rate is None or self._rate == float("inf"):
            return []
        return [Observation(self._rate)]

    def _path(self, path: str) -> str:
        if self._record_enterprise_id:
            return path
        for eid in self._enterprise_ids:
            path = path.replace(eid, "{enterprise_id}")
        return path

    @contextlib.contextmanager
    def span(self, name: str, attributes: _Attributes) -> Iterator[Span]:
        """Strictly private: a current span whose exception is recorded with ids scrubbed."""
        with self.tracer.start_as_current_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except Exception as exc:
                self.record_error(span, exc)
                raise

    def record_error(self, span: Span, exc: BaseException) -> None:
        """Strictly private: the exception as a span event, the enterprise id scrubbed from it.

        Error messages name the URL, which holds the enterprise id (the key is already scrubbed).
        """
        text = "".join(traceback.format_exception(exc))
        span.add_event(
            "exception",
            {
                "exception.type": type(exc).__qualname__,
                "exception.message": self._path(str(exc)),
                "exception.stacktrace": self._path(text),
            },
        )
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))

    def count(self, operation: str) -> None:
        """Strictly private: one call of `operation` for the ``esper.calls`` counter."""
        self._calls.add(1, {"esper.operation": operation})

    async def _fan_out(
        self, client: EsperClient, base: _Attributes, /, **kwargs: Any
    ) -> FanOutResult:
        fan_out = type(client).fan_out.__get__(client, type(client))
        spec, command = kwargs.get("spec"), kwargs.get("command", "")
        self.count("fan_out")
        attributes: _Attributes = {
            **base,
            "esper.command": str(spec.command if isinstance(spec, _CommandSpec) else command),
            "esper.fan_out.journal": kwargs.get("journal") is not None,
        }
        with self.span("esper.fan_out", attributes) as span:
            user_progress = kwargs.pop("on_progress", None)
            started = time.time_ns()

            async def on_progress(progress: FanOutProgress) -> None:
                self._chunk_span(progress.outcome, started, base)
                if user_progress is not None:
                    maybe = user_progress(progress)
                    if inspect.isawaitable(maybe):
                        await maybe

            result = await fan_out(on_progress=on_progress, **kwargs)
            totals = result.totals
            span.set_attributes(
                {
                    "esper.fan_out.chunks": totals.chunks,
                    "esper.fan_out.targets": totals.targets,
                    "esper.fan_out.created": totals.created,
                    "esper.fan_out.reconciled": totals.reconciled,
                    "esper.fan_out.resumed": totals.resumed,
                    "esper.fan_out.failed": totals.failed,
                    "esper.fan_out.targets_failed": totals.targets_failed,
                }
            )
            if totals.failed:
                span.set_status(Status(StatusCode.ERROR, f"{totals.failed} chunk(s) failed"))
            return result

    def _chunk_span(self, outcome: ChunkOutcome, started: int, base: _Attributes) -> None:
        chunk = outcome.chunk
        kind = type(outcome).__name__.lower()
        attributes: _Attributes = {
            **base,
            "esper.chunk.index": chunk.index,
            "esper.chunk.targets": len(chunk.targets),
            "esper.chunk.outcome": kind,
            "esper.chunk.reconciled": isinstance(outcome, _Reconciled),
            "esper.chunk.resumed": kind == "resumed",
            "esper.chunk.attempts": getattr(outcome, "attempts", 0),
        }
        if isinstance(outcome, _Created | _Reconciled):
            attributes["esper.request_id"] = str(outcome.request.id)
        # The chunk's own start is not observable from outside the fan-out: its span runs from
        # the fan-out's start to the moment the chunk settled.
        span = self.tracer.start_span(
            "esper.fan_out.chunk", attributes=attributes, start_time=started
        )
        if isinstance(outcome, _Failed):
            self.record_error(span, outcome.error)
        span.end()

    @contextlib.asynccontextmanager
    async def _watch(
        self,
        client: EsperClient,
        base: _Attributes,
        request_ids: Iterable[uuid.UUID | str | Any],
        /,
        **kwargs: Any,
    ) -> AsyncIterator[WatchChanges]:
        ids = list(request_ids)
        self.count("watch")
        with self.span("esper.watch", {**base, "esper.watch.requests": len(ids)}) as span:
            rounds = _Rounds(self.tracer, span, base)
            # A round ends where the watch sleeps before the next one, and the watch sleeps with
            # its client's `sleep`. This watch runs on a shallow copy of the client whose `sleep`
            # also marks the rounds (a view, as `with_options` makes): the client itself is not
            # changed, so a fan-out's backoff or another watch on it never ends these rounds.
            view = copy.copy(client)
            view.sleep = rounds.wrap(client.sleep)
            watch = type(client).watch.__get__(view, type(client))
            rounds.next()
            async with watch(ids, **kwargs) as changes:
                rounds.changes = changes
                try:
                    yield changes
                finally:
                    rounds.close()
                    summary = changes.summary
                    span.set_attributes(
                        {
                            "esper.watch.done": summary.done,
                            "esper.watch.rounds": summary.rounds,
                            "esper.watch.calls": summary.calls,
                            "esper.watch.errors": summary.errors,
                            "esper.watch.pending_requests": len(summary.pending),
                        }
                    )


class _Rounds:
    """Strictly private: one ``esper.watch.round`` span per polling round.

    A round ends where the watch sleeps before the next one, so the watch's `sleep` is wrapped.
    """

    def __init__(self, tracer: Tracer, parent: Span, base: _Attributes) -> None:
        self._tracer = tracer
        self._context = trace.set_span_in_context(parent)
        self._base = base
        self._number = 0
        self._calls = 0
        self._span: Span | None = None
        self.changes: WatchChanges | None = None

    def wrap(self, sleep: Callable[[float], Awaitable[None]]) -> Callable[[float], Awaitable[None]]:
        """`sleep`, ending the round before it and opening the next after it."""

        async def traced_sleep(seconds: float) -> None:
            self.close()
            await sleep(seconds)
            self.next()

        return traced_sleep

    def next(self) -> None:
        """Open the next round's span."""
        self._number += 1
        self._span = self._tracer.start_span(
            "esper.watch.round",
            context=self._context,
            attributes={**self._base, "esper.watch.round": self._number},
        )

    def close(self) -> None:
        """End the current round's span, with the calls it made."""
        calls = self.changes.summary.calls if self.changes is not None else 0
        if self._span is not None:
            self._span.set_attribute("esper.watch.round.calls", calls - self._calls)
            self._span.end()
            self._span = None
        self._calls = calls


class _TracedCommands:
    """Strictly private: `Commands` with a span per call; everything else passes through."""

    def __init__(self, otel: EsperInstrumentation, inner: Commands, base: _Attributes) -> None:
        self._otel = otel
        self._inner = inner
        self._base = base

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create(
        self,
        *,
        spec: _CommandSpec | None = None,
        devices: Any = None,
        groups: Any = None,
        **fields: Any,
    ) -> Any:
        # Also what each fan-out chunk is created with (``spec=`` and the chunk's targets).
        command = spec.command if isinstance(spec, _CommandSpec) else fields.get("command", "")
        attributes: _Attributes = {
            **self._base,
            "esper.command": str(command),
            "esper.devices": _count(devices),
            "esper.groups": _count(groups),
        }
        self._otel.count("commands.create")
        with self._otel.span("esper.commands.create", attributes) as span:
            request = await self._inner.create(spec=spec, devices=devices, groups=groups, **fields)
            span.set_attribute("esper.request_id", str(request.id))
            return request

    def list(self, *args: Any, **kwargs: Any) -> AsyncPager[Any]:
        pager = self._inner.list(*args, **kwargs)
        return cast(
            "AsyncPager[Any]", _TracedPager(self._otel, "esper.commands.list", pager, self._base)
        )

    def statuses(self, request_id: Any, *args: Any, **kwargs: Any) -> AsyncPager[Any]:
        pager = self._inner.statuses(request_id, *args, **kwargs)
        attributes = {**self._base, "esper.request_id": str(getattr(request_id, "id", request_id))}
        return cast(
            "AsyncPager[Any]",
            _TracedPager(self._otel, "esper.commands.statuses", pager, attributes),
        )


class _TracedPager(Generic[_T]):
    """Strictly private: an `AsyncPager` whose iteration is one span.

    The span is made current only while a page is being fetched (inside each step), never across
    a ``yield``: a context attached in a generator and detached after the caller moved on would
    corrupt the caller's context.
    """

    def __init__(
        self, otel: EsperInstrumentation, name: str, pager: AsyncPager[_T], attributes: _Attributes
    ) -> None:
        self._otel = otel
        self._name = name
        self._pager = pager
        self._attributes = attributes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pager, name)

    def __repr__(self) -> str:
        return repr(self._pager)

    def __aiter__(self) -> AsyncIterator[_T]:
        return self._traced(self._pager.__aiter__(), "esper.items")

    def pages(self, *, prefetch: int = 0) -> AsyncIterator[Page[_T]]:
        return self._traced(self._pager.pages(prefetch=prefetch), "esper.pages")

    def walk_back(self, page: Page[_T]) -> AsyncIterator[Page[_T]]:
        return self._traced(self._pager.walk_back(page), "esper.pages")

    async def first_page(self) -> Page[_T]:
        self._otel.count(self._name.removeprefix("esper."))
        with self._otel.span(self._name, self._attributes):
            return await self._pager.first_page()

    async def to_list(self, *, max_items: int) -> list[_T]:
        self._otel.count(self._name.removeprefix("esper."))
        with self._otel.span(self._name, self._attributes) as span:
            items = await self._pager.to_list(max_items=max_items)
            span.set_attribute("esper.items", len(items))
            return items

    async def _traced(self, inner: AsyncIterator[Any], counter: str) -> AsyncIterator[Any]:
        self._otel.count(self._name.removeprefix("esper."))
        span = self._otel.tracer.start_span(self._name, attributes=self._attributes)
        read = 0
        try:
            while True:
                with trace.use_span(
                    span, end_on_exit=False, record_exception=False, set_status_on_exception=False
                ):
                    try:
                        item = await inner.__anext__()
                    except StopAsyncIteration:
                        return
                read += 1
                yield item
        except BaseException as exc:
            if isinstance(exc, Exception):
                self._otel.record_error(span, exc)
            raise
        finally:
            span.set_attribute(counter, read)
            span.end()
            closer = getattr(inner, "aclose", None)
            if closer is not None:
                await closer()


def _count(targets: object) -> int:
    if targets is None or isinstance(targets, str):
        return 0 if targets is None else 1
    try:
        return len(targets)  # type: ignore[arg-type]
    except TypeError:
        return 0
