"""The in-process transport: httpx.ASGITransport plus the failures a real socket would show."""

from __future__ import annotations

import anyio
import httpx
from starlette.types import ASGIApp

from ._gate import ConnectionDropped

__all__ = ["SimTransport"]


class SimTransport(httpx.AsyncBaseTransport):
    """Calls the app in-process; a dropped connection raises `httpx.RemoteProtocolError`.

    `httpx.ASGITransport` ignores timeouts, so this transport applies the request's read timeout
    itself: a SLOW fault then trips `httpx.ReadTimeout` in-process just as it would on a socket.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through the app."""
        timeouts = request.extensions.get("timeout") or {}
        read_timeout = timeouts.get("read")
        response: httpx.Response | None = None
        try:
            with anyio.move_on_after(read_timeout if read_timeout is not None else float("inf")):
                response = await self._inner.handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from exc
        if response is None:
            raise httpx.ReadTimeout("simulated read timeout", request=request)
        return response

    async def aclose(self) -> None:
        """Nothing to release."""
        await self._inner.aclose()
