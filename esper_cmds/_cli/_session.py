"""What a command run has in flight, for the messages printed when it is interrupted.

Strictly private. One command runs per process, so one module-level object is enough; `run`
resets it at the start of every run (tests call `run` many times in one process).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from .. import TransportEvent

__all__ = ["SESSION", "EventSink", "Session"]


class EventSink(Protocol):
    """What the session forwards the client's events to: the running progress display.

    A protocol rather than the display's class, which imports the output module that imports
    this one.
    """

    def on_event(self, event: TransportEvent) -> None:
        """Count one retry, pause or rate change."""


class Session:
    """The journal of a running fan-out and its progress display."""

    def __init__(self) -> None:
        self.journal: Path | None = None
        """Set while a fan-out runs: an interrupt then says how to resume it."""
        self.display: EventSink | None = None
        self.watching: Path | None = None
        """The journal of a send whose requests ``--watch`` is following."""
        self._handler: logging.Handler | None = None
        self._level = logging.NOTSET

    def reset(self) -> None:
        """Forget the previous run."""
        self.close()
        self.journal = None
        self.display = None
        self.watching = None

    def log_to(self, handler: logging.Handler, level: int) -> None:
        """Show the client's log (retries, pauses, lost answers) through `handler`."""
        self.close()
        logger = logging.getLogger("esper_cmds")
        self._level = logger.level
        logger.addHandler(handler)
        logger.setLevel(level)
        self._handler = handler

    def close(self) -> None:
        """Detach the log handler of this run and restore the logger's level."""
        if self._handler is not None:
            logger = logging.getLogger("esper_cmds")
            logger.removeHandler(self._handler)
            logger.setLevel(self._level)  # a test or host program may rely on its own level
            self._handler = None

    def on_event(self, event: TransportEvent) -> None:
        """The client's retry and pause events, counted by the running display."""
        if self.display is not None:
            self.display.on_event(event)


SESSION = Session()
