"""The ASGI middleware every API call passes: accounting, latency, auth, rate limit and faults.

It sits inside Starlette's error middleware, so a dropped connection (raised after the response
has started) is never turned into a tidy 500.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._faults import FaultKind, FaultPlan
from ._ratelimit import RateLimiter
from ._stats import Accounting
from ._wire import dumps, error_body

__all__ = ["ConnectionDropped", "Gate", "GateSettings", "classify"]

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/api/v0/enterprise/([^/]+)/command/$"), "create"),
    ("GET", re.compile(r"^/api/v0/enterprise/([^/]+)/command/$"), "list"),
    ("GET", re.compile(r"^/api/v0/enterprise/([^/]+)/command/[^/]+/status/$"), "statuses"),
    ("GET", re.compile(r"^/api/v0/enterprise/([^/]+)/device/[^/]+/command-history/$"), "history"),
    ("GET", re.compile(r"^/api/enterprise/([^/]+)/device/$"), "devices"),
    ("GET", re.compile(r"^/api/enterprise/([^/]+)/devicegroup/$"), "groups"),
]

_HTML = {
    FaultKind.HTML_502: (
        502,
        b"<html><head><title>502 Bad Gateway</title></head><body>"
        b"<center><h1>502 Bad Gateway</h1></center></body></html>",
    ),
    FaultKind.HTML_503: (
        503,
        b"<html><head><title>503 Service Temporarily Unavailable</title>"
        b"</head><body><center><h1>503 Service Temporarily Unavailable"
        b"</h1></center></body></html>",
    ),
}


# The kinds that let the call take effect, then spoil its answer; the others strike before it.
_AFTER_EFFECT = frozenset(
    {
        FaultKind.ERROR_AFTER_STORE,
        FaultKind.DROP_AFTER_STORE,
        FaultKind.MALFORMED_JSON,
        FaultKind.SLOW,
    }
)


class ConnectionDropped(Exception):
    """Raised by the app after a partial response to make the connection drop."""


def classify(method: str, path: str) -> tuple[str, str] | None:
    """(endpoint name, enterprise id in the path) for an API call, None for anything else."""
    for route_method, pattern, name in _ROUTES:
        if method == route_method and (match := pattern.match(path)):
            return name, match.group(1)
    return None


class GateSettings:
    """The gate's live configuration (read on every call, so it can change mid-run)."""

    def __init__(
        self,
        *,
        api_key: str,
        enterprise_id: str,
        accounting: Accounting,
        faults: Callable[[], FaultPlan],
        rate_limiter: RateLimiter | None,
        latency: float,
        latency_jitter: float,
        seed: int,
        read_only_keys: frozenset[str] = frozenset(),
    ) -> None:
        self.api_key = api_key
        self.read_only_keys = read_only_keys
        self.enterprise_id = enterprise_id
        self.accounting = accounting
        self.faults = faults
        self.rate_limiter = rate_limiter
        self.latency = latency
        self.latency_jitter = latency_jitter
        self.rng = random.Random(f"esper-sim-latency:{seed}")


async def _send_json(
    send: Send, status: int, data: object, headers: list[tuple[bytes, bytes]]
) -> None:
    body = dumps(data)
    await _send_raw(send, status, body, b"application/json", headers)


