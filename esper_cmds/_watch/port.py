"""What a watch needs of a client: its command reads and its time. Strictly private.

A narrow port instead of `EsperClient`, so the watch depends on the resources and the time seam
only, and the client (which offers ``client.watch``) is not imported back, not even for types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .._resources import Commands
    from ..clock import Clock, Sleep

__all__ = ["WatchPort"]


class WatchPort(Protocol):
    """Strictly private: the parts of `EsperClient` a watch uses."""

    @property
    def commands(self) -> Commands:
        """Status reads and the request listing."""
        ...

    @property
    def clock(self) -> Clock:
        """The deadline's and each change's time."""
        ...

    @property
    def sleep(self) -> Sleep:
        """The wait between rounds."""
        ...

    @property
    def random(self) -> Callable[[], float]:
        """The jitter of the wait."""
        ...
