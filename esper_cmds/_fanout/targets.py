"""Resolving groups to their devices through the device listing.

Strictly private.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import anyio

from .port import DevicesPort

__all__ = ["resolve_groups"]

_PAGE_SIZE = 1000  # the API's maximum: fewest calls per group


async def resolve_groups(
    devices: DevicesPort, groups: Sequence[str], *, concurrency: int
) -> list[str]:
    """Every device in `groups`, once each, sorted.

    Sorted so the plan does not depend on the listing's order; a journal is then refused only if
    the membership itself changed.

    Raises:
        EsperError: A listing failed (the first such error; the other listings are stopped).
    """
    members: set[str] = set()
    error: list[Exception] = []
    todo = iter(groups)

    async def worker(todo: Iterator[str], scope: anyio.CancelScope) -> None:
        for group in todo:
            try:
                async for device in devices.list(group=group, page_size=_PAGE_SIZE):
                    members.add(str(device.id))
            except Exception as exc:  # one error, not an ExceptionGroup, for the caller
                error.append(exc)
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(groups))):
            tg.start_soon(worker, todo, tg.cancel_scope)
    if error:
        raise error[0]
    return sorted(members)
