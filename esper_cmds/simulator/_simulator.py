"""`Simulator`: a stateful fake of Esper's Commands V2 API for tests, benchmarks and demos."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence

import httpx
from starlette.applications import Starlette

from ._app import build_app
from ._clock import Clock, ManualClock, RealClock
from ._faults import FaultPlan
from ._fleet import Fleet
from ._gate import GateSettings
from ._lifecycle import Lifecycle
from ._ratelimit import RateLimiter
from ._server import serve_in_thread
from ._stats import Accounting, SimStats
from ._store import CommandStore
from ._transport import SimTransport

__all__ = ["Simulator"]

_IN_PROCESS_BASE_URL = "http://esper.test/api"


def _derived(seed: int, purpose: str) -> bytes:
    return hashlib.sha256(f"esper-sim:{seed}:{purpose}".encode()).digest()


class Simulator:
    """A fleet of devices and groups behind Esper's Commands V2, device and group endpoints.

    Use `transport` for in-process calls (``httpx.AsyncClient(transport=sim.transport,
    base_url=sim.base_url)``) or `serve_in_thread` for a real loopback server. Everything is
    deterministic from `seed`; with the default `ManualClock`, time moves only when a test says so.

    Schedules read their daily windows in `console_timezone` or, with ``time_type: device``, in
    each device's timezone (device *i* gets ``device_timezones[i % len]``). Keys in
    `read_only_api_keys` may read but get 403 on create. `queue_expiry_seconds` is the
    simulator's own choice (Esper documents none): how long an IMMEDIATE command waits for an
    offline device before "Command TimeOut"; scheduled ones expire at their ``end_datetime``.
    """

    def __init__(
        self,
        *,
        devices: int = 1000,
        groups: int = 10,
        offline: float = 0.3,
        seed: int = 0,
        clock: Clock | None = None,
        step_seconds: float = 1.0,
        failure_rate: float = 0.0,
        queue_expiry_seconds: float = 7 * 24 * 3600,
        churn_seconds: float | None = None,
        rate_limit: tuple[int, float] | None = None,
        max_page_size: int = 1000,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        faults: FaultPlan | None = None,
        api_key: str | None = None,
        enterprise_id: str | None = None,
        issued_by: str = "1",
        read_only_api_keys: Iterable[str] = (),
        device_timezones: Sequence[str] = ("UTC",),
        console_timezone: str = "UTC",
    ) -> None:
        if max_page_size < 1:
            raise ValueError(f"max_page_size must be at least 1 ({max_page_size!r})")
        if latency < 0 or latency_jitter < 0:
            raise ValueError("latency and latency_jitter must not be negative")
        for name in (*device_timezones, console_timezone):
            zoneinfo.ZoneInfo(name)  # an unknown timezone fails here, not mid-request
        if isinstance(device_timezones, str):
            device_timezones = (device_timezones,)
        self.clock: Clock = clock if clock is not None else ManualClock()
        """The simulated clock (a `ManualClock` unless one was given)."""
        self.api_key: str = api_key or "sim-" + _derived(seed, "api-key").hex()[:32]
        """The one API key the simulator accepts (``Authorization: Bearer <key>``)."""
        self.enterprise_id: str = enterprise_id or str(
            uuid.UUID(bytes=_derived(seed, "enterprise")[:16], version=4)
        )
        """The enterprise the simulator serves; any other id in a path is a 404."""
        self.max_page_size = max_page_size
        """The largest `limit` a page honours (DRF's ``max_limit``)."""
        self.faults: FaultPlan = faults if faults is not None else FaultPlan()
        """The live fault plan (empty unless given); tests may replace it or edit it mid-run."""
        self._created = self.clock.time()
        # One lock for fleet and store: the loopback server thread and the test thread share them.
        self._lock = threading.RLock()
        self._fleet = Fleet(
            devices=devices,
            groups=groups,
            offline=offline,
            seed=seed,
            start=self._created,
            churn_seconds=churn_seconds,
            timezones=device_timezones,
        )
        self._lifecycle = Lifecycle(
            fleet=self._fleet, step_seconds=step_seconds, console_timezone=console_timezone
        )
        self._store = CommandStore(
            fleet=self._fleet,
            lifecycle=self._lifecycle,
            seed=seed,
            failure_rate=failure_rate,
            queue_expiry_seconds=queue_expiry_seconds,
            issued_by=issued_by,
        )
        self._accounting = Accounting()
        limiter = None
        if rate_limit is not None:
            calls, per_seconds = rate_limit
            clock_time = self.clock.time
            # A ManualClock stands still between advances, so it cannot refill a bucket.
            now = clock_time if isinstance(self.clock, RealClock) else time.monotonic
            limiter = RateLimiter(calls, per_seconds, now=now)
        self._gate = GateSettings(
            api_key=self.api_key,
            enterprise_id=self.enterprise_id,
            accounting=self._accounting,
            faults=lambda: self.faults,
            rate_limiter=limiter,
            latency=latency,
            latency_jitter=latency_jitter,
            seed=seed,
            read_only_keys=frozenset(read_only_api_keys),
        )
        self.read_only_api_keys: frozenset[str] = self._gate.read_only_keys
        """Keys that may read but get 403 on create (e.g. a console's read-only key)."""
        self._app = build_app(self, self._gate)
        self._transport = SimTransport(self._app)

    # -- wiring ----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The base URL to use with `transport` (``http://esper.test/api``)."""
        return _IN_PROCESS_BASE_URL

    @property
    def app(self) -> Starlette:
        """The Starlette ASGI application."""
        return self._app

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process httpx transport (drops raise `httpx.RemoteProtocolError`)."""
        return self._transport

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for `api_key`."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        """A plain `httpx.AsyncClient` wired to the in-process transport, authorised."""
        return httpx.AsyncClient(
            transport=self._transport,
            base_url=self.base_url,
            headers=self.headers,
            **kwargs,  # type: ignore[arg-type]
        )

    @contextlib.contextmanager
    def serve_in_thread(self, *, port: int = 0) -> Iterator[str]:
        """Serve on 127.0.0.1 (port 0 picks one) while the block runs; yields the base URL."""
        with serve_in_thread(self._app, host="127.0.0.1", port=port) as base_url:
            yield base_url

    # -- fleet -----------------------------------------------------------------------------------

    @property
    def device_ids(self) -> list[str]:
        """Every device id, sorted."""
        return list(self._fleet.device_ids)

    @property
    def group_ids(self) -> list[str]:
        """Every group id, sorted."""
        return list(self._fleet.group_ids)

    def group_members(self, group_id: str) -> list[str]:
        """The ids of the devices in `group_id`, sorted (KeyError if unknown)."""
        return list(self._fleet.group_by_id[group_id].members)

    def is_online(self, device_id: str) -> bool:
        """Whether the device is online now (KeyError if unknown)."""
        with self._lock:
            return self._fleet.online_at(self._fleet.by_id[device_id].index, self.clock.time())

    def set_online(self, device_id: str, online: bool) -> None:
        """Bring a device online or take it offline from now on (its churn, if any, stops).

        Commands queued for it start their lifecycle the moment it comes online.
        """
        with self._lock:
            self._fleet.pin(self._fleet.by_id[device_id].index, self.clock.time(), online)

    def device_timezone(self, device_id: str) -> str:
        """The IANA timezone a device keeps its clock in (``time_type: device`` reads it)."""
        return self._fleet.timezone_of(self._fleet.by_id[device_id].index)

    def set_device_timezone(self, device_id: str, timezone: str) -> None:
        """Move a device to another timezone (ValueError if `timezone` is not an IANA name)."""
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {timezone!r}") from exc
        with self._lock:
            self._fleet.set_timezone(self._fleet.by_id[device_id].index, timezone)

    # -- commands --------------------------------------------------------------------------------

    @property
    def request_ids(self) -> list[str]:
        """The ids of every stored command request, oldest first."""
        with self._lock:
            return [r.id for r in self._store.requests]

    def cancel_request(self, request_id: str) -> None:
        """Cancel a request: its rows still Scheduled or Queued become "Command Cancelled".

        Esper's Commands V2 has no cancel endpoint; this stands in for a console action.
        """
        with self._lock:
            self._store.cancel(self._store.by_id[request_id], now=self.clock.time())

    # -- accounting ------------------------------------------------------------------------------

    @property
    def stats(self) -> SimStats:
        """A snapshot of the counters."""
        return self._accounting.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters (stored requests are kept)."""
        self._accounting.reset()

    def __repr__(self) -> str:
        return (
            f"Simulator(devices={len(self._fleet.devices)}, groups={len(self._fleet.groups)}, "
            f"enterprise_id={self.enterprise_id!r}, clock={self.clock!r})"
        )
