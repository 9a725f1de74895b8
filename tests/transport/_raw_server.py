"""A hostile HTTP server on 127.0.0.1 for the transport's bounds: it drips, floods or lies.

Runs in a thread with plain sockets, so any client (asyncio, trio, sync) can talk to it.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

Behaviour = Callable[[socket.socket], None]


def drip(body: bytes, every: float) -> Behaviour:
    """Send a 200 with a Content-Length, then the body one byte per `every` seconds."""

    def behave(conn: socket.socket) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        conn.sendall(head.encode())
        for byte in body:
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return behave


def flood(total: int, *, declare: bool, chunk: int = 64 * 1024) -> Behaviour:
    """Send a 200 whose body is `total` bytes of JSON-ish filler, chunked or with its length
    declared up front."""

    def behave(conn: socket.socket) -> None:
        if declare:
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode())
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        piece = b" " * chunk
        with contextlib.suppress(OSError):  # the client hangs up once it has had enough
            while sent < total:
                size = min(chunk, total - sent)
                data = piece[:size]
                conn.sendall(data if declare else b"%x\r\n%s\r\n" % (size, data))
                sent += size
            if not declare:
                conn.sendall(b"0\r\n\r\n")

    return behave


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            more = conn.recv(65536)
            if not more:
                return
            data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
                while len(rest) < length:
                    more = conn.recv(65536)
                    if not more:
                        break
                    rest += more
        server: RawServer = self.server  # type: ignore[assignment]
        server.requests += 1
        with contextlib.suppress(OSError):
            server.behaviour(conn)


class RawServer(socketserver.ThreadingTCPServer):
    """The server; `behaviour` decides what every connection gets."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.requests = 0

    @property
    def url(self) -> str:
        """The API root on this server."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/api"


@contextlib.contextmanager
def serving(behaviour: Behaviour) -> Iterator[RawServer]:
    """Serve `behaviour` in a thread for the duration of the block."""
    server = RawServer(behaviour)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
