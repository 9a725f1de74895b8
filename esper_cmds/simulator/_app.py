"""The Starlette application: Esper's endpoints and the simulator's admin endpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._clock import Clock, ManualClock
from ._faults import FaultPlan
from ._fleet import Device, Fleet
from ._gate import Gate, GateSettings
from ._lifecycle import Lifecycle
from ._pagination import page, parse_window
from ._stats import Accounting, SimStats
from ._store import CommandStore
from ._validation import ValidationFailed, canonical_uuid, validate_create
from ._wire import (
    dumps,
    error_body,
    page_bytes,
    render_device,
    render_group,
    request_json,
    status_json,
)

__all__ = ["SimulatorParts", "build_app"]


class SimulatorParts(Protocol):
    """What the app serves from: the `Simulator`'s state, described here rather than imported,
    since the simulator builds its app (the two modules would otherwise import each other)."""

    clock: Clock
    enterprise_id: str
    max_page_size: int
    faults: FaultPlan
    _created: float
    _lock: threading.RLock
    _fleet: Fleet
    _lifecycle: Lifecycle
    _store: CommandStore
    _accounting: Accounting

    @property
    def stats(self) -> SimStats: ...

    def reset_stats(self) -> None: ...

    def set_online(self, device_id: str, online: bool) -> None: ...

    def cancel_request(self, request_id: str) -> None: ...


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _encoded(dumps(data), status, headers)


def _encoded(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, errors: list[str] | None = None) -> Response:
    return _json(error_body(status, message, errors), status)


def _not_found() -> Response:
    return _error(404, "Not found.")


def _api_base(request: Request) -> str:
    # Links are absolute and built from the host the client used, as DRF's are.
    return str(request.base_url).rstrip("/") + "/api"


def build_app(sim: SimulatorParts, gate: GateSettings) -> Starlette:
    """The ASGI app serving `sim` (the gate handles auth, limits and faults before these run)."""
    eid = sim.enterprise_id

    async def commands(request: Request) -> Response:
        if request.method == "POST":
            return await create(request)
        return list_requests(request)

    async def create(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, RecursionError):
            return _error(400, "body: malformed JSON")
        with sim._lock:
            try:
                valid = validate_create(
                    body, known_devices=sim._fleet.by_id, known_groups=sim._fleet.group_by_id
                )
            except ValidationFailed as exc:
                return _error(400, exc.errors[0], exc.errors)
            now = sim.clock.time()
            req = sim._store.create(valid, now=now)
            sim._accounting.created(valid.command, req.row_devices)
            data = request_json(req, eid, sim._lifecycle.totals(req, now))
        return _encoded(data, 201)

    def list_requests(request: Request) -> Response:
        window = parse_window(request.query_params, max_limit=sim.max_page_size)
        with sim._lock:
            now = sim.clock.time()
            found = sim._store.filter_requests(dict(request.query_params))
            chunk = found[window.offset : window.offset + window.limit]
            results = [request_json(r, eid, sim._lifecycle.totals(r, now)) for r in chunk]
        return _encoded(page_bytes(page(str(request.url), window, len(found), []), results))

    async def statuses(request: Request) -> Response:
        window = parse_window(request.query_params, max_limit=sim.max_page_size)
        query = request.query_params
        with sim._lock:
            # UUIDs are matched in any case, as Django's UUID path converter does.
            request_id = canonical_uuid(request.path_params["request_id"])
            req = sim._store.by_id.get(request_id) if request_id else None
            if req is None:
                return _not_found()
            now = sim.clock.time()
            device = query.get("device") or None
            rows = sim._store.rows(
                req,
                device=None if device is None else (canonical_uuid(device) or device),
                state=query.get("state") or None,
                now=now,
            )
            lifecycle = sim._lifecycle
            results = []
            for row in rows[window.offset : window.offset + window.limit]:
                state, updated = lifecycle.row_state(req, row, now)
                results.append(status_json(req, row, state, updated))
        return _encoded(page_bytes(page(str(request.url), window, len(rows), []), results))

    async def history(request: Request) -> Response:
        window = parse_window(request.query_params, max_limit=sim.max_page_size)
        device_id = canonical_uuid(request.path_params["device_id"]) or ""
        wanted = request.query_params.get("state") or None
        if device_id not in sim._fleet.by_id:
            return _not_found()
        with sim._lock:
            now = sim.clock.time()
            lifecycle = sim._lifecycle
            entries = []
            # Newest first; each per-device command's state is computed once.
            for req, row in reversed(sim._store.history(device_id)):
                state, updated = lifecycle.row_state(req, row, now)
                if wanted is None or state == wanted:
                    entries.append((req, row, state, updated))
            chunk = entries[window.offset : window.offset + window.limit]
            results = [status_json(req, row, state, updated) for req, row, state, updated in chunk]
        return _encoded(page_bytes(page(str(request.url), window, len(entries), []), results))

    async def devices(request: Request) -> Response:
        window = parse_window(request.query_params, max_limit=sim.max_page_size)
        query = request.query_params
        fleet = sim._fleet
        try:
            found = filter_devices(fleet.devices, query)
        except ValueError as exc:
            return _error(400, str(exc))
        base = _api_base(request)
        with sim._lock:
            now = sim.clock.time()
            results = [
                render_device(
                    d,
                    base=base,
                    enterprise_id=eid,
                    online=fleet.online_at(d.index, now),
                    created=sim._created,
                )
                for d in found[window.offset : window.offset + window.limit]
            ]
        return _json(page(str(request.url), window, len(found), results))

    async def groups(request: Request) -> Response:
        window = parse_window(request.query_params, max_limit=sim.max_page_size)
        found = sim._fleet.groups
        if name := request.query_params.get("name"):
            found = [g for g in found if g.name == name]
        base = _api_base(request)
        results = [
            render_group(g, base=base, enterprise_id=eid, created=sim._created)
            for g in found[window.offset : window.offset + window.limit]
        ]
        return _json(page(str(request.url), window, len(found), results))

    # -- admin: never used by the client library, no auth ----------------------------------------

    async def admin_stats(request: Request) -> Response:
        return _json(sim.stats.to_json())

    async def admin_reset_stats(request: Request) -> Response:
        sim.reset_stats()
        return _json({"ok": True})

    async def admin_advance(request: Request) -> Response:
        data = await _admin_body(request)
        clock = sim.clock
        if not isinstance(clock, ManualClock):
            return _error(409, "the simulator's clock is not a ManualClock")
        seconds = data.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return _error(400, "seconds: must be a number >= 0")
        clock.advance(float(seconds))
        return _json({"now": clock.now().isoformat().replace("+00:00", "Z")})

    async def admin_faults(request: Request) -> Response:
        data = await _admin_body(request)
        try:
            plan = FaultPlan.from_json(data)
        except (ValueError, TypeError, KeyError) as exc:
            return _error(400, f"invalid fault plan: {exc}")
        sim.faults = plan
        return _json({"ok": True})

    async def admin_online(request: Request) -> Response:
        data = await _admin_body(request)
        device_id = request.path_params["device_id"]
        if device_id not in sim._fleet.by_id or not isinstance(data.get("online"), bool):
            return _error(400, 'need a known device id and {"online": true|false}')
        sim.set_online(device_id, data["online"])
        return _json({"device": device_id, "online": data["online"]})

    async def admin_cancel(request: Request) -> Response:
        try:
            sim.cancel_request(request.path_params["request_id"])
        except KeyError:
            return _not_found()
        return _json({"ok": True})

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status != 405:
            return _error(404, "Not found.")
        # RFC 9110: a 405 says which methods the resource does allow.
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        return _json(error_body(405, "Method not allowed."), 405, headers)

    admin: list[BaseRoute] = []
    for prefix in ("/__sim__", "/api/__sim__"):
        admin += [
            Route(f"{prefix}/stats", admin_stats, methods=["GET"]),
            Route(f"{prefix}/reset-stats", admin_reset_stats, methods=["POST"]),
            Route(f"{prefix}/clock/advance", admin_advance, methods=["POST"]),
            Route(f"{prefix}/faults", admin_faults, methods=["POST"]),
            Route(f"{prefix}/devices/{{device_id}}/online", admin_online, methods=["POST"]),
            Route(f"{prefix}/requests/{{request_id}}/cancel", admin_cancel, methods=["POST"]),
        ]
    routes: list[BaseRoute] = [
        Route("/api/v0/enterprise/{eid}/command/", commands, methods=["GET", "POST"]),
        Route("/api/v0/enterprise/{eid}/command/{request_id}/status/", statuses, methods=["GET"]),
        Route(
            "/api/v0/enterprise/{eid}/device/{device_id}/command-history/",
            history,
            methods=["GET"],
        ),
        Route("/api/enterprise/{eid}/device/", devices, methods=["GET"]),
        Route("/api/enterprise/{eid}/devicegroup/", groups, methods=["GET"]),
        *admin,
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(Gate, settings=gate)],
        exception_handlers={404: not_found, 405: not_found},
    )


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def filter_devices(devices: list[Device], query: Mapping[str, str]) -> list[Device]:
    """The devices matching the device listing's documented filters (ValueError if malformed).

    Exact filters (name, group, imei, serial, state, brand, is_gms) compare whole values, text
    ones case-insensitively; ``search`` is a substring of name, IMEI or MAC; ``tags`` a
    substring of any tag.
    """
    found = devices
    for key, narrow in _DEVICE_FILTERS:
        if value := query.get(key):
            found = narrow(found, value)
    return found


# Each filter narrows the list with its own comprehension rather than a predicate called per
# device: a listing filters the whole fleet, and the simulator's CPU counts toward its latency.
def _by_group(found: list[Device], value: str) -> list[Device]:
    wanted = canonical_uuid(value)
    if wanted is None:
        raise ValueError("group: must be a UUID")
    return [d for d in found if d.group_id == wanted]


def _by_name(found: list[Device], value: str) -> list[Device]:
    return [d for d in found if d.name == value]


def _by_imei(found: list[Device], value: str) -> list[Device]:
    return [d for d in found if d.imei == value]


def _by_serial(found: list[Device], value: str) -> list[Device]:
    wanted = value.lower()
    return [d for d in found if d.serial.lower() == wanted]


def _by_brand(found: list[Device], value: str) -> list[Device]:
    wanted = value.lower()
    return [d for d in found if d.brand.lower() == wanted]


def _by_state(found: list[Device], value: str) -> list[Device]:
    try:
        wanted = int(value)
    except ValueError:
        raise ValueError("state: must be an integer") from None
    return [d for d in found if d.state == wanted]


def _by_gms(found: list[Device], value: str) -> list[Device]:
    if value.lower() not in _TRUE + _FALSE:
        raise ValueError("is_gms: must be true or false")
    wanted = value.lower() in _TRUE
    return [d for d in found if d.is_gms is wanted]


def _by_tag(found: list[Device], value: str) -> list[Device]:
    needle = value.lower()
    return [d for d in found if any(needle in tag.lower() for tag in d.tags)]


def _by_search(found: list[Device], value: str) -> list[Device]:
    needle = value.lower()
    return [
        d for d in found if needle in d.name.lower() or needle in d.imei or needle in d.mac.lower()
    ]


# In the order they apply: a query malformed in two filters is refused naming the first.
_DEVICE_FILTERS: tuple[tuple[str, Callable[[list[Device], str], list[Device]]], ...] = (
    ("group", _by_group),
    ("name", _by_name),
    ("imei", _by_imei),
    ("serial", _by_serial),
    ("brand", _by_brand),
    ("state", _by_state),
    ("is_gms", _by_gms),
    ("tags", _by_tag),
    ("search", _by_search),
)


async def _admin_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
