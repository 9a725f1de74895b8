"""Serving the app with uvicorn on loopback, in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from ._gate import ConnectionDropped

__all__ = ["serve_in_thread"]


class _QuietDrops(logging.Filter):
    """Hide uvicorn's noise about failures the simulator causes on purpose.

    That is the traceback of a deliberate drop, and the cancellation of a SLOW fault still
    sleeping when the server shuts down.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ConnectionDropped | asyncio.CancelledError):
            return False
        return "timeout graceful shutdown exceeded" not in record.getMessage()


_FILTER = _QuietDrops()


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Serve `app` on `host:port` (0 picks a free port) until the block exits; yields the base URL.

    The server has its own thread and event loop, so callers may be sync, asyncio or trio code.
    """
    logging.getLogger("uvicorn.error").addFilter(_FILTER)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        # A SLOW fault may still be sleeping when the block exits; do not wait it out.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"esper-sim-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the simulator could not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}/api"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
