"""The fan-out's narrow port: the few calls and the time it needs, nothing of the client else.

Strictly private. `EsperClient` satisfies `FanOutPort` as it is (its public ``commands``,
``devices``, ``clock``, ``sleep`` and ``random``); a test may pass anything else that does.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from ..clock import Clock
from ..models import CommandRequest, CommandSpec, CommandType, Device, Page

__all__ = ["Clock", "CommandsPort", "DevicesPort", "FanOutPort", "Pages"]

_T = TypeVar("_T")


class Pages(Protocol[_T]):
    """A listing read page by page (what ``AsyncPager`` offers)."""

    async def first_page(self) -> Page[_T]: ...

    async def fetch_page(self, url: str, /) -> Page[_T]: ...

    def __aiter__(self) -> AsyncIterator[_T]: ...


class CommandsPort(Protocol):
    """Create a request; list requests to reconcile a lost create."""

    async def create(
        self,
        *,
        spec: CommandSpec | None = ...,
        devices: Sequence[str] | None = ...,
        groups: Sequence[str] | None = ...,
    ) -> CommandRequest: ...

    def list(
        self,
        *,
        command_type: CommandType | None = ...,
        devices: Sequence[str] | None = ...,
        command: str | None = ...,
        page_size: int | None = ...,
    ) -> Pages[CommandRequest]: ...


class DevicesPort(Protocol):
    """List a group's devices (for ``resolve_groups``)."""

    def list(self, *, group: str | None = ..., page_size: int | None = ...) -> Pages[Device]: ...


class FanOutPort(Protocol):
    """What a fan-out runs on."""

    @property
    def enterprise_id(self) -> uuid.UUID: ...

    @property
    def commands(self) -> CommandsPort: ...

    @property
    def devices(self) -> DevicesPort: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]: ...

    @property
    def random(self) -> Callable[[], float]: ...
