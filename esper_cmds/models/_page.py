"""One page of a DRF listing."""

from __future__ import annotations

from typing import Generic, TypeVar

from attrs import frozen

__all__ = ["Page"]

T = TypeVar("T")


@frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a listing: Esper's ``{count, next, previous, results}`` envelope."""

    count: int
    """Items in the whole listing, not on this page."""
    results: tuple[T, ...]
    next: str | None = None
    """Absolute URL of the next page, ``None`` on the last."""
    previous: str | None = None
    """Absolute URL of the previous page, ``None`` on the first."""