async def _send_raw(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _answer_no_sooner(send: Send, deadline: float) -> Send:
    """`send`, holding the answer back until `deadline` (on the event loop's clock).

    Latency is the time from a call's arrival to its answer, and the simulator's own work counts
    toward it, as a real server's does: sleeping first and working after would add this one
    process's CPU time to every call and, with concurrent calls queueing for that one CPU, make
    the latency grow with the client's concurrency, which a real server farm's does not.
    """

    async def send_when_due(message: Message) -> None:
        if message["type"] == "http.response.start":
            await anyio.sleep(max(0.0, deadline - anyio.current_time()))
        await send(message)

    return send_when_due


class Gate:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, settings: GateSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = classify(scope["method"], scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        name, enterprise_id = route
        cfg = self.settings
        cfg.accounting.call(name)
        if cfg.latency or cfg.latency_jitter:
            delay = cfg.latency + cfg.rng.uniform(0.0, cfg.latency_jitter)
            send = _answer_no_sooner(send, anyio.current_time() + delay)
        if await self._refused(scope, send, name, enterprise_id):
            return
        fault = cfg.faults().pick(name)
        if fault is None or fault.kind is None:
            await self.app(scope, receive, send)
            return
        cfg.accounting.fault(fault.kind.value)
        if fault.kind in _AFTER_EFFECT:
            await self._spoil_answer(scope, receive, send, fault.kind, fault.seconds)
        else:
            await self._fail_before(scope, receive, send, fault.kind, fault.seconds)

    async def _refused(self, scope: Scope, send: Send, name: str, enterprise_id: str) -> bool:
        """Whether the call was refused (and answered) for its key, enterprise or rate."""
        cfg = self.settings
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        read_only = token in cfg.read_only_keys
        if scheme.lower() != "bearer" or (token != cfg.api_key and not read_only):
            message = "Authentication credentials were not provided or are invalid."
            await _send_json(send, 401, error_body(401, message), [])
            return True
        if read_only and name == "create":
            # A key that may read but not act: Esper's documented 403 on create.
            message = "You do not have permission to perform this action."
            await _send_json(send, 403, error_body(403, message), [])
            return True
        if enterprise_id != cfg.enterprise_id:
            await _send_json(send, 404, error_body(404, "Not found."), [])
            return True
        wait = None if cfg.rate_limiter is None else cfg.rate_limiter.acquire(token)
        if wait is not None:
            cfg.accounting.throttle()
            await self._throttled(send, wait)
            return True
        return False

    async def _fail_before(
        self, scope: Scope, receive: Receive, send: Send, kind: FaultKind, seconds: float
    ) -> None:
        """A fault that strikes before the call takes effect (or, for latency, only delays it)."""
        if kind is FaultKind.LATENCY:
            await anyio.sleep(seconds)
            await self.app(scope, receive, send)
        elif kind is FaultKind.ERROR_BEFORE_STORE:
            await _send_json(send, 500, error_body(500, "Internal server error"), [])
        elif kind in _HTML:
            status, page = _HTML[kind]
            await _send_raw(send, status, page, b"text/html")
        elif kind is FaultKind.THROTTLE:
            self.settings.accounting.throttle()
            await self._throttled(send, max(1, math.ceil(seconds)))

    async def _spoil_answer(
        self, scope: Scope, receive: Receive, send: Send, kind: FaultKind, seconds: float
    ) -> None:
        """A fault that lets the call take effect first, then spoils the answer."""
        start, body = await self._run_buffered(scope, receive)
        if kind is FaultKind.ERROR_AFTER_STORE:
            await _send_json(send, 500, error_body(500, "Internal server error"), [])
        elif kind is FaultKind.DROP_AFTER_STORE:
            await send(_with_length(start, len(body)))
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            raise ConnectionDropped("simulated connection drop after the call took effect")
        elif kind is FaultKind.MALFORMED_JSON:
            broken = body[: max(1, len(body) // 2)] if len(body) > 2 else b'{"'
            await send(_with_length(start, len(broken)))
            await send({"type": "http.response.body", "body": broken})
        elif kind is FaultKind.SLOW:
            await anyio.sleep(seconds)
            await send(_with_length(start, len(body)))
            await send({"type": "http.response.body", "body": body})

    async def _throttled(self, send: Send, wait: int) -> None:
        message = f"Request was throttled. Expected available in {wait} seconds."
        await _send_json(
            send, 429, error_body(429, message), [(b"retry-after", str(wait).encode())]
        )

    async def _run_buffered(self, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        return start, b"".join(chunks)


def _with_length(start: Message, length: int) -> dict[str, Any]:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
